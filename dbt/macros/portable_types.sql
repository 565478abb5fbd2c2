{#
    `dbt.type_float()` renders `float`, which is double precision on PostgreSQL, Snowflake and
    BigQuery but a 4-byte REAL on DuckDB (and on some Spark/Trino setups): features and scores
    would lose digits on the way and batch/online parity would break. Every float in this
    project means a double, so adapters whose `float` is single precision say so here; the
    project's `dispatch` config puts these ahead of dbt's own implementations.
#}
{% macro duckdb__type_float() -%}
    double
{%- endmacro %}

{% macro spark__type_float() -%}
    double
{%- endmacro %}
