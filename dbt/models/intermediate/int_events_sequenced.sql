{#
    Every event with its place in its session and in its user's history: the table the ad-hoc
    funnels and retention of ecom.analytics read (`ecom funnel`, `ecom retention`).

    Positions number an entity's events by created_at, then sequence_number, then event_id, so
    events at the same instant still have one order, and "the next event" (strict funnels) is
    position + 1. Computing them here, once per build, spares every question a sort of the whole
    table; the rows are written in (session_id, session_position) order and indexed on both
    entity keys, so a question's window passes read the events already in order.
#}
{{ config(post_hook=[
    "create index if not exists {{ this.name }}_session on {{ this }} (session_id, session_position)",
    "create index if not exists {{ this.name }}_user on {{ this }} (user_id, user_position)",
]) }}

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
    order by session_id, session_position
)

select * from final
