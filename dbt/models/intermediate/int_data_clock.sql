{#
    The dataset's own "now", one row: where the data is done. Marts measure recency and horizons
    against it, never against the wall clock, so rebuilding old data gives the same answer.

    The clock is what the data says is done, never the latest timestamp of any row: the day of
    the last order placed or session started by a registered user, or the `data_as_of` var (a
    date the user gives: ECOM_DATA_AS_OF, `ecom transform --as-of`). TheLook's own generator
    writes purchase events, order items and delivery stamps days past its clock; those trail an
    order or session that started before it, so they never move the clock.

    clock_at (midnight UTC after that day, or the as-of date) is the first instant after the
    clock: rows at or after it are counted by the quality gate as rows after the clock and kept
    out of the user-day activity, hence out of features, labels and horizons. as_of_date is the
    scoring date; data_max_at the latest registered event or order before clock_at.
#}
{%- set data_as_of = var('data_as_of', none) -%}

with

orders as (
    select * from {{ ref('stg_thelook__orders') }}
),

sessions as (
    select * from {{ ref('int_sessions') }}
),

events as (
    select * from {{ ref('stg_thelook__events') }}
),

latest_starts as (
    select
        (select max(created_at) from orders) as last_order_at,
        (select max(started_at) from sessions where user_id is not null) as last_session_at
),

last_started as (
    select
        case
            when last_order_at is null then last_session_at
            when last_session_at is null then last_order_at
            when last_session_at >= last_order_at then last_session_at
            else last_order_at
        end as last_started_at
    from latest_starts
),

cut as (
    select
        {% if data_as_of -%}
        cast('{{ data_as_of }}' as date) as as_of_date
        {%- else -%}
        cast({{ dbt.dateadd('day', 1, 'cast(last_started_at as date)') }} as date) as as_of_date
        {%- endif %}
    from last_started
),

clock as (
    select
        as_of_date,
        cast(as_of_date as {{ type_timestamptz() }}) as clock_at
    from cut
),

latest_before_clock as (
    select
        (
            select max(events.created_at) from events
            where events.user_id is not null and events.created_at < clock.clock_at
        ) as last_event_at,
        (
            select max(orders.created_at) from orders
            where orders.created_at < clock.clock_at
        ) as last_order_at
    from clock
),

final as (
    select
        case
            when latest_before_clock.last_order_at is null then latest_before_clock.last_event_at
            when latest_before_clock.last_event_at is null then latest_before_clock.last_order_at
            when latest_before_clock.last_event_at >= latest_before_clock.last_order_at
                then latest_before_clock.last_event_at
            else latest_before_clock.last_order_at
        end as data_max_at,
        clock.as_of_date,
        clock.clock_at
    from clock
    cross join latest_before_clock
)

select * from final
