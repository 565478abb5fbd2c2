with

source as (
    select * from {{ source('thelook', 'inventory_items') }}
),

deduplicated as (
    {{ dedupe('source', source('thelook', 'inventory_items'), ['id'], 'created_at') }}
),

final as (
    select
        cast(id as {{ dbt.type_bigint() }}) as inventory_item_id,
        cast(product_id as {{ dbt.type_bigint() }}) as product_id,
        created_at,
        sold_at,
        cast(cost as {{ dbt.type_float() }}) as cost,
        {{ clean_text('product_category') }} as product_category,
        {{ clean_text('product_name') }} as product_name,
        {{ clean_text('product_brand') }} as product_brand,
        cast(product_retail_price as {{ dbt.type_float() }}) as product_retail_price,
        {{ clean_text('product_department') }} as product_department,
        {{ clean_text('product_sku') }} as product_sku,
        cast(product_distribution_center_id as {{ dbt.type_bigint() }}) as distribution_center_id,
        case when sold_at is not null then true else false end as is_sold
    from deduplicated
)

select * from final
