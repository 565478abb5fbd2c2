"""`ecom features materialize` on Spark: the scoring snapshot from the Spark marts into Redis.

The online path does not change with the engine: the service reads the same Feast project's
views from the same Redis, keyed and encoded as Feast writes them. Only the rows' origin
changes. They are the rows PostgreSQL's materialization pulls from its source (the repo's
`SOURCE_QUERY` over the marts, at the scoring cutoff, one per user), selected by the same query
over the Spark marts dbt-spark built, and handed as Arrow to the repo's engine's snapshot write
(`ecom.features.engine.write_online_snapshot`): refuse an older snapshot, write, remove the
rows of users who left. Feast's registry records the interval, as `feast materialize` does.

The snapshot is a few dozen columns per active user, so it comes to the driver as Arrow (no
per-row Python) and goes to Redis from there; pipelining from the executors would save the
collect but open a Redis connection per partition for what takes seconds at 100k users.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import TYPE_CHECKING

from ecom.config import Settings
from ecom.features import feast_internals as internals
from ecom.features.engine import write_online_snapshot
from ecom.features.store import (
    FeatureDataMissing,
    MaterializeSummary,
    ScoringSnapshot,
    replace_online_snapshot,
)
from ecom.services import Endpoints
from ecom.spark.features import SPARK_SOURCE_QUERY
from ecom.spark.scoring import SCORING_MART_TABLE

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


def scoring_snapshot_rows_on_spark(spark: SparkSession) -> tuple[ScoringSnapshot, pa.Table]:
    """The scoring snapshot's identity and its rows (every source column), as Arrow in UTC."""
    if not spark.catalog.tableExists(SCORING_MART_TABLE):
        raise FeatureDataMissing(
            f"{SCORING_MART_TABLE} does not exist on Spark: build the marts first "
            "(ECOM_ENGINE=spark ecom transform)"
        )
    stamps = [
        row.feature_timestamp
        for row in spark.sql(
            f"select distinct feature_timestamp from {SCORING_MART_TABLE} limit 2"
        ).collect()
    ]
    if len(stamps) != 1:
        raise FeatureDataMissing(
            f"{SCORING_MART_TABLE} on Spark must hold one feature_timestamp (the scoring "
            f"cutoff), found {'none' if not stamps else 'several'}: rebuild it (`ecom transform`)"
        )
    # The session's time zone is UTC (ecom.spark.session), so the naive value is UTC.
    as_of = stamps[0].replace(tzinfo=UTC)
    rows = spark.sql(
        f"select * from ({SPARK_SOURCE_QUERY}) source "
        f"where feature_timestamp = timestamp'{as_of:%Y-%m-%d %H:%M:%S}'"
    ).toArrow()
    users = frozenset(int(user) for user in rows.column("user_id").to_pylist())
    if len(users) != rows.num_rows:
        raise FeatureDataMissing(
            f"{SCORING_MART_TABLE} on Spark holds {rows.num_rows} rows for {len(users)} users at "
            f"{as_of:%Y-%m-%d}: one per user expected; rebuild it (`ecom transform`)"
        )
    return ScoringSnapshot(as_of, users), rows


def materialize_features_on_spark(
    settings: Settings, endpoints: Endpoints, spark: SparkSession
) -> MaterializeSummary:
    """Make the online store hold exactly Spark's scoring snapshot, as `materialize_features`
    does with PostgreSQL's: same views, keys, bytes, refusal of an older snapshot and removal
    of the users who left it."""
    snapshot, rows = scoring_snapshot_rows_on_spark(spark)

    def write(store, views: list[str]) -> None:
        online_store = internals.online_store_of(store)
        for name in views:
            view = store.get_feature_view(name)
            write_online_snapshot(online_store, store.config, view, rows)
            store.registry.apply_materialization(
                view, store.project, snapshot.as_of, snapshot.as_of
            )

    summary = replace_online_snapshot(settings, endpoints, snapshot, write)
    log.info("online features from Spark (%s)", spark.sparkContext.master)
    return summary
