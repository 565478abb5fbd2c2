{#
    The column list of mart_churn_features and mart_churn_scoring, in the order and with the
    types of the shared data contract (Feast, training and the quality gate rely on them).
#}
{% macro churn_feature_columns(alias) -%}
    cast({{ alias }}.user_id as {{ dbt.type_bigint() }}) as user_id,
    cast({{ alias }}.cutoff_date as date) as cutoff_date,
    cast({{ alias }}.feature_timestamp as {{ type_timestamptz() }}) as feature_timestamp,
    cast({{ alias }}.recency_days as {{ dbt.type_float() }}) as recency_days,
    cast({{ alias }}.frequency_orders as {{ dbt.type_int() }}) as frequency_orders,
    cast({{ alias }}.monetary_value as {{ dbt.type_float() }}) as monetary_value,
    cast({{ alias }}.avg_order_value as {{ dbt.type_float() }}) as avg_order_value,
    cast({{ alias }}.avg_days_between_orders as {{ dbt.type_float() }}) as avg_days_between_orders,
    cast({{ alias }}.sessions_count as {{ dbt.type_int() }}) as sessions_count,
    cast({{ alias }}.events_count as {{ dbt.type_int() }}) as events_count,
    cast({{ alias }}.product_views as {{ dbt.type_int() }}) as product_views,
    cast({{ alias }}.cart_adds as {{ dbt.type_int() }}) as cart_adds,
    cast({{ alias }}.purchase_events as {{ dbt.type_int() }}) as purchase_events,
    cast({{ alias }}.view_to_cart_rate as {{ dbt.type_float() }}) as view_to_cart_rate,
    cast({{ alias }}.cart_to_purchase_rate as {{ dbt.type_float() }}) as cart_to_purchase_rate,
    cast({{ alias }}.cancelled_orders as {{ dbt.type_int() }}) as cancelled_orders,
    cast({{ alias }}.returned_orders as {{ dbt.type_int() }}) as returned_orders,
    cast({{ alias }}.days_since_last_session as {{ dbt.type_float() }}) as days_since_last_session,
    cast({{ alias }}.tenure_days as {{ dbt.type_int() }}) as tenure_days,
    cast({{ alias }}.traffic_source as {{ dbt.type_string() }}) as traffic_source,
    cast({{ alias }}.age as {{ dbt.type_int() }}) as age,
    cast({{ alias }}.gender as {{ dbt.type_string() }}) as gender,
    cast({{ alias }}.country as {{ dbt.type_string() }}) as country
{%- endmacro %}
