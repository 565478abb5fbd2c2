{#
    Every row's key combination exists in the parent model: the composite-key version of dbt's
    `relationships` test (labels must point at an existing feature row).
#}
{% test relationships_composite(model, columns, to, parent_columns=none) %}

{% set parent_columns = parent_columns or columns %}

with child as (
    select {{ columns | join(', ') }} from {{ model }}
),

parent as (
    select {{ parent_columns | join(', ') }} from {{ to }}
),

final as (
    select child.*
    from child
    left join parent
        on {% for column in columns %}
            child.{{ column }} = parent.{{ parent_columns[loop.index0] }}
            {%- if not loop.last %} and {% endif %}
        {% endfor %}
    where parent.{{ parent_columns[0] }} is null
)

select * from final

{% endtest %}
