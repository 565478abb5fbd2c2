{#
    The churn label for each (user, weekly cutoff) row of mart_churn_features whose horizon is
    complete: churned = 1 when the user placed no order (any status) in the
    `churn_label_horizon_days` days starting at the cutoff. Cutoffs whose horizon runs past the
    latest data get no label: "no order yet" is not "churned".
#}
{{ config(indexes=[
    {'columns': ['user_id', 'cutoff_date'], 'unique': true},
]) }}

with

features as (
    select * from {{ ref('mart_churn_features') }}
),

cutoffs as (
    select * from {{ ref('int_churn_cutoffs') }}
),

orders as (
    select * from {{ ref('int_user_orders') }}
),

labelled_rows as (
    select
        features.user_id,
        features.cutoff_date,
        features.feature_timestamp,
        cutoffs.label_horizon_end_at
    from features
    inner join cutoffs
        on cutoffs.cutoff_date = features.cutoff_date
    where cutoffs.has_complete_label
),

horizon_orders as (
    {{ orders_within('labelled_rows', ['user_id', 'cutoff_date'], 'feature_timestamp', 'label_horizon_end_at') }}
),

final as (
    select
        labelled_rows.user_id,
        labelled_rows.cutoff_date,
        labelled_rows.feature_timestamp,
        cast(case when horizon_orders.orders_in_horizon is null then 1 else 0 end as {{ dbt.type_int() }}) as churned,
        labelled_rows.label_horizon_end_at as label_horizon_end
    from labelled_rows
    left join horizon_orders
        on horizon_orders.user_id = labelled_rows.user_id
        and horizon_orders.cutoff_date = labelled_rows.cutoff_date
)

select * from final
