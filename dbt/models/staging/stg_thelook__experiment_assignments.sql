{#
    The assignments file is optional (real TheLook exports have none). When the loader created no
    raw table, this view is empty, so downstream marts still build.
#}
with

source as (
    {{ optional_source('experiment_assignments', [
        ('experiment_id', dbt.type_string()),
        ('user_id', dbt.type_bigint()),
        ('variant', dbt.type_string()),
        ('assigned_at', type_timestamptz()),
    ]) }}
),

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
