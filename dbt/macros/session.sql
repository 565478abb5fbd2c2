{#
    Hooks that keep results independent of the server's settings.

    Dates are cut from timestamptz values in the session's time zone, and the churn cutoffs are
    midnight UTC by contract, so every model runs in a UTC session whatever the server's default.
    JIT compilation is switched off: it costs seconds per model on these one-shot analytical
    queries and buys nothing back at this scale. work_mem is raised for the session (var
    `postgres_work_mem`) because a stock server's 4MB sends every sort of the event table to disk.
#}
{% macro use_utc_session() -%}
    {{ return(adapter.dispatch('use_utc_session', 'ecom')()) }}
{%- endmacro %}

{% macro default__use_utc_session() -%}
    select 1
{%- endmacro %}

{% macro postgres__use_utc_session() -%}
    set time zone 'UTC'; set jit = off; set work_mem = '{{ var("postgres_work_mem", "128MB") }}'
{%- endmacro %}


{#
    PostgreSQL only gathers planner statistics when autovacuum gets round to it; a table built a
    second ago would be planned as if empty by the model that reads it next.
#}
{% macro analyze_relation(relation) -%}
    {{ return(adapter.dispatch('analyze_relation', 'ecom')(relation)) }}
{%- endmacro %}

{% macro default__analyze_relation(relation) -%}
    select 1
{%- endmacro %}

{% macro postgres__analyze_relation(relation) -%}
    {%- if model.config.materialized in ('table', 'incremental') -%}
        analyze {{ relation }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
