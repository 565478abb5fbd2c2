{#
    dbt's `relationships` test for a parent built from a raw table that a partial TheLook folder
    may lack: every non-null value exists in the parent, checked only when the parent has rows.
    A folder without distribution_centers.csv loads products whose distribution_center_id
    points nowhere; that is the absent table (reported by `ecom load` and the quality gate),
    not a broken key.
#}
{% test relationships_if_loaded(model, column_name, to, field) %}

with child as (
    select {{ column_name }} as child_key from {{ model }} where {{ column_name }} is not null
),

parent as (
    select {{ field }} as parent_key from {{ to }}
),

final as (
    select child.child_key
    from child
    left join parent on parent.parent_key = child.child_key
    where parent.parent_key is null
      and exists (select 1 from parent)
)

select * from final

{% endtest %}
