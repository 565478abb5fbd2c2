{#
    One row per web session with the product view -> cart -> purchase step times.

    The funnel is ordered: the session enters at its first product view, a cart add counts only
    at or after that view, a purchase only at or after that cart add, however long after (a
    session's own steps are one try; the conversion window is the user-level funnel's). Apart
    from the funnel, first_cart_at and purchased_after_cart_at follow carts with or without a
    product view, for the churn features' cart-to-purchase rate. Each step is a window over the
    session's events, so millions of events are sorted once instead of joined to themselves.
#}
with

events as (
    select * from {{ ref('stg_thelook__events') }}
),

with_view as (
    select
        session_id,
        user_id,
        traffic_source,
        browser,
        event_type,
        created_at,
        min(case when event_type = 'product' then created_at end)
            over (partition by session_id) as product_viewed_at,
        min(case when event_type = 'cart' then created_at end)
            over (partition by session_id) as first_cart_at
    from events
),

with_cart as (
    select
        with_view.*,
        {{ first_funnel_step_at('cart', 'product_viewed_at') }} over (partition by session_id) as carted_at
    from with_view
),

sessions as (
    select
        session_id,
        -- A TheLook session belongs to one user and one channel/browser; min() picks it.
        min(user_id) as user_id,
        min(traffic_source) as traffic_source,
        min(browser) as browser,
        min(created_at) as started_at,
        max(created_at) as ended_at,
        count(*) as events_count,
        sum(case when event_type = 'product' then 1 else 0 end) as product_views,
        sum(case when event_type = 'cart' then 1 else 0 end) as cart_adds,
        sum(case when event_type = 'purchase' then 1 else 0 end) as purchase_events,
        min(product_viewed_at) as product_viewed_at,
        min(carted_at) as carted_at,
        {{ first_funnel_step_at('purchase', 'carted_at') }} as purchased_at,
        min(first_cart_at) as first_cart_at,
        {{ first_funnel_step_at('purchase', 'first_cart_at') }} as purchased_after_cart_at
    from with_cart
    group by session_id
),

final as (
    select
        session_id,
        user_id,
        case when user_id is null then true else false end as is_anonymous,
        traffic_source,
        browser,
        started_at,
        ended_at,
        cast(events_count as {{ dbt.type_int() }}) as events_count,
        cast(product_views as {{ dbt.type_int() }}) as product_views,
        cast(cart_adds as {{ dbt.type_int() }}) as cart_adds,
        cast(purchase_events as {{ dbt.type_int() }}) as purchase_events,
        product_viewed_at,
        carted_at,
        purchased_at,
        first_cart_at,
        purchased_after_cart_at,
        {{ funnel_outcomes('product_viewed_at', 'carted_at', 'purchased_at') }}
    from sessions
)

select * from final
