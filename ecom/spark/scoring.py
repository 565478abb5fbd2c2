"""`ecom score` on Spark: the champion applied to the scoring mart per partition.

The scoring snapshot (`analytics.mart_churn_scoring`, built by dbt on Spark) never leaves the
executors as features: each partition arrives at `mapInPandas` as a pandas frame and goes
through `ChurnPredictor.predict`, the function the PostgreSQL path and the online service call,
so an encoding cannot differ between engines. The predictor travels to the executors inside the
closure (cloudpickle: the fitted pipeline and its booster), not as a path to a model on the
driver's disk, so workers on other machines need nothing but the package.

Only the predictions (a few columns per user) come back to the driver, where the
population-wide parts (percentiles, bands) are finished by the same `population_scores` as on
PostgreSQL. The scores are written as a Spark table (`analytics.churn_scores`) and then to
PostgreSQL exactly as today, for the service, the reports and the retention list
(`ecom.targeting.targets` builds it from the stored scores on either engine).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING

import pandas as pd

from ecom.churn.predict import ChurnPredictor
from ecom.churn.scoring import (
    SCORES_TABLE,
    ScoringSummary,
    champion_predictor,
    check_scoring_date,
    population_scores,
    scoring_summary,
    write_scores,
)
from ecom.config import Settings
from ecom.relations import SCORING_MART
from ecom.services import Endpoints

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

SCORING_MART_TABLE = ".".join(SCORING_MART)
# What each partition sends back: the columns `population_scores` reads.
PREDICTION_SCHEMA = (
    "user_id bigint, churn_probability double, risk_band string, is_high_risk boolean, "
    "recommended_action string, expected_value double, model_name string, "
    "model_version string"
)


def snapshot_date_on_spark(spark: SparkSession) -> date:
    """The scoring mart's one cutoff date (the day after the data ends)."""
    days = [
        row.cutoff_date
        for row in spark.sql(f"select distinct cutoff_date from {SCORING_MART_TABLE}").collect()
    ]
    if len(days) != 1:
        raise ValueError(
            f"{SCORING_MART_TABLE} must hold one cutoff_date, found {len(days)}: "
            f"{', '.join(str(day) for day in sorted(days)[:5])}"
        )
    return days[0]


def scoring_snapshot_on_spark(spark: SparkSession) -> pd.DataFrame:
    """Who the scoring mart holds on Spark, with what the churn-risk retention list ranks by
    (user_id, recency_days, cutoff_date): the list's users, read from this run's tables."""
    _require_scoring_mart(spark)
    columns = ["user_id", "recency_days", "cutoff_date"]
    frame = spark.table(SCORING_MART_TABLE).select(*columns).toPandas()
    return frame.sort_values("user_id", kind="mergesort").reset_index(drop=True)


def _require_scoring_mart(spark: SparkSession) -> None:
    if not spark.catalog.tableExists(SCORING_MART_TABLE):
        raise FileNotFoundError(
            f"{SCORING_MART_TABLE} does not exist on Spark: build the marts "
            "(ECOM_ENGINE=spark ecom transform)"
        )


def predict_partitions(features: DataFrame, predictor: ChurnPredictor, as_of: date) -> DataFrame:
    """Every row of `features` through `predictor.predict`, one pandas frame per batch of a
    partition, on the executors; lazy until an action reads it."""

    def predict(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in frames:
            predictions = predictor.predict(frame, features_as_of=as_of, explain=False).frame()
            yield predictions.drop(columns=["features_as_of"])

    return features.mapInPandas(predict, PREDICTION_SCHEMA)


def _write_spark_table(spark: SparkSession, name: str, frame: pd.DataFrame) -> None:
    """The latest snapshot's rows as a Parquet table (PostgreSQL keeps the history by date)."""
    spark.createDataFrame(frame).write.mode("overwrite").format("parquet").saveAsTable(name)


def score_users_on_spark(
    settings: Settings,
    endpoints: Endpoints,
    spark: SparkSession,
    *,
    scoring_date: date | None = None,
) -> ScoringSummary:
    """Score the Spark scoring mart with the champion on the executors; store the scores as a
    Spark table, then in PostgreSQL as `ecom.churn.scoring.score_users` does."""
    started = time.perf_counter()
    _require_scoring_mart(spark)
    as_of = snapshot_date_on_spark(spark)
    check_scoring_date(scoring_date, as_of)
    predictor = champion_predictor(settings)
    # dbt writes the mart in as few files as its last stage had tasks (one, for a small world):
    # spread the rows so that every executor core scores a share.
    features = spark.table(SCORING_MART_TABLE).repartition(spark.sparkContext.defaultParallelism)
    predictions = predict_partitions(features, predictor, as_of).toPandas()
    if predictions.empty:
        raise ValueError(f"{SCORING_MART_TABLE} is empty: no user is active as of the data's end")
    predictions = predictions.sort_values("user_id", kind="mergesort").reset_index(drop=True)
    predictions["features_as_of"] = as_of
    scores = population_scores(predictions, as_of)
    _write_spark_table(spark, SCORES_TABLE, scores)
    write_scores(endpoints.database_url, as_of, scores)
    log.info("scored on Spark (%s)", spark.sparkContext.master)
    return scoring_summary(settings, scores, predictor.model_version, as_of, started)
