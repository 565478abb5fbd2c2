{#
    One row per session with its events as arrays in the session's order (created_at, then
    sequence_number, then event_id): what session funnels of plain event types read
    (ecom.analytics.funnels), so a question scans 0.8M narrow rows instead of sorting 2.6M events.

    Why arrays and a pattern key: a session's funnel outcome (level, winning attempt, positions of
    its steps) depends only on its sequence of event types as long as the conversion window and
    the date range cannot cut it (the session's span fits the window, all its events are in the
    range). The generated and TheLook worlds hold about a hundred distinct sequences among 0.8M
    sessions, so a question evaluates each distinct sequence once (its `pattern_key`, the event
    codes written as digits) and joins the answer back; only sessions the window or range can
    cut are evaluated event by event.

    Event codes are the 1-based positions in the list below, the same list as
    ecom.analytics.events.EVENT_TYPES. The breakdown columns are stored once per session when
    all its events agree on all of them (always, in TheLook's data: they are session
    attributes), else `event_breakdowns` holds them per event, one row of the list below per
    event: the value at position p is coalesce(event_breakdowns[p][k], <column k>).

    Cost: one sort of the events by session and order, and six aggregates per event (two
    comparisons of the breakdown list decide whether a session shares it). No window function
    over the sessions: numbering them, or their patterns, would sort and spool every row again.
#}

{#- Not on Spark: ordered array aggregates, 1-based array subscripts and epoch arithmetic on
    intervals have no portable form there; only ecom.analytics' session funnels (PostgreSQL)
    read this model and int_events_sequenced_patterns, and no mart does (docs/scale-out.md). -#}
{{ config(enabled=target.type != 'spark', post_hook=["{{ session_sequence_indexes(this) }}"]) }}

{%- set event_types = ['home', 'department', 'product', 'cart', 'purchase', 'cancel'] -%}
{%- set breakdowns = ['traffic_source', 'browser', 'city', 'state', 'country'] -%}
{%- set session_order = 'order by created_at, sequence_number, event_id' -%}

with

events as (
    select * from {{ ref('stg_thelook__events') }}
),

users as (
    select * from {{ ref('stg_thelook__users') }}
),

coded as (
    select
        {{ bytewise('events.session_id') }} as session_id,
        events.event_id,
        events.user_id,
        events.sequence_number,
        events.created_at,
        cast(case events.event_type
            {%- for event_type in event_types %}
            when '{{ event_type }}' then {{ loop.index }}
            {%- endfor %}
        end as smallint) as event_code,
        {{ bytewise(list_of([
            'events.traffic_source', 'events.browser', 'events.city', 'events.state',
            'users.country'])) }} as breakdowns
    from events
    left join users on users.user_id = events.user_id
    where events.session_id is not null
),

grouped as (
    select
        session_id,
        min(user_id) as user_id,
        count(*) as events,
        count(event_code) as known_events,
        array_agg(event_code {{ session_order }}) as event_codes,
        array_agg(created_at {{ session_order }}) as event_times,
        {{ dbt.listagg("cast(event_code as " ~ dbt.type_string() ~ ")", "''", session_order) }}
            as code_digits,
        min(breakdowns) as lowest_breakdowns,
        max(breakdowns) as highest_breakdowns,
        array_agg(breakdowns {{ session_order }}) as event_breakdowns
    from coded
    group by session_id
),

keyed as (
    select
        grouped.*,
        lowest_breakdowns is not distinct from highest_breakdowns as shares_breakdowns,
        case
            when events <= 18 and known_events = events
            then cast(code_digits as {{ dbt.type_bigint() }})
        end as pattern_key
    from grouped
),

final as (
    select
        cast(session_id as {{ dbt.type_string() }}) as session_id,
        user_id,
        event_times[1] as first_at,
        event_times[{{ list_length('event_times') }}] as last_at,
        -- Up to 18 known codes as the digits of one bigint; NULL (always evaluated event by
        -- event) otherwise. int_events_sequenced_patterns numbers the keys.
        pattern_key,
        -- How long a window must be to never cut the session (infinite when it has no pattern).
        case
            when pattern_key is not null
            then date_part('epoch', event_times[{{ list_length('event_times') }}] - event_times[1])
            else cast('Infinity' as {{ dbt.type_float() }})
        end as span_seconds,
        event_codes,
        event_times,
        {%- for column in breakdowns %}
        cast(case when shares_breakdowns then lowest_breakdowns[{{ loop.index }}] end
            as {{ dbt.type_string() }}) as {{ column }},
        {%- endfor %}
        case when not shares_breakdowns then event_breakdowns end as event_breakdowns
    from keyed
)

select * from final
