"""`ecom transform` on Spark: the same dbt project, built by dbt-spark.

Two of dbt-spark's connection methods, one profile target (`spark` in dbt/profiles.yml):
- session (`build_warehouse_on_spark`, what `ecom transform` uses): every statement goes
  through `SparkSession.builder.getOrCreate()`, so the session (and with it the master: local
  or a standalone cluster) is the one `ecom.spark.session.spark_session` created; asking for
  it here makes sure it exists first. dbt has to run in the driver process: one machine's runs.
- thrift (`build_warehouse_through_thrift`): dbt is a client of a Thrift server whose driver
  runs the SQL on the cluster's executors, as against a shared cluster (ecom/spark/thrift.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecom.config import Settings, temporary_environ
from ecom.transform import DbtRunSummary, build_warehouse

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from ecom.spark.thrift import ThriftServer

SPARK_TARGET = "spark"  # the output of dbt/profiles.yml


def build_warehouse_on_spark(
    settings: Settings, spark: SparkSession, *, command: str = "build", select: str | None = None
) -> DbtRunSummary:
    """`dbt build` (or `run`: models only) on Spark, from the `raw` database's tables."""
    if spark.sparkContext._jsc is None:  # a stopped session: dbt would start a default one
        raise RuntimeError("the Spark session is stopped: create one with spark_session()")
    return build_warehouse(settings, None, select=select, target=SPARK_TARGET, command=command)


def build_warehouse_through_thrift(
    settings: Settings, server: ThriftServer, *, command: str = "run", select: str | None = None
) -> DbtRunSummary:
    """`dbt run` (or `build`) through the Thrift server, from the `raw` tables in its catalogue
    (`ecom.spark.external.register_external_tables` puts them there)."""
    with temporary_environ(server.dbt_environment()):
        return build_warehouse(settings, None, select=select, target=SPARK_TARGET, command=command)
