{#
    One row per (experiment, user) of mart_experiment_exposures with the outcomes A/B analysis
    reads, twice: in the user's analysis window after exposure ([first_exposed_at,
    analysis_window_ended_at)) and in the pre-exposure window ([pre_window_started_at,
    first_exposed_at)), the covariate for CUPED. Users with no activity have zeros, not NULLs:
    they are exposed units that did nothing, and dropping them would bias every mean.

    Sessions count by their start; cart and purchase follow int_sessions' ordered funnel.
    Orders are the non-cancelled ones, revenue sums their non-cancelled items.
#}
{%- set windows = [
    ('', 'first_exposed_at', 'analysis_window_ended_at'),
    ('pre_', 'pre_window_started_at', 'first_exposed_at'),
] -%}

with

exposures as (
    select * from {{ ref('mart_experiment_exposures') }}
),

sessions as (
    select * from {{ ref('int_sessions') }}
),

orders as (
    select * from {{ ref('int_user_orders') }}
),

session_outcomes as (
    select
        exposures.experiment_id,
        exposures.user_id,
        {% for prefix, starts, ends in windows %}
        {%- set in_window = within('sessions.started_at', 'exposures.' ~ starts, 'exposures.' ~ ends) %}
        sum(case when {{ in_window }} then 1 else 0 end) as {{ prefix }}sessions,
        sum(case when {{ in_window }} and sessions.reached_cart then 1 else 0 end) as {{ prefix }}cart_sessions,
        sum(case when {{ in_window }} and sessions.reached_purchase then 1 else 0 end) as {{ prefix }}purchase_sessions
        {%- if not loop.last %},{% endif %}
        {% endfor %}
    from exposures
    inner join sessions
        on sessions.user_id = exposures.user_id
        and {{ within('sessions.started_at', 'exposures.pre_window_started_at', 'exposures.analysis_window_ended_at') }}
    group by exposures.experiment_id, exposures.user_id
),

order_outcomes as (
    select
        exposures.experiment_id,
        exposures.user_id,
        {% for prefix, starts, ends in windows %}
        {%- set in_window = within('orders.created_at', 'exposures.' ~ starts, 'exposures.' ~ ends) %}
        sum(case when {{ in_window }} then 1 else 0 end) as {{ prefix }}orders,
        sum(case when {{ in_window }} then orders.order_value else 0 end) as {{ prefix }}revenue,
        sum(case when {{ in_window }} then orders.items_count else 0 end) as {{ prefix }}items
        {%- if not loop.last %},{% endif %}
        {% endfor %}
    from exposures
    inner join orders
        on orders.user_id = exposures.user_id
        and {{ within('orders.created_at', 'exposures.pre_window_started_at', 'exposures.analysis_window_ended_at') }}
        and not orders.is_cancelled
    group by exposures.experiment_id, exposures.user_id
),

final as (
    select
        exposures.experiment_id,
        exposures.user_id,
        exposures.variant,
        exposures.first_exposed_at,
        exposures.exposure_date,
        exposures.analysis_window_ended_at,
        exposures.traffic_source,
        exposures.browser,
        {% for prefix, starts, ends in windows %}
        cast(coalesce(session_outcomes.{{ prefix }}sessions, 0) as {{ dbt.type_int() }}) as {{ prefix }}sessions,
        cast(coalesce(session_outcomes.{{ prefix }}cart_sessions, 0) as {{ dbt.type_int() }}) as {{ prefix }}cart_sessions,
        cast(coalesce(session_outcomes.{{ prefix }}purchase_sessions, 0) as {{ dbt.type_int() }}) as {{ prefix }}purchase_sessions,
        cast(case when coalesce(session_outcomes.{{ prefix }}cart_sessions, 0) > 0 then 1 else 0 end as {{ dbt.type_int() }}) as {{ prefix }}reached_cart,
        cast(case when coalesce(session_outcomes.{{ prefix }}purchase_sessions, 0) > 0 then 1 else 0 end as {{ dbt.type_int() }}) as {{ prefix }}purchased_after_cart,
        cast(coalesce(order_outcomes.{{ prefix }}orders, 0) as {{ dbt.type_int() }}) as {{ prefix }}orders,
        cast(coalesce(order_outcomes.{{ prefix }}revenue, 0) as {{ dbt.type_float() }}) as {{ prefix }}revenue,
        cast(coalesce(order_outcomes.{{ prefix }}items, 0) as {{ dbt.type_int() }}) as {{ prefix }}items
        {%- if not loop.last %},{% endif %}
        {% endfor %}
    from exposures
    left join session_outcomes
        on session_outcomes.experiment_id = exposures.experiment_id
        and session_outcomes.user_id = exposures.user_id
    left join order_outcomes
        on order_outcomes.experiment_id = exposures.experiment_id
        and order_outcomes.user_id = exposures.user_id
)

select * from final
