{#
    Every churn label must have its whole horizon inside the data: label_horizon_end is the
    cutoff plus `churn_label_horizon_days` and no later than the latest event or order
    (measured here straight from staging, not from the model's clock). The label itself must
    agree with a direct count of the user's orders in [cutoff, horizon end). Returns offending
    rows.
#}
{%- set horizon_days = var('churn_label_horizon_days') | int -%}

with

labels as (
    select * from {{ ref('mart_churn_labels') }}
),

events as (
    select * from {{ ref('stg_thelook__events') }}
),

orders as (
    select * from {{ ref('stg_thelook__orders') }}
),

latest_data as (
    select max(latest_at) as data_max_at
    from (
        select max(created_at) as latest_at from events
        union all
        select max(created_at) as latest_at from orders
    ) as latest
),

horizon_orders as (
    select labels.user_id, labels.cutoff_date, count(*) as orders_in_horizon
    from labels
    inner join orders
        on orders.user_id = labels.user_id
        and orders.created_at >= labels.feature_timestamp
        and orders.created_at < {{ dbt.dateadd('day', horizon_days, 'labels.feature_timestamp') }}
    group by labels.user_id, labels.cutoff_date
),

final as (
    select
        labels.*,
        latest_data.data_max_at,
        coalesce(horizon_orders.orders_in_horizon, 0) as orders_in_horizon
    from labels
    cross join latest_data
    left join horizon_orders
        on horizon_orders.user_id = labels.user_id
        and horizon_orders.cutoff_date = labels.cutoff_date
    where labels.label_horizon_end > latest_data.data_max_at
       or labels.label_horizon_end <> {{ dbt.dateadd('day', horizon_days, 'labels.feature_timestamp') }}
       or labels.feature_timestamp <> cast(labels.cutoff_date as {{ type_timestamptz() }})
       or labels.churned <> case when horizon_orders.orders_in_horizon is null then 1 else 0 end
)

select * from final
