{#
    The user-level funnel, one row per (user, period grain, period): the user enters at their
    first product view in the day or week, then counts as carted/purchased if a cart add and
    then a purchase follow within `funnel_conversion_window_hours` of that view, in any session
    (people come back the next day to buy). Anonymous events cannot be tied to a user and stay
    out. The breakdown dimensions are those of the session the user entered in.

    "The first cart at or after t" and "the first purchase after that cart" are running minima
    over the user's step events read backwards in time, so each user's events are sorted once
    rather than joined to themselves. The frames start at UNBOUNDED PRECEDING over a descending
    order on purpose: such a running aggregate advances row by row, while a frame that ends at
    UNBOUNDED FOLLOWING is recomputed for every row.
#}
{%- set window_hours = var('funnel_conversion_window_hours') -%}
{%- set grains = ['day', 'week'] -%}

with

events as (
    select * from {{ ref('stg_thelook__events') }}
),

sessions as (
    select * from {{ ref('int_sessions') }}
),

step_events as (
    select user_id, session_id, event_type, created_at
    from events
    where user_id is not null
      and event_type in ('product', 'cart', 'purchase')
),

with_next_purchase as (
    select
        step_events.*,
        min(case when event_type = 'purchase' then created_at end) over (
            partition by user_id order by created_at desc
            range between unbounded preceding and current row
        ) as next_purchase_at
    from step_events
),

with_next_steps as (
    select
        with_next_purchase.*,
        min(case when event_type = 'cart' then created_at end) over (
            partition by user_id order by created_at desc
            range between unbounded preceding and current row
        ) as next_cart_at,
        -- next_purchase_at never decreases with time, so the smallest one over the later carts
        -- is the one of the first later cart.
        min(case when event_type = 'cart' then next_purchase_at end) over (
            partition by user_id order by created_at desc
            range between unbounded preceding and current row
        ) as purchase_after_next_cart_at
    from with_next_purchase
),

product_views as (
    select * from with_next_steps where event_type = 'product'
),

entries as (
    {% for grain in grains %}
    select
        user_id,
        '{{ grain }}' as period_grain,
        cast({{ dbt.date_trunc(grain, 'created_at') }} as date) as period_start,
        session_id,
        created_at,
        next_cart_at,
        purchase_after_next_cart_at,
        row_number() over (
            partition by user_id, cast({{ dbt.date_trunc(grain, 'created_at') }} as date)
            order by created_at, session_id
        ) as view_number
    from product_views
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

steps as (
    select
        user_id,
        period_grain,
        period_start,
        session_id as entry_session_id,
        created_at as product_viewed_at,
        case
            when next_cart_at < {{ dbt.dateadd('hour', window_hours, 'created_at') }} then next_cart_at
        end as carted_at,
        case
            when next_cart_at < {{ dbt.dateadd('hour', window_hours, 'created_at') }}
                and purchase_after_next_cart_at < {{ dbt.dateadd('hour', window_hours, 'created_at') }}
                then purchase_after_next_cart_at
        end as purchased_at
    from entries
    where view_number = 1
),

final as (
    select
        steps.user_id,
        steps.period_grain,
        steps.period_start,
        steps.entry_session_id,
        sessions.traffic_source,
        sessions.browser,
        steps.product_viewed_at,
        steps.carted_at,
        steps.purchased_at,
        {{ funnel_outcomes('steps.product_viewed_at', 'steps.carted_at', 'steps.purchased_at') }}
    from steps
    left join sessions
        on sessions.session_id = steps.entry_session_id
)

select * from final
