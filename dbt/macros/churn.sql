{#
    The body of mart_churn_features, mart_churn_scoring and mart_churn_seasonal_features: the
    churn features at the cutoffs of int_churn_cutoffs where `cutoff_flag` (is_history_cutoff,
    is_scoring_cutoff or is_seasonal_cutoff) is true. One query for all three, so training,
    scoring and the drift history never read differently built features; the
    column list has the order and types of the feature contract, ecom/features/contract.py
    (Feast, training and the quality gate read it; tests/integration/test_feature_contract_marts.py
    fails when these columns differ from it).
#}
{% macro churn_feature_mart(cutoff_flag) -%}
with

features as (
    select * from {{ ref('int_churn_features') }}
),

cutoffs as (
    select * from {{ ref('int_churn_cutoffs') }}
),

final as (
    select
        cast(features.user_id as {{ dbt.type_bigint() }}) as user_id,
        cast(features.cutoff_date as date) as cutoff_date,
        cast(features.feature_timestamp as {{ type_timestamptz() }}) as feature_timestamp,
        cast(features.recency_days as {{ dbt.type_float() }}) as recency_days,
        cast(features.frequency_orders as {{ dbt.type_int() }}) as frequency_orders,
        cast(features.monetary_value as {{ dbt.type_float() }}) as monetary_value,
        cast(features.avg_order_value as {{ dbt.type_float() }}) as avg_order_value,
        cast(features.avg_days_between_orders as {{ dbt.type_float() }}) as avg_days_between_orders,
        cast(features.sessions_count as {{ dbt.type_int() }}) as sessions_count,
        cast(features.events_count as {{ dbt.type_int() }}) as events_count,
        cast(features.product_views as {{ dbt.type_int() }}) as product_views,
        cast(features.cart_adds as {{ dbt.type_int() }}) as cart_adds,
        cast(features.purchase_events as {{ dbt.type_int() }}) as purchase_events,
        cast(features.view_to_cart_rate as {{ dbt.type_float() }}) as view_to_cart_rate,
        cast(features.cart_to_purchase_rate as {{ dbt.type_float() }}) as cart_to_purchase_rate,
        cast(features.cancelled_orders as {{ dbt.type_int() }}) as cancelled_orders,
        cast(features.returned_orders as {{ dbt.type_int() }}) as returned_orders,
        cast(features.days_since_last_session as {{ dbt.type_float() }}) as days_since_last_session,
        cast(features.tenure_days as {{ dbt.type_int() }}) as tenure_days,
        cast(features.traffic_source as {{ dbt.type_string() }}) as traffic_source,
        cast(features.age as {{ dbt.type_int() }}) as age,
        cast(features.gender as {{ dbt.type_string() }}) as gender,
        cast(features.country as {{ dbt.type_string() }}) as country
    from features
    inner join cutoffs
        on cutoffs.cutoff_date = features.cutoff_date
    where cutoffs.{{ cutoff_flag }}
)

select * from final
{%- endmacro %}
