{#
    One row per order with its value and its place in the customer's order history, so RFM,
    retention and churn read orders once instead of re-joining items each time.
    order_value sums the sale_price of the order's items that were not cancelled. Orders placed
    at or after the data's clock (a `data_as_of` before the end of the data) are left out.
#}
with

clock as (
    select * from {{ ref('int_data_clock') }}
),

orders as (
    select * from {{ ref('stg_thelook__orders') }}
    where created_at < (select clock_at from clock)
),

order_items as (
    select * from {{ ref('stg_thelook__order_items') }}
),

order_values as (
    select
        order_id,
        count(*) as items_count,
        sum(case when is_cancelled then 0 else sale_price end) as order_value
    from order_items
    group by order_id
),

final as (
    select
        orders.order_id,
        orders.user_id,
        orders.order_status,
        orders.created_at,
        orders.returned_at,
        orders.is_cancelled,
        orders.is_returned,
        cast(coalesce(order_values.items_count, 0) as {{ dbt.type_int() }}) as items_count,
        cast(coalesce(order_values.order_value, 0) as {{ dbt.type_float() }}) as order_value,
        cast(row_number() over (
            partition by orders.user_id
            order by orders.created_at, orders.order_id
        ) as {{ dbt.type_int() }}) as user_order_number
    from orders
    left join order_values on order_values.order_id = orders.order_id
)

select * from final
