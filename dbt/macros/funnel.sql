{#
    mart_funnel's breakdowns: one grouped select per dimension, glued with union all. 'all' is
    the row without a breakdown (dimension_value 'all'); every other dimension groups by its own
    column as well. `measures` are the aggregate columns, each written `expression as name`.
#}
{% macro funnel_breakdowns(relation, dimensions, measures) -%}
    {% for dimension in ['all'] + dimensions %}
    select
        funnel_level,
        period_grain,
        period_start,
        '{{ dimension }}' as dimension,
        {% if dimension == 'all' %}'all'{% else %}{{ dimension }}{% endif %} as dimension_value,
        {{ measures | join(',\n        ') }}
    from {{ relation }}
    group by
        funnel_level,
        period_grain,
        period_start
        {%- if dimension != 'all' %}, {{ dimension }}{% endif %}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
{%- endmacro %}


{#
    One ordered step of a session's funnel: the first `event_type` event at or after the previous
    step (`after_column`). No time limit: a session's own steps count whatever their spacing
    (real TheLook sessions buy days after the cart under the same session id); the conversion
    window belongs to the user-level funnel, which follows a user across sessions.
#}
{% macro first_funnel_step_at(event_type, after_column) -%}
    min(case when event_type = '{{ event_type }}' and created_at >= {{ after_column }} then created_at end)
{%- endmacro %}


{# How far a funnel try got, from its step times (session-level and user-level alike). #}
{% macro funnel_outcomes(viewed_at, carted_at, purchased_at) -%}
    case when {{ carted_at }} is not null then true else false end as reached_cart,
        case when {{ purchased_at }} is not null then true else false end as reached_purchase,
        case
            when {{ purchased_at }} is not null
                then {{ seconds_between(viewed_at, purchased_at) }} / 60.0
        end as minutes_to_purchase
{%- endmacro %}
