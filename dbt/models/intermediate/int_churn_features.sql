{#
    Churn features for every cutoff in int_churn_cutoffs (history and scoring), one row per
    (user, cutoff) for users with any event or order in the `churn_feature_window_days` days
    strictly before the cutoff. mart_churn_features and mart_churn_scoring are slices of it, so
    training and scoring cannot compute a feature two different ways.

    Window features sum the daily rows in [cutoff - window, cutoff). The two rates are rates by
    construction, counted in sessions rather than events (real streams repeat purchase events
    and buy days after a cart): view_to_cart_rate = sessions whose first product view falls in
    the window and that carted after it before the cutoff / those sessions; cart_to_purchase_rate
    = sessions whose first cart falls in the window and that purchased after it before the
    cutoff / those sessions. A purchase whose cart fell before the window, or a cart in one
    session bought in the next, therefore never lifts a rate above 1. A load without events or
    without orders leaves the model empty. Lifetime facts (last order,
    first order, order count, last session) are carried forward as of each cutoff by a running
    aggregate over a per-user timeline in which the cutoff sorts before that day's activity, so
    nothing on or after the cutoff day can reach it.
#}
{#- The running frame of the per-user timeline: everything up to and including this row. -#}
{%- set up_to_this_row -%}
partition by user_id order by timeline_date, row_kind rows between unbounded preceding and current row
{%- endset %}

with

cutoffs as (
    select * from {{ ref('int_churn_cutoffs') }}
),

daily_activity as (
    select * from {{ ref('int_user_daily_activity') }}
),

users as (
    select * from {{ ref('stg_thelook__users') }}
),

sessions as (
    select * from {{ ref('int_sessions') }}
),

-- Each session's two tries, dated by the step that opens them: a product view that may lead to
-- a cart, and a cart that may lead to a purchase. Grouped by dates, so the cutoff join below
-- reads a few rows per user.
session_tries as (
    {% for try_kind, opened_at, converted_at in [
        ('view', 'product_viewed_at', 'carted_at'),
        ('cart', 'first_cart_at', 'purchased_after_cart_at'),
    ] %}
    select
        user_id,
        '{{ try_kind }}' as try_kind,
        cast({{ opened_at }} as date) as opened_date,
        cast({{ converted_at }} as date) as converted_date,
        count(*) as sessions_count
    from sessions
    where user_id is not null and {{ opened_at }} is not null
    group by user_id, cast({{ opened_at }} as date), cast({{ converted_at }} as date)
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

-- A try counts when it opened in the window, and converted when that happened before the
-- cutoff too (a later step is not known yet at the cutoff).
session_rates as (
    select
        session_tries.user_id,
        cutoffs.cutoff_date,
        sum(case when try_kind = 'view' then sessions_count else 0 end) as viewed_sessions,
        sum(
            case when try_kind = 'view' and converted_date < cutoffs.cutoff_date then sessions_count else 0 end
        ) as viewed_then_carted_sessions,
        sum(case when try_kind = 'cart' then sessions_count else 0 end) as carted_sessions,
        sum(
            case when try_kind = 'cart' and converted_date < cutoffs.cutoff_date then sessions_count else 0 end
        ) as carted_then_purchased_sessions
    from session_tries
    inner join cutoffs
        on session_tries.opened_date >= cutoffs.window_start_date
        and session_tries.opened_date < cutoffs.cutoff_date
    group by session_tries.user_id, cutoffs.cutoff_date
),

window_activity as (
    select
        daily_activity.user_id,
        cutoffs.cutoff_date,
        cutoffs.cutoff_at,
        sum(daily_activity.orders_count) as frequency_orders,
        sum(daily_activity.purchases_count) as purchases_count,
        sum(daily_activity.order_value) as monetary_value,
        sum(daily_activity.sessions_started) as sessions_count,
        sum(daily_activity.events_count) as events_count,
        sum(daily_activity.product_views) as product_views,
        sum(daily_activity.cart_adds) as cart_adds,
        sum(daily_activity.purchase_events) as purchase_events,
        sum(daily_activity.cancelled_orders) as cancelled_orders,
        sum(daily_activity.returned_orders) as returned_orders
    from daily_activity
    inner join cutoffs
        on daily_activity.activity_date >= cutoffs.window_start_date
        and daily_activity.activity_date < cutoffs.cutoff_date
    group by daily_activity.user_id, cutoffs.cutoff_date, cutoffs.cutoff_at
    -- Active means an event or an order in the window; a return alone is not activity.
    having sum(daily_activity.events_count) + sum(daily_activity.orders_count) > 0
),

timeline as (
    select
        user_id,
        activity_date as timeline_date,
        1 as row_kind,
        orders_count,
        first_order_at,
        last_order_at,
        last_event_at
    from daily_activity
    where user_id in (select user_id from window_activity)
    union all
    -- row_kind 0 sorts the cutoff before any activity of its own day.
    select
        user_id,
        cutoff_date as timeline_date,
        0 as row_kind,
        0 as orders_count,
        cast(null as {{ type_timestamptz() }}) as first_order_at,
        cast(null as {{ type_timestamptz() }}) as last_order_at,
        cast(null as {{ type_timestamptz() }}) as last_event_at
    from window_activity
),

as_of_cutoff as (
    select
        user_id,
        timeline_date as cutoff_date,
        row_kind,
        sum(orders_count) over ({{ up_to_this_row }}) as lifetime_orders,
        min(first_order_at) over ({{ up_to_this_row }}) as first_order_at,
        max(last_order_at) over ({{ up_to_this_row }}) as last_order_at,
        max(last_event_at) over ({{ up_to_this_row }}) as last_event_at
    from timeline
),

lifetime as (
    select * from as_of_cutoff where row_kind = 0
),

final as (
    select
        window_activity.user_id,
        window_activity.cutoff_date,
        window_activity.cutoff_at as feature_timestamp,
        {{ days_between('lifetime.last_order_at', 'window_activity.cutoff_at') }} as recency_days,
        cast(window_activity.frequency_orders as {{ dbt.type_int() }}) as frequency_orders,
        cast(window_activity.monetary_value as {{ dbt.type_float() }}) as monetary_value,
        {{ safe_divide('window_activity.monetary_value', 'window_activity.purchases_count') }} as avg_order_value,
        case
            when lifetime.lifetime_orders >= 2
                then {{ days_between('lifetime.first_order_at', 'lifetime.last_order_at') }} / (lifetime.lifetime_orders - 1)
        end as avg_days_between_orders,
        cast(window_activity.sessions_count as {{ dbt.type_int() }}) as sessions_count,
        cast(window_activity.events_count as {{ dbt.type_int() }}) as events_count,
        cast(window_activity.product_views as {{ dbt.type_int() }}) as product_views,
        cast(window_activity.cart_adds as {{ dbt.type_int() }}) as cart_adds,
        cast(window_activity.purchase_events as {{ dbt.type_int() }}) as purchase_events,
        {{ safe_divide('session_rates.viewed_then_carted_sessions', 'session_rates.viewed_sessions') }} as view_to_cart_rate,
        {{ safe_divide('session_rates.carted_then_purchased_sessions', 'session_rates.carted_sessions') }} as cart_to_purchase_rate,
        cast(window_activity.cancelled_orders as {{ dbt.type_int() }}) as cancelled_orders,
        cast(window_activity.returned_orders as {{ dbt.type_int() }}) as returned_orders,
        {{ days_between('lifetime.last_event_at', 'window_activity.cutoff_at') }} as days_since_last_session,
        cast({{ dbt.datediff('users.signed_up_at', 'window_activity.cutoff_at', 'day') }} as {{ dbt.type_int() }}) as tenure_days,
        users.traffic_source,
        users.age,
        users.gender,
        users.country,
        cast(lifetime.lifetime_orders as {{ dbt.type_int() }}) as lifetime_orders,
        lifetime.last_order_at,
        lifetime.last_event_at
    from window_activity
    inner join lifetime
        on lifetime.user_id = window_activity.user_id
        and lifetime.cutoff_date = window_activity.cutoff_date
    left join users
        on users.user_id = window_activity.user_id
    left join session_rates
        on session_rates.user_id = window_activity.user_id
        and session_rates.cutoff_date = window_activity.cutoff_date
    -- A partial load without events (or without orders) leaves the churn marts empty rather
    -- than full of zeros that would look like facts; `ecom quality` lists them as skipped and
    -- `ecom pipeline` stops before the features, naming the missing raw table.
    where exists (select 1 from sessions)
        and exists (select 1 from daily_activity where daily_activity.orders_count > 0)
)

select * from final
