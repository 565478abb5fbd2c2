"""The churn training set on Spark, retrieved through Feast's Spark offline store.

The feature views are the repo's (`ecom.features.views`: same entity, groups, schemas, TTL and
`churn_v1` service) over a `SparkSource` reading the Spark marts that dbt-spark built, and the
entity rows are the same SQL over the Spark labels mart, so Feast's own point-in-time join
runs on the executors. The views go to a file registry of their own under ECOM_SPARK_DIR: the
project's SQL registry keeps the PostgreSQL sources the online path materializes from.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import pandas as pd

from ecom.config import Settings
from ecom.features import contract
from ecom.features.store import TRAINING_ENTITY_SQL, ordered_training_frame
from ecom.features.views import (
    SOURCE_DESCRIPTION,
    SOURCE_QUERY,
    churn_service,
    contract_view,
    user_entity,
)
from ecom.relations import FEATURES_MART

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

# The repo's source query in Spark SQL: the churn views' rows over the Spark marts (Feast's
# Spark offline store reads it; the Spark engine's materialization selects the snapshot from it).
SPARK_SOURCE_QUERY = SOURCE_QUERY.format(minimum="timestamp'0001-01-01 00:00:00'")

# Feast turns this on in the session for its generated SQL; it changes how backquoted names
# parse, so it is put back afterwards for whatever runs next in the session (dbt).
_FEAST_PARSER_FLAG = "spark.sql.parser.quotedRegexColumnNames"


def spark_feature_store(settings: Settings):
    """A Feast store whose offline store is Spark and whose registry holds the churn views
    over the Spark marts (applied on every call: a few objects, idempotent)."""
    from feast import FeatureStore, RepoConfig
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

    folder = settings.resolved_spark_dir / "feast"
    folder.mkdir(parents=True, exist_ok=True)
    config = RepoConfig(
        project="ecom_churn_spark",
        provider="local",
        entity_key_serialization_version=3,
        registry={"registry_type": "file", "path": str(folder / "registry.db")},
        offline_store={"type": "spark"},
        online_store={"type": "sqlite", "path": str(folder / "online.db")},
        repo_path=folder,
    )
    store = FeatureStore(config=config)
    source = SparkSource(
        name="mart_churn_features",
        query=SPARK_SOURCE_QUERY,
        timestamp_field="feature_timestamp",
        description=SOURCE_DESCRIPTION,
    )
    entity = user_entity()
    views = [contract_view(group, source, entity) for group in contract.Group]
    store.apply([entity, source, *views, churn_service(views)])
    return store


def training_frame_on_spark(settings: Settings, spark: SparkSession, store=None) -> pd.DataFrame:
    """The labelled training set from the Spark marts through Feast's Spark offline store,
    shaped and ordered as `ecom.features.store.training_frame` shapes PostgreSQL's (`store`:
    a `spark_feature_store` already applied, else one is)."""
    store = store or spark_feature_store(settings)
    service = store.get_feature_service(contract.FEATURE_SERVICE)
    started = time.perf_counter()
    flag = spark.conf.get(_FEAST_PARSER_FLAG, "false")
    try:
        job = store.get_historical_features(entity_df=TRAINING_ENTITY_SQL, features=service)
        frame = job.to_df()
    finally:
        spark.conf.set(_FEAST_PARSER_FLAG, flag)
    frame = ordered_training_frame(frame)
    log.info(
        "training frame on Spark: %d rows in %.1f s", len(frame), time.perf_counter() - started
    )
    return frame


def missing_feature_rows_on_spark(spark: SparkSession) -> str | None:
    """What is wrong with the Spark features mart for training (absent, or empty), or None."""
    name = ".".join(FEATURES_MART)
    if not spark.catalog.tableExists(name):
        return f"{name} does not exist on Spark; build the marts with `ecom transform`"
    if not spark.table(name).limit(1).collect():
        return (
            f"{name} is empty on Spark: no user of the loaded data had an event or an order "
            "in the feature window before any weekly cutoff"
        )
    return None
