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
        -- TheLook records no cancellation time: a cancelled order is known as such from the
        -- moment it is placed (the churn features rely on this).
        case when {{ clean_text('status') }} = 'Cancelled' then true else false end as is_cancelled,
        case
            when {{ clean_text('status') }} = 'Returned' or returned_at is not null then true
            else false
        end as is_returned
    from deduplicated
)

select * from final
