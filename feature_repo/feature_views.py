"""Feature views over `analytics.mart_churn_features`, grouped by what they describe.

The mart holds one row per (user_id, cutoff_date), stamped `feature_timestamp` = the cutoff at
00:00 UTC and computed only from data strictly before it, so Feast's point-in-time join
("latest row at or before the label's timestamp") can never see the future. The TTL equals
the 60-day feature window: a row older than that describes a window that no longer overlaps
the present, and the user counts as inactive.
"""

from datetime import timedelta

import feast.types
from entities import user
from feast import FeatureView, Field
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (
    PostgreSQLSource,
)

from ecom.features import contract

FEATURE_WINDOW = timedelta(days=60)


def contract_schema(group: contract.Group) -> list[Field]:
    """The view's fields: the group's features from the feature contract, in mart order, with
    the contract's Feast types and descriptions (the contract is the one list of features)."""
    return [
        Field(
            name=feature.name,
            dtype=getattr(feast.types, feature.type.feast),
            description=feature.description,
        )
        for feature in contract.features_in(group)
    ]


churn_features_source = PostgreSQLSource(
    name="mart_churn_features",
    table="analytics.mart_churn_features",
    timestamp_field="feature_timestamp",
    description="dbt mart: one row per active user per weekly cutoff (60-day window).",
)

user_rfm = FeatureView(
    name="user_rfm",
    entities=[user],
    ttl=FEATURE_WINDOW,
    schema=contract_schema(contract.Group.RFM),
    source=churn_features_source,
    online=True,
    tags={"group": "rfm"},
)

user_engagement = FeatureView(
    name="user_engagement",
    entities=[user],
    ttl=FEATURE_WINDOW,
    schema=contract_schema(contract.Group.ENGAGEMENT),
    source=churn_features_source,
    online=True,
    tags={"group": "engagement"},
)

user_conversion = FeatureView(
    name="user_conversion",
    entities=[user],
    ttl=FEATURE_WINDOW,
    schema=contract_schema(contract.Group.CONVERSION),
    source=churn_features_source,
    online=True,
    tags={"group": "conversion"},
)

user_profile = FeatureView(
    name="user_profile",
    entities=[user],
    ttl=FEATURE_WINDOW,
    schema=contract_schema(contract.Group.PROFILE),
    source=churn_features_source,
    online=True,
    tags={"group": "profile"},
)
