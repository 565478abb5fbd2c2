{#
    The dataset's own "now", one row: the latest event or order time, and the scoring date
    (the day after it). Marts measure recency and horizons against this, never against the wall
    clock, so rebuilding old data gives the same answer.
#}
with

daily_activity as (
    select * from {{ ref('int_user_daily_activity') }}
),

latest as (
    select
        max(last_event_at) as last_event_at,
        max(last_order_at) as last_order_at
    from daily_activity
),

clock as (
    select
        case
            when last_order_at is null then last_event_at
            when last_event_at is null then last_order_at
            when last_event_at >= last_order_at then last_event_at
            else last_order_at
        end as data_max_at
    from latest
),

final as (
    select
        data_max_at,
        cast({{ dbt.dateadd('day', 1, 'cast(data_max_at as date)') }} as date) as as_of_date
    from clock
)

select * from final
