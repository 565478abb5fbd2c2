"""What the analyst sees: the dashboards defined in `services/metabase/dashboards/`, rendered
to one self-contained HTML report (`ecom report`) and provisioned into Metabase
(`ecom dashboards provision`)."""
