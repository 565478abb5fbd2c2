{#
    Custom schema names are used verbatim (`staging`, `intermediate`, `analytics`) instead of
    dbt's default `<target schema>_<custom>`, so Metabase, Feast and Great Expectations can name
    `analytics.mart_churn_features` without knowing the profile.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
