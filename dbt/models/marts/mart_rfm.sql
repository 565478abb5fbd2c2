{#
    Recency, frequency and monetary value per customer with at least one purchase (an order that
    was not cancelled), as of the day after the latest data, scored 1-5 (5 = best) and named by
    the usual R x F segment grid.

    Frequency is scored with fixed bins (1, 2, 3, 4, 5+ purchases -> F1..F5), not quintiles:
    most customers buy once, so a quintile of frequency would have to split one-time buyers
    across scores by some other measure, and "Champions" would include one-time buyers.
    Recency and spend are continuous and scored in quintiles; their rare exact ties are broken
    by the other measures and then by user_id, so the scores are deterministic.
#}
with

orders as (
    select * from {{ ref('int_user_orders') }}
),

clock as (
    select * from {{ ref('int_data_clock') }}
),

customers as (
    select
        user_id,
        max(created_at) as last_purchase_at,
        count(*) as frequency,
        sum(order_value) as monetary_value
    from orders
    where not is_cancelled
    group by user_id
),

measured as (
    select
        customers.user_id,
        clock.as_of_date,
        customers.last_purchase_at,
        {{ days_between('customers.last_purchase_at', 'cast(clock.as_of_date as ' ~ type_timestamptz() ~ ')') }} as recency_days,
        customers.frequency,
        customers.monetary_value
    from customers
    cross join clock
),

scored as (
    select
        measured.*,
        ntile(5) over (order by recency_days desc, frequency, monetary_value, user_id) as r_score,
        case when frequency >= 5 then 5 else frequency end as f_score,
        ntile(5) over (order by monetary_value, frequency, recency_days desc, user_id) as m_score
    from measured
),

final as (
    select
        user_id,
        as_of_date,
        last_purchase_at,
        cast(recency_days as {{ dbt.type_float() }}) as recency_days,
        cast(frequency as {{ dbt.type_int() }}) as frequency,
        cast(monetary_value as {{ dbt.type_float() }}) as monetary_value,
        cast(r_score as {{ dbt.type_int() }}) as r_score,
        cast(f_score as {{ dbt.type_int() }}) as f_score,
        cast(m_score as {{ dbt.type_int() }}) as m_score,
        {{ dbt.concat(['cast(r_score as ' ~ dbt.type_string() ~ ')', 'cast(f_score as ' ~ dbt.type_string() ~ ')', 'cast(m_score as ' ~ dbt.type_string() ~ ')']) }} as rfm_score,
        case
            when r_score = 5 and f_score >= 4 then 'Champions'
            when r_score >= 3 and f_score >= 4 then 'Loyal'
            when r_score >= 4 and f_score >= 2 then 'Potential Loyalist'
            when r_score = 5 and f_score = 1 then 'New'
            when r_score = 4 and f_score = 1 then 'Promising'
            when r_score = 3 and f_score = 3 then 'Need Attention'
            when r_score = 3 then 'About to Sleep'
            when r_score <= 2 and f_score = 5 then 'Can''t Lose Them'
            when r_score <= 2 and f_score >= 3 then 'At Risk'
            when r_score = 2 then 'Hibernating'
            else 'Lost'
        end as rfm_segment
    from scored
)

select * from final
