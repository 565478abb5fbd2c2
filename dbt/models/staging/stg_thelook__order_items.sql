with

source as (
    select * from {{ source('thelook', 'order_items') }}
),

deduplicated as (
    {{ dedupe('source', source('thelook', 'order_items'), ['id'], 'created_at') }}
),

final as (
    select
        cast(id as {{ dbt.type_bigint() }}) as order_item_id,
        cast(order_id as {{ dbt.type_bigint() }}) as order_id,
        cast(user_id as {{ dbt.type_bigint() }}) as user_id,
        cast(product_id as {{ dbt.type_bigint() }}) as product_id,
        cast(inventory_item_id as {{ dbt.type_bigint() }}) as inventory_item_id,
        {{ clean_text('status') }} as item_status,
        created_at,
        shipped_at,
        delivered_at,
        returned_at,
        cast(sale_price as {{ dbt.type_float() }}) as sale_price,
        {{ order_status_flags() }}
    from deduplicated
)

select * from final
