{#
    The distinct event-code sequences of int_events_sequenced_sessions (about a hundred on the
    demo world): a session funnel evaluates each once instead of once per session.
#}

with

sessions as (
    select * from {{ ref('int_events_sequenced_sessions') }}
),

final as (
    select
        pattern_id,
        min(pattern_key) as pattern_key,
        min(event_codes) as event_codes,
        count(*) as sessions
    from sessions
    where pattern_id is not null
    group by pattern_id
)

select * from final
