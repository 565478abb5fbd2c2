with

source as (
    select * from {{ source('thelook', 'orders') }}
),

deduplicated as (
    {{ dedupe('source', source('thelook', 'orders'), ['order_id'], 'created_at') }}
),

final as (
    select
        cast(order_id as {{ dbt.type_bigint() }}) as order_id,
        cast(user_id as {{ dbt.type_bigint() }}) as user_id,
        {{ clean_text('status') }} as order_status,
        {{ clean_text('gender') }} as gender,
        created_at,
        shipped_at,
        delivered_at,
        returned_at,
        cast(num_of_item as {{ dbt.type_int() }}) as item_count,
        {{ order_status_flags() }}
    from deduplicated
)

select * from final
