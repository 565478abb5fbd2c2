{#
    Every event with its user's country: the table the ad-hoc retention and the funnels that
    need each event's uri or a user's whole history read (ecom.analytics). Session funnels of
    plain event types read int_events_sequenced_sessions instead.

    A view: it costs nothing to build, and the questions that read it filter the events first
    and number the entity's events themselves (`ecom.analytics.events.EVENT_ORDER`). It used to
    be a table with both positions precomputed, which cost two sorts of every event at each
    build (about 29 s of `dbt build` at 100k users) for the rarer questions.
#}

{{ config(materialized='view') }}

with

events as (
    select * from {{ ref('stg_thelook__events') }}
),

users as (
    select * from {{ ref('stg_thelook__users') }}
),

final as (
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
)

select * from final
