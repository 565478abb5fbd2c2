{#
    The assignments file is optional (real TheLook exports have none). When the loader created no
    raw table, this view is an empty, correctly typed relation, so downstream marts still build.
#}
{%- set source_relation = adapter.get_relation(
        database=source('thelook', 'experiment_assignments').database,
        schema=source('thelook', 'experiment_assignments').schema,
        identifier=source('thelook', 'experiment_assignments').identifier) if execute else none -%}

with

{% if source_relation is not none or not execute %}
source as (
    select * from {{ source('thelook', 'experiment_assignments') }}
),
{% else %}
source as (
    select
        cast(null as {{ dbt.type_string() }}) as experiment_id,
        cast(null as {{ dbt.type_bigint() }}) as user_id,
        cast(null as {{ dbt.type_string() }}) as variant,
        cast(null as {{ type_timestamptz() }}) as assigned_at
    where 1 = 0
),
{% endif %}

deduplicated as (
    {{ dedupe('source', source('thelook', 'experiment_assignments'), ['experiment_id', 'user_id'], 'assigned_at') }}
),

final as (
    select
        {{ clean_text('experiment_id') }} as experiment_id,
        cast(user_id as {{ dbt.type_bigint() }}) as user_id,
        lower({{ clean_text('variant') }}) as variant,
        assigned_at
    from deduplicated
)

select * from final
