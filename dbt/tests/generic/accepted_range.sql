{#
    Values lie within [min_value, max_value] (either bound optional). NULLs pass: pair with
    not_null when a column must be present.
#}
{% test accepted_range(model, column_name, min_value=none, max_value=none) %}

with final as (
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} is not null
      and (
        1 = 0
        {% if min_value is not none %} or {{ column_name }} < {{ min_value }} {% endif %}
        {% if max_value is not none %} or {{ column_name }} > {{ max_value }} {% endif %}
      )
)

select * from final

{% endtest %}
