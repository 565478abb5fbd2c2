"""The churn feature views as code, over any Feast data source.

`feature_repo/` registers them over the PostgreSQL marts (`PostgreSQLSource`); the Spark engine
builds the same views over the Spark marts (`SparkSource`, ecom/spark/features.py) so that
Feast's Spark offline store answers the training join. One definition of entity, views, TTL
and service keeps the two engines' training frames comparable column for column.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from ecom.features import contract

if TYPE_CHECKING:
    from feast import DataSource, Entity, FeatureService, FeatureView, Field

# Labels exist exactly at the history cutoffs, so the training join is at equal timestamps;
# one day (under the 7-day cutoff interval) means no weekly row stands in for a later cutoff.
FEATURE_TTL = timedelta(days=1)

# The source's rows: the weekly history cutoffs plus the scoring cutoff when it is not one of
# them. `{minimum}` is the engine's earliest timestamp literal.
SOURCE_QUERY = """
        select * from analytics.mart_churn_features
        union all
        select * from analytics.mart_churn_scoring
        where feature_timestamp > (
            select coalesce(max(feature_timestamp), {minimum})
            from analytics.mart_churn_features
        )
    """
SOURCE_DESCRIPTION = (
    "dbt marts: one row per active user per weekly cutoff, plus the scoring cutoff."
)


def user_entity() -> Entity:
    """The one entity churn features describe: a customer, keyed by TheLook's users.id."""
    from feast import Entity
    from feast.value_type import ValueType

    return Entity(
        name="user",
        join_keys=["user_id"],
        value_type=ValueType.INT64,
        description="A TheLook customer (users.id); every churn feature is per user and cutoff.",
    )


def contract_schema(group: contract.Group) -> list[Field]:
    """The view's fields: the group's features from the feature contract, in mart order, with
    the contract's Feast types and descriptions (the contract is the one list of features)."""
    import feast.types
    from feast import Field

    return [
        Field(
            name=feature.name,
            dtype=getattr(feast.types, feature.type.feast),
            description=feature.description,
        )
        for feature in contract.features_in(group)
    ]


def contract_view(group: contract.Group, source: DataSource, entity: Entity) -> FeatureView:
    """One online view per contract group, all over the one source: a group's features are
    written, read and described together (the view is named `user_<group>`)."""
    from feast import FeatureView

    return FeatureView(
        name=f"user_{group.value}",
        entities=[entity],
        ttl=FEATURE_TTL,
        schema=contract_schema(group),
        source=source,
        online=True,
        tags={"group": group.value},
    )


def churn_service(views: list[FeatureView]) -> FeatureService:
    """`churn_v1` over the views, in the contract's group order."""
    from feast import FeatureService

    return FeatureService(
        name=contract.FEATURE_SERVICE,
        features=views,
        description="Churn model features: RFM, engagement, conversion and profile.",
        tags={"model": "churn_prediction_advanced"},
    )
