"""`ecom train` on Spark: the training set from Feast's Spark offline store, the rest unchanged.

Only the retrieval differs from `ecom.churn.training.train_churn_models`: the point-in-time
frame comes from the Spark marts (`training_frame_on_spark`) and the truth folder is checked
against Spark's `raw` tables. Splitting, fitting, MLflow tracking, the champion gate and
registration are `train_on_frame`, the same function the PostgreSQL path calls, so the same
rows give the same metrics and the same decision on either engine.

There is no GX verdict to consult on Spark (the suite runs on PostgreSQL,
`ecom.spark.coverage`): the data a Spark run trains on passed the loader's contract checks
and dbt's tests, and a failure in either stopped the run before training.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ecom.churn.oracle import SPARK_EPOCH_SECONDS, check_truth_matches, fingerprint_sql
from ecom.churn.training import ALL_CANDIDATES, TrainingResult, train_on_frame
from ecom.config import Settings
from ecom.features.store import service_columns
from ecom.spark.coverage import skipped_on_spark
from ecom.spark.features import spark_feature_store, training_frame_on_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


def loaded_data_fingerprint_on_spark(spark: SparkSession) -> dict[str, int]:
    """The generator's fingerprint computed from Spark's `raw` tables (the same query as on
    PostgreSQL but for the epoch expression)."""
    rows = spark.sql(fingerprint_sql(SPARK_EPOCH_SECONDS)).collect()
    return {name: int(value) for name, value in rows}


def train_churn_models_on_spark(
    settings: Settings,
    spark: SparkSession,
    *,
    truth_dir: Path | None = None,
    candidates: tuple[str, ...] = ALL_CANDIDATES,
) -> TrainingResult:
    """Train on the Spark training set and run `train_on_frame` on it (`candidates` lets a
    test or a benchmark fit fewer models)."""
    loaded = None
    if truth_dir is not None:
        loaded = loaded_data_fingerprint_on_spark(spark)
        check_truth_matches(Path(truth_dir), loaded)  # before the slow part
    log.info("training on Spark without a GX verdict: %s", skipped_on_spark("quality"))
    store = spark_feature_store(settings)
    frame = training_frame_on_spark(settings, spark, store=store)
    return train_on_frame(
        settings,
        frame,
        service_columns(store),
        truth_dir=truth_dir,
        loaded_fingerprint=loaded,
        candidates=candidates,
    )
