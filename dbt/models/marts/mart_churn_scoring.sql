{#
    Features for every user active in the feature window before the scoring date (the day after
    the latest data), one row per user: what batch scoring and the online store serve today.
    Same columns and definitions as mart_churn_features.
#}
{{ config(indexes=[
    {'columns': ['user_id'], 'unique': true},
]) }}

{{ churn_feature_mart('is_scoring_cutoff') }}
