{#
    The column holds one value on every row (NULLs aside): a snapshot is taken as of one date.
    An empty model passes; a row-count check is the gate's.
#}
{% test single_value(model, column_name) %}

with final as (
    select count(distinct {{ column_name }}) as distinct_values
    from {{ model }}
    having count(distinct {{ column_name }}) > 1
)

select * from final

{% endtest %}
