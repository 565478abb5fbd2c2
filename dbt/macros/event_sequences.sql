{#
    What int_events_sequenced_sessions needs beyond dbt's cross-database macros, per adapter:
    lists built from values, their length, bytewise text comparison (PostgreSQL sorts and groups
    text in the database's locale otherwise, several times slower), and the indexes the funnels
    use on PostgreSQL. Other adapters get the portable forms and no indexes.
#}

{% macro bytewise(expression) -%}
    {{ return(adapter.dispatch('bytewise', 'ecom')(expression)) }}
{%- endmacro %}

{% macro default__bytewise(expression) -%}
    {{ expression }}
{%- endmacro %}

{% macro postgres__bytewise(expression) -%}
    {{ expression }} collate "C"
{%- endmacro %}


{% macro list_of(expressions) -%}
    {{ return(adapter.dispatch('list_of', 'ecom')(expressions)) }}
{%- endmacro %}

{% macro default__list_of(expressions) -%}
    list_value({{ expressions | join(', ') }})
{%- endmacro %}

{% macro postgres__list_of(expressions) -%}
    array[{{ expressions | join(', ') }}]
{%- endmacro %}


{% macro list_length(expression) -%}
    {{ return(adapter.dispatch('list_length', 'ecom')(expression)) }}
{%- endmacro %}

{% macro default__list_length(expression) -%}
    len({{ expression }})
{%- endmacro %}

{% macro postgres__list_length(expression) -%}
    cardinality({{ expression }})
{%- endmacro %}


{% macro session_sequence_indexes(relation) -%}
    {{ return(adapter.dispatch('session_sequence_indexes', 'ecom')(relation)) }}
{%- endmacro %}

{% macro default__session_sequence_indexes(relation) -%}
    select 1
{%- endmacro %}

{# The span finds the sessions a window can cut; session_id joins them back; the partial index
   finds the sessions whose events disagree on a breakdown (none in TheLook's data). #}
{% macro postgres__session_sequence_indexes(relation) -%}
    create index on {{ relation }} (span_seconds);
    create index on {{ relation }} (session_id);
    create index on {{ relation }} (session_id) where event_breakdowns is not null
{%- endmacro %}
