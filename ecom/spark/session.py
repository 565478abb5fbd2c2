"""The one SparkSession of a process, built from Settings.

Spark keeps one session per JVM and dbt-spark's session method picks up whatever session
exists (`SparkSession.builder.enableHiveSupport().getOrCreate()`), so the session is created
here first, with the choices the project relies on:

- the session time zone is UTC: the churn cutoffs are midnight UTC by contract, as on
  PostgreSQL (`use_utc_session`);
- the warehouse, the Hive metastore (Derby, driver-side) and Spark's scratch files live under
  ECOM_SPARK_DIR (default $ECOM_HOME/spark), never in the working directory, so parallel homes
  (tests, benchmarks) never share a metastore;
- the UI is off: nobody looks at it here and it takes a port;
- ECOM_SPARK_JAVA_OPTIONS is appended to the driver's and the executors' JVM flags
  (`SHORT_LIVED_JVM_OPTIONS` for small worlds);
- executors run this venv's python (`spark.pyspark.python`), else workers start the system
  python, which lacks pandas and the `ecom` package that `mapInPandas` needs.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ecom.config import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

# Spark's default (200) cuts a few hundred thousand rows into tasks of a few hundred rows each;
# every task costs a few milliseconds of scheduling on two cores.
DEFAULT_SHUFFLE_PARTITIONS = 8

# For JVMs that live a few minutes over a small world (the tests' 400 users): there the JIT's
# optimising compiler (C2) and the parallel collector's threads burn most of the CPU Spark
# uses, compiling code that runs a few times. C1 only (with room for its code: the default
# 48 MB cache fills and the JVM stops compiling) and the serial collector cut the CPU of the
# tests' raw load from about 72 to 24 s and of dbt run from 118 to 57 s on the two-worker
# cluster. Long jobs over big tables want C2: this is not the default.
SHORT_LIVED_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m -XX:+UseSerialGC"


def spark_folders(base: Path) -> dict[str, Path]:
    """Where the warehouse, the metastore and the scratch files go under `base`."""
    return {name: base / name for name in ("warehouse", "metastore", "scratch")}


def session_config(
    settings: Settings, *, master: str | None = None, shuffle_partitions: int | None = None
) -> dict[str, str]:
    """The Spark configuration a session of this project starts with (see the module doc)."""
    folders = spark_folders(settings.resolved_spark_dir)
    java_options = (
        f"-Dderby.system.home={folders['metastore']} -Djava.io.tmpdir={folders['scratch']} "
        f"-Duser.timezone=UTC {settings.spark_java_options}"
    ).strip()
    return {
        "spark.master": master or settings.spark_master,
        "spark.app.name": "ecom",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": str(folders["warehouse"]),
        "spark.sql.catalogImplementation": "hive",
        "spark.local.dir": str(folders["scratch"]),
        "spark.driver.extraJavaOptions": java_options,
        "spark.executor.extraJavaOptions": java_options,
        "spark.sql.shuffle.partitions": str(shuffle_partitions or DEFAULT_SHUFFLE_PARTITIONS),
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.executorEnv.PYSPARK_PYTHON": sys.executable,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }


def spark_session(
    settings: Settings, *, master: str | None = None, shuffle_partitions: int | None = None
) -> SparkSession:
    """The process's SparkSession, created on first use with `session_config`.

    A session that already exists is returned as it is (Spark allows one per JVM): a caller
    that needs another master stops it first (`stop_spark`)."""
    from pyspark.sql import SparkSession  # imported late: pyspark's import costs a second

    config = session_config(settings, master=master, shuffle_partitions=shuffle_partitions)
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    for folder in spark_folders(settings.resolved_spark_dir).values():
        folder.mkdir(parents=True, exist_ok=True)
    # pyspark reads these when it launches the JVM and the python workers.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    started = time.perf_counter()
    builder = SparkSession.builder
    for key, value in config.items():
        builder = builder.config(key, value)
    session = builder.enableHiveSupport().getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    log.info(
        "Spark session on %s in %.1f s (warehouse %s)",
        config["spark.master"],
        time.perf_counter() - started,
        config["spark.sql.warehouse.dir"],
    )
    return session


def stop_spark() -> None:
    """Stop the process's session, if any (its JVM stays; a new session can follow)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
