"""Feature views over the churn marts, grouped by what they describe; schemas from the contract.

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

import feast.types
from entities import user
from feast import FeatureView, Field
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (
    PostgreSQLSource,
)

from ecom.features import contract

FEATURE_TTL = timedelta(days=1)


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


def contract_view(group: contract.Group) -> FeatureView:
    """One online view per contract group, all over the one source: a group's features are
    written, read and described together (the view is named `user_<group>`)."""
    return FeatureView(
        name=f"user_{group.value}",
        entities=[user],
        ttl=FEATURE_TTL,
        schema=contract_schema(group),
        source=churn_features_source,
        online=True,
        tags={"group": group.value},
    )


# Module-level names: `feast apply` registers the FeatureView objects it finds here.
user_rfm = contract_view(contract.Group.RFM)
user_engagement = contract_view(contract.Group.ENGAGEMENT)
user_conversion = contract_view(contract.Group.CONVERSION)
user_profile = contract_view(contract.Group.PROFILE)
