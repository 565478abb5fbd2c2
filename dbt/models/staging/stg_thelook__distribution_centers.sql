with

source as (
    select * from {{ source('thelook', 'distribution_centers') }}
),

deduplicated as (
    {{ dedupe('source', source('thelook', 'distribution_centers'), ['id']) }}
),

final as (
    select
        cast(id as {{ dbt.type_bigint() }}) as distribution_center_id,
        {{ clean_text('name') }} as distribution_center_name,
        cast(latitude as {{ dbt.type_float() }}) as latitude,
        cast(longitude as {{ dbt.type_float() }}) as longitude,
        {{ clean_text('distribution_center_geom') }} as distribution_center_geom
    from deduplicated
)

select * from final
