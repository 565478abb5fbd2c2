{#
    Features for every user active in the feature window before the scoring date (the day after
    the latest data), one row per user: what batch scoring and the online store serve today.
    Same columns and definitions as mart_churn_features.
#}
{{ config(indexes=[
    {'columns': ['user_id'], 'unique': true},
]) }}

with

features as (
    select * from {{ ref('int_churn_features') }}
),

cutoffs as (
    select * from {{ ref('int_churn_cutoffs') }}
),

final as (
    select
        {{ churn_feature_columns('features') }}
    from features
    inner join cutoffs
        on cutoffs.cutoff_date = features.cutoff_date
    where cutoffs.is_scoring_cutoff
)

select * from final
