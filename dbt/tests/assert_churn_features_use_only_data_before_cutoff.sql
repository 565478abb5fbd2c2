{#
    Point-in-time audit of the churn features: re-derive them from the staging events and
    orders with plain timestamp comparisons (no daily buckets, no running aggregates) and
    return every (user, cutoff) where the model disagrees. Anything dated at or after the
    cutoff that leaked into a feature shows up here, as does an off-by-one in the window.
    Covers the weekly history and the scoring cutoff; `churn_audit_user_modulus` > 1 audits
    only users with user_id divisible by it (for very large data).
#}
{%- set window_days = var('churn_feature_window_days') | int -%}
{%- set modulus = var('churn_audit_user_modulus') | int -%}
{%- set window_start = dbt.dateadd('day', -window_days, 'features.feature_timestamp') -%}

with

features as (
    select *
    from {{ ref('int_churn_features') }}
    {% if modulus > 1 %}where mod(user_id, {{ modulus }}) = 0{% endif %}
),

events as (
    select * from {{ ref('stg_thelook__events') }}
),

orders as (
    select * from {{ ref('stg_thelook__orders') }}
),

order_items as (
    select * from {{ ref('stg_thelook__order_items') }}
),

event_facts as (
    select
        features.user_id,
        features.cutoff_date,
        max(events.created_at) as last_event_at,
        sum(case when events.created_at >= {{ window_start }} then 1 else 0 end) as events_count,
        sum(case when events.created_at >= {{ window_start }} and events.event_type = 'product' then 1 else 0 end) as product_views,
        sum(case when events.created_at >= {{ window_start }} and events.event_type = 'cart' then 1 else 0 end) as cart_adds,
        sum(case when events.created_at >= {{ window_start }} and events.event_type = 'purchase' then 1 else 0 end) as purchase_events
    from features
    inner join events
        on events.user_id = features.user_id
        and events.created_at < features.feature_timestamp
    group by features.user_id, features.cutoff_date
),

order_values as (
    select order_id, sum(case when is_cancelled then 0 else sale_price end) as order_value
    from order_items
    group by order_id
),

order_facts as (
    select
        features.user_id,
        features.cutoff_date,
        max(orders.created_at) as last_order_at,
        sum(case when orders.created_at >= {{ window_start }} then 1 else 0 end) as frequency_orders,
        sum(case when orders.created_at >= {{ window_start }} then coalesce(order_values.order_value, 0) else 0 end) as monetary_value
    from features
    inner join orders
        on orders.user_id = features.user_id
        and orders.created_at < features.feature_timestamp
    left join order_values
        on order_values.order_id = orders.order_id
    group by features.user_id, features.cutoff_date
),

compared as (
    select
        features.user_id,
        features.cutoff_date,
        features.last_event_at as model_last_event_at,
        event_facts.last_event_at as audit_last_event_at,
        features.last_order_at as model_last_order_at,
        order_facts.last_order_at as audit_last_order_at,
        features.events_count,
        coalesce(event_facts.events_count, 0) as audit_events_count,
        features.product_views,
        coalesce(event_facts.product_views, 0) as audit_product_views,
        features.cart_adds,
        coalesce(event_facts.cart_adds, 0) as audit_cart_adds,
        features.purchase_events,
        coalesce(event_facts.purchase_events, 0) as audit_purchase_events,
        features.frequency_orders,
        coalesce(order_facts.frequency_orders, 0) as audit_frequency_orders,
        features.monetary_value,
        coalesce(order_facts.monetary_value, 0) as audit_monetary_value
    from features
    left join event_facts
        on event_facts.user_id = features.user_id
        and event_facts.cutoff_date = features.cutoff_date
    left join order_facts
        on order_facts.user_id = features.user_id
        and order_facts.cutoff_date = features.cutoff_date
),

final as (
    select *
    from compared
    where coalesce(model_last_event_at <> audit_last_event_at, model_last_event_at is not null or audit_last_event_at is not null)
       or coalesce(model_last_order_at <> audit_last_order_at, model_last_order_at is not null or audit_last_order_at is not null)
       or events_count <> audit_events_count
       or product_views <> audit_product_views
       or cart_adds <> audit_cart_adds
       or purchase_events <> audit_purchase_events
       or frequency_orders <> audit_frequency_orders
       or abs(monetary_value - audit_monetary_value) > 0.005
)

select * from final
