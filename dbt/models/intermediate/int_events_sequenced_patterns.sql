{#
    The distinct event-code sequences of int_events_sequenced_sessions (about a hundred on the
    demo world), numbered 1..N: a session funnel evaluates each once, and a session reads its
    sequence's answer from arrays indexed by that number.
#}

{#- Not on Spark, with int_events_sequenced_sessions (see there). -#}
{{ config(enabled=target.type != 'spark') }}

with

sessions as (
    select * from {{ ref('int_events_sequenced_sessions') }}
),

patterns as (
    select
        pattern_key,
        min(event_codes) as event_codes,
        count(*) as sessions
    from sessions
    where pattern_key is not null
    group by pattern_key
),

final as (
    select
        cast(row_number() over (order by pattern_key) as {{ dbt.type_int() }}) as pattern_id,
        pattern_key,
        event_codes,
        sessions
    from patterns
)

select * from final
