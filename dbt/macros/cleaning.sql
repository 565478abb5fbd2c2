{#
    TheLook's CSV exports write a missing text value either as an empty field or as the string
    `null` (for example users.city); both mean NULL here.
#}
{% macro clean_text(column) -%}
    nullif(nullif(trim({{ column }}), ''), 'null')
{%- endmacro %}


{#
    Keep one row per key.

    `ecom load` gives every raw table a primary key (it drops exact duplicate rows and rejects
    conflicting ones), so when the source is already unique on the key the view selects it as
    is. Otherwise (a table restored by hand, a sample copy with repeated rows) it keeps the
    first row per key. The check matters for speed as much as for clarity: PostgreSQL estimates
    a `row_number() = 1` filter at 0.5% of the rows, and a plan built on that estimate nests
    loops over millions of rows.
#}
{% macro dedupe(relation_cte, source_relation, key_columns, order_by=none) -%}
    {%- if source_is_unique_on(source_relation, key_columns) -%}
    select * from {{ relation_cte }}
    {%- else -%}
    select *
    from (
        select
            {{ relation_cte }}.*,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by {{ order_by or (key_columns | join(', ')) }}
            ) as dedupe_row_number
        from {{ relation_cte }}
    ) as numbered
    where dedupe_row_number = 1
    {%- endif -%}
{%- endmacro %}


{# True when the database guarantees one row per key (a primary key or unique index on exactly those columns). #}
{% macro source_is_unique_on(source_relation, key_columns) -%}
    {{ return(adapter.dispatch('source_is_unique_on', 'ecom')(source_relation, key_columns)) }}
{%- endmacro %}

{% macro default__source_is_unique_on(source_relation, key_columns) -%}
    {{ return(false) }}
{%- endmacro %}

{% macro postgres__source_is_unique_on(source_relation, key_columns) -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set query -%}
        select count(*)
        from pg_index as i
        join pg_class as c on c.oid = i.indrelid
        join pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = '{{ source_relation.schema }}'
          and c.relname = '{{ source_relation.identifier }}'
          and i.indisunique
          and i.indpred is null
          and (
              select array_agg(a.attname::text order by a.attname::text)
              from pg_attribute as a
              where a.attrelid = c.oid and a.attnum = any(i.indkey)
          ) = array[{% for column in key_columns | sort %}'{{ column }}'{% if not loop.last %}, {% endif %}{% endfor %}]::text[]
          and i.indnatts = {{ key_columns | length }}
    {%- endset -%}
    {%- set result = run_query(query) -%}
    {{ return(result.columns[0].values()[0] > 0) }}
{%- endmacro %}


{# Seconds between two timestamps as a float, through dbt's cross-database datediff. #}
{% macro seconds_between(start_at, end_at) -%}
    cast({{ dbt.datediff(start_at, end_at, 'second') }} as {{ dbt.type_float() }})
{%- endmacro %}


{# Fractional days between two timestamps (recency and time-since features). #}
{% macro days_between(start_at, end_at) -%}
    ({{ seconds_between(start_at, end_at) }} / 86400.0)
{%- endmacro %}


{#
    `at` lies in the half-open window [starts_at, ends_at): the convention of every horizon and
    analysis window (an order at the window's end belongs to the next one).
#}
{% macro within(at, starts_at, ends_at) -%}
    ({{ at }} >= {{ starts_at }} and {{ at }} < {{ ends_at }})
{%- endmacro %}


{#
    Per row of `rows` (one per `key_columns`), how many of the user's orders were placed in the
    row's window [starts_at, ends_at); rows with none are absent. One definition for "the user
    ordered in the horizon": a churn label is its complement and a campaign conversion is it.
#}
{% macro orders_within(rows, key_columns, starts_at, ends_at, orders='orders') -%}
    select
        {%- for key in key_columns %}
        {{ rows }}.{{ key }},
        {%- endfor %}
        count(*) as orders_in_horizon
    from {{ rows }}
    inner join {{ orders }}
        on {{ orders }}.user_id = {{ rows }}.user_id
        and {{ within(orders ~ '.created_at', rows ~ '.' ~ starts_at, rows ~ '.' ~ ends_at) }}
    group by {% for key in key_columns %}{{ rows }}.{{ key }}{% if not loop.last %}, {% endif %}{% endfor %}
{%- endmacro %}


{#
    A TheLook source that real exports may lack (the generator plants it): the table when the
    loader created it, else an empty relation of `empty_columns` ((name, type) pairs), so the
    models downstream still build, empty.
#}
{% macro optional_source(table_name, empty_columns) -%}
    {%- set declared = source('thelook', table_name) -%}
    {%- set loaded = adapter.get_relation(
            database=declared.database, schema=declared.schema, identifier=declared.identifier
        ) if execute else none -%}
    {%- if loaded is not none or not execute -%}
    select * from {{ declared }}
    {%- else -%}
    select
        {%- for name, type in empty_columns %}
        cast(null as {{ type }}) as {{ name }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    where 1 = 0
    {%- endif -%}
{%- endmacro %}


{# x / y as a float, NULL when y is 0 or NULL: rates over an empty denominator are unknown, not 0. #}
{% macro safe_divide(numerator, denominator) -%}
    (cast({{ numerator }} as {{ dbt.type_float() }}) / nullif({{ denominator }}, 0))
{%- endmacro %}


{# A time-zone aware timestamp type (timestamptz on PostgreSQL): cutoffs are instants in UTC. #}
{% macro type_timestamptz() -%}
    {{ return(adapter.dispatch('type_timestamptz', 'ecom')()) }}
{%- endmacro %}

{% macro default__type_timestamptz() -%}
    {{ dbt.type_timestamp() }}
{%- endmacro %}

{% macro postgres__type_timestamptz() -%}
    timestamp with time zone
{%- endmacro %}


{#
    The cancelled/returned flags of an order or an order item, from its status and return time.
    TheLook records no cancellation time: a cancelled order is known as such from the moment it
    is placed (the churn features rely on this). A return is known from either the status or a
    recorded return time.
#}
{% macro order_status_flags(status_column='status', returned_at_column='returned_at') -%}
    case when {{ clean_text(status_column) }} = 'Cancelled' then true else false end as is_cancelled,
        case
            when {{ clean_text(status_column) }} = 'Returned' or {{ returned_at_column }} is not null then true
            else false
        end as is_returned
{%- endmacro %}
