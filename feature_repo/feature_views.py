"""Feature views over `analytics.mart_churn_features`, grouped by what they describe.

The source is the weekly history cutoffs (`mart_churn_features`, for training) plus the scoring
cutoff (`mart_churn_scoring`, what materialization writes to Redis; skipped when it falls on a
weekly cutoff, whose rows are then the same). Each row is stamped `feature_timestamp` = its
cutoff at 00:00 UTC and computed only from data strictly before it, so Feast's point-in-time
join ("latest row at or before the label's timestamp") can never see the future. Labels exist
exactly for the history rows, so the training join is at equal timestamps and needs no long
TTL; one day (under the 7-day cutoff interval) means no weekly row ever stands in for a later
cutoff, and `feast materialize-incremental` from a fresh registry starts no earlier than a day
back.
"""

from datetime import timedelta

from entities import user
from feast import FeatureView, Field
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (
    PostgreSQLSource,
)
from feast.types import Float64, Int64, String

FEATURE_TTL = timedelta(days=1)

churn_features_source = PostgreSQLSource(
    name="mart_churn_features",
    query="""
        select * from analytics.mart_churn_features
        union all
        select * from analytics.mart_churn_scoring
        where feature_timestamp > (
            select coalesce(max(feature_timestamp), '-infinity'::timestamptz)
            from analytics.mart_churn_features
        )
    """,
    timestamp_field="feature_timestamp",
    description="dbt marts: one row per active user per weekly cutoff, plus the scoring cutoff.",
)

user_rfm = FeatureView(
    name="user_rfm",
    entities=[user],
    ttl=FEATURE_TTL,
    schema=[
        Field(name="recency_days", dtype=Float64, description="Days since the last order."),
        Field(name="frequency_orders", dtype=Int64, description="Orders in the window."),
        Field(
            name="monetary_value", dtype=Float64, description="Non-cancelled sales in the window."
        ),
        Field(name="avg_order_value", dtype=Float64),
        Field(
            name="avg_days_between_orders",
            dtype=Float64,
            description="Lifetime, NULL under 2 orders.",
        ),
    ],
    source=churn_features_source,
    online=True,
    tags={"group": "rfm"},
)

user_engagement = FeatureView(
    name="user_engagement",
    entities=[user],
    ttl=FEATURE_TTL,
    schema=[
        Field(name="sessions_count", dtype=Int64),
        Field(name="events_count", dtype=Int64),
        Field(name="product_views", dtype=Int64),
        Field(name="cart_adds", dtype=Int64),
        Field(name="purchase_events", dtype=Int64),
        Field(name="days_since_last_session", dtype=Float64),
    ],
    source=churn_features_source,
    online=True,
    tags={"group": "engagement"},
)

user_conversion = FeatureView(
    name="user_conversion",
    entities=[user],
    ttl=FEATURE_TTL,
    schema=[
        Field(name="view_to_cart_rate", dtype=Float64, description="NULL without product views."),
        Field(name="cart_to_purchase_rate", dtype=Float64, description="NULL without cart adds."),
        Field(name="cancelled_orders", dtype=Int64),
        Field(name="returned_orders", dtype=Int64),
    ],
    source=churn_features_source,
    online=True,
    tags={"group": "conversion"},
)

user_profile = FeatureView(
    name="user_profile",
    entities=[user],
    ttl=FEATURE_TTL,
    schema=[
        Field(name="tenure_days", dtype=Int64, description="Days since sign-up."),
        Field(name="traffic_source", dtype=String, description="Sign-up traffic source."),
        Field(name="age", dtype=Int64),
        Field(name="gender", dtype=String),
        Field(name="country", dtype=String),
    ],
    source=churn_features_source,
    online=True,
    tags={"group": "profile"},
)
