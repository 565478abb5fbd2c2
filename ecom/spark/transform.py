"""`ecom transform` on Spark: the same dbt project, built by dbt-spark in this process's session.

dbt-spark's session method runs every statement through `SparkSession.builder.getOrCreate()`,
so the session (and with it the master: local or a standalone cluster) is the one
`ecom.spark.session.spark_session` created; asking for it here makes sure it exists first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecom.config import Settings
from ecom.transform import DbtRunSummary, build_warehouse

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SPARK_TARGET = "spark"  # the output of dbt/profiles.yml


def build_warehouse_on_spark(
    settings: Settings, spark: SparkSession, *, command: str = "build", select: str | None = None
) -> DbtRunSummary:
    """`dbt build` (or `run`: models only) on Spark, from the `raw` database's tables."""
    if spark.sparkContext._jsc is None:  # a stopped session: dbt would start a default one
        raise RuntimeError("the Spark session is stopped: create one with spark_session()")
    return build_warehouse(settings, None, select=select, target=SPARK_TARGET, command=command)
