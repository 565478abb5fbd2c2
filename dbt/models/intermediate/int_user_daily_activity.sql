{#
    Events, sessions, orders and returns pre-aggregated to one row per (user, UTC day).

    Churn cutoffs fall on midnight UTC, so "strictly before the cutoff" is exactly "on an earlier
    day", and the 60-day feature window joins a few rows per user instead of millions of events.
    Each fact is dated by when it became known: events and sessions by their (start) time,
    orders by when they were placed, returns by returned_at. Facts at or after the data's clock
    (int_data_clock.clock_at) are left out: features, labels and horizons never see them.
#}
with

clock as (
    select * from {{ ref('int_data_clock') }}
),

events as (
    select * from {{ ref('stg_thelook__events') }}
),

sessions as (
    select * from {{ ref('int_sessions') }}
),

orders as (
    select * from {{ ref('int_user_orders') }}
),

daily_events as (
    {{ per_user_day('events', 'created_at', [
        'count(*) as events_count',
        "sum(case when event_type = 'product' then 1 else 0 end) as product_views",
        "sum(case when event_type = 'cart' then 1 else 0 end) as cart_adds",
        "sum(case when event_type = 'purchase' then 1 else 0 end) as purchase_events",
        'max(created_at) as last_event_at',
    ], users_only=true) }}
),

daily_sessions as (
    {{ per_user_day('sessions', 'started_at', ['count(*) as sessions_started'], users_only=true) }}
),

daily_orders as (
    {{ per_user_day('orders', 'created_at', [
        'count(*) as orders_count',
        'sum(case when is_cancelled then 0 else 1 end) as purchases_count',
        'sum(case when is_cancelled then 1 else 0 end) as cancelled_orders',
        'sum(order_value) as order_value',
        'min(created_at) as first_order_at',
        'max(created_at) as last_order_at',
    ]) }}
),

daily_returns as (
    {{ per_user_day('orders', 'returned_at', ['count(*) as returned_orders']) }}
),

unioned as (
    select
        user_id, activity_date,
        events_count, product_views, cart_adds, purchase_events, last_event_at,
        0 as sessions_started,
        0 as orders_count, 0 as purchases_count, 0 as cancelled_orders, 0 as order_value,
        cast(null as {{ type_timestamptz() }}) as first_order_at,
        cast(null as {{ type_timestamptz() }}) as last_order_at,
        0 as returned_orders
    from daily_events
    union all
    select
        user_id, activity_date,
        0, 0, 0, 0, null,
        sessions_started,
        0, 0, 0, 0, null, null,
        0
    from daily_sessions
    union all
    select
        user_id, activity_date,
        0, 0, 0, 0, null,
        0,
        orders_count, purchases_count, cancelled_orders, order_value, first_order_at, last_order_at,
        0
    from daily_orders
    union all
    select
        user_id, activity_date,
        0, 0, 0, 0, null,
        0,
        0, 0, 0, 0, null, null,
        returned_orders
    from daily_returns
),

final as (
    select
        user_id,
        activity_date,
        cast(sum(events_count) as {{ dbt.type_int() }}) as events_count,
        cast(sum(sessions_started) as {{ dbt.type_int() }}) as sessions_started,
        cast(sum(product_views) as {{ dbt.type_int() }}) as product_views,
        cast(sum(cart_adds) as {{ dbt.type_int() }}) as cart_adds,
        cast(sum(purchase_events) as {{ dbt.type_int() }}) as purchase_events,
        max(last_event_at) as last_event_at,
        cast(sum(orders_count) as {{ dbt.type_int() }}) as orders_count,
        cast(sum(purchases_count) as {{ dbt.type_int() }}) as purchases_count,
        cast(sum(cancelled_orders) as {{ dbt.type_int() }}) as cancelled_orders,
        cast(sum(order_value) as {{ dbt.type_float() }}) as order_value,
        min(first_order_at) as first_order_at,
        max(last_order_at) as last_order_at,
        cast(sum(returned_orders) as {{ dbt.type_int() }}) as returned_orders
    from unioned
    group by user_id, activity_date
)

select * from final
