{#
    The churn model's features, one row per (user, weekly cutoff) for users active in the
    feature window before the cutoff. feature_timestamp (the cutoff, midnight UTC) is Feast's
    event timestamp, so a training row for a cutoff only ever sees features as of that cutoff.
#}
{{ config(indexes=[
    {'columns': ['user_id', 'cutoff_date'], 'unique': true},
    {'columns': ['feature_timestamp', 'user_id']},
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
    where cutoffs.is_history_cutoff
)

select * from final
