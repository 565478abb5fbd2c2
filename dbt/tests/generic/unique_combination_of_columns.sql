{#
    The grain test: no two rows share the same combination of columns (dbt_utils has one, but
    packages cannot be downloaded at run time here, so the project carries its own).
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with grouped as (
    select
        {{ combination_of_columns | join(', ') }},
        count(*) as row_count
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
),

final as (
    select * from grouped where row_count > 1
)

select * from final

{% endtest %}
