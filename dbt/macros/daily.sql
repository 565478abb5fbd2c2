{#
    One row per (user, UTC day) of `relation`'s rows dated by `at` before the data's clock, with
    the `measures` (aggregate expressions with their aliases). Expects the model's `clock` CTE
    (int_data_clock). `users_only` drops rows of no user (anonymous events and sessions).
#}
{% macro per_user_day(relation, at, measures, users_only=false) -%}
    select
        user_id,
        cast({{ at }} as date) as activity_date,
        {{ measures | join(',\n        ') }}
    from {{ relation }}
    where {% if users_only %}user_id is not null
        and {% endif %}{{ at }} < (select clock_at from clock)
    group by user_id, cast({{ at }} as date)
{%- endmacro %}
