with

source as (
    select * from {{ source('thelook', 'products') }}
),

deduplicated as (
    {{ dedupe('source', source('thelook', 'products'), ['id']) }}
),

final as (
    select
        cast(id as {{ dbt.type_bigint() }}) as product_id,
        {{ clean_text('name') }} as product_name,
        {{ clean_text('brand') }} as brand,
        {{ clean_text('category') }} as category,
        {{ clean_text('department') }} as department,
        {{ clean_text('sku') }} as sku,
        cast(cost as {{ dbt.type_float() }}) as cost,
        cast(retail_price as {{ dbt.type_float() }}) as retail_price,
        cast(distribution_center_id as {{ dbt.type_bigint() }}) as distribution_center_id
    from deduplicated
)

select * from final
