{#
    Every event with its place in its session and in its user's history: the table the ad-hoc
    funnels and retention of ecom.analytics read (`ecom funnel`, `ecom retention`).

    Positions number an entity's events by created_at, then sequence_number, then event_id, so
    events at the same instant still have one order, and "the next event" (strict funnels) is
    position + 1 whatever events a question filters out. Computing them here, once per build,
    spares every question two window sorts of the whole table. No index: a question reads every
    matching event, and on the 100k-user world PostgreSQL planned a sequential scan and one sort
    even when indexes on (session_id, session_position) and (user_id, user_position) existed.
#}

with

events as (
    select * from {{ ref('stg_thelook__events') }}
),

users as (
    select * from {{ ref('stg_thelook__users') }}
),

with_country as (
    select
        events.event_id,
        events.session_id,
        events.user_id,
        events.sequence_number,
        events.created_at,
        events.event_type,
        events.uri,
        events.traffic_source,
        events.browser,
        events.city,
        events.state,
        users.country
    from events
    left join users on users.user_id = events.user_id
),

sequenced as (
    select
        with_country.*,
        row_number() over (
            partition by session_id order by created_at, sequence_number, event_id
        ) as session_position,
        case when user_id is not null then row_number() over (
            partition by user_id order by created_at, sequence_number, event_id
        ) end as user_position
    from with_country
),

final as (
    select
        event_id,
        session_id,
        user_id,
        sequence_number,
        created_at,
        event_type,
        uri,
        traffic_source,
        browser,
        city,
        state,
        country,
        cast(session_position as {{ dbt.type_int() }}) as session_position,
        cast(user_position as {{ dbt.type_int() }}) as user_position
    from sequenced
)

select * from final
