{# Every row (optionally only rows matching `where`) satisfies a SQL boolean expression. #}
{% test expression_is_true(model, expression) %}

with final as (
    select *
    from {{ model }}
    where not ({{ expression }})
)

select * from final

{% endtest %}
