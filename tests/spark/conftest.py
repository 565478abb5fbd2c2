"""One generated world, built on PostgreSQL and on a Spark standalone cluster, for the module.

The cluster is a master and two workers, each its own process on loopback (ecom/spark/cluster.py);
the driver's session connects to it, so dbt's models and batch scoring run on executors in
other processes. Everything Spark writes (warehouse, metastore, scratch, daemon logs) lives in
the test's temporary folder. The world is small (400 users): the point is equality between
the engines, and every Spark statement costs about a second of scheduling whatever its size.

Time is the budget here (issue 23: under five minutes added to `make test`), so:
- the Spark side boots in a background thread (cluster, session, raw load: other processes
  doing most of the work) while this thread builds the same world on PostgreSQL;
- every JVM runs with `SHORT_LIVED_JVM_OPTIONS` (C1 only, serial GC), which roughly halves
  the CPU Spark spends on this world;
- shuffles have two partitions, one per executor core (an application gets one core of each
  worker, so a Thrift server can run beside the session: test_spark_engine's thrift test).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ecom.config import Settings
from ecom.ingest.load import load_raw_tables
from ecom.ingest.report import LoadReport
from ecom.services import Endpoints
from ecom.spark.cluster import StandaloneCluster, standalone_cluster
from ecom.spark.raw import load_raw_tables_on_spark
from ecom.spark.session import SHORT_LIVED_JVM_OPTIONS, spark_session, stop_spark
from ecom.synth.campaign import CampaignPlan
from ecom.synth.generate import generate_dataset
from ecom.transform import build_warehouse
from tests.integration.dbt_databases import private_database

WORLD_USERS = 400
WORLD_SEED = 23
WORLD_END = dt.date(2024, 7, 1)
# Two workers of two cores and 2 GB each, and one core on each worker per application: the
# session's executors take one core and 1 GB of every worker (Spark's default executor memory),
# a Thrift server's (test_spark_engine's thrift test) the other; the machine has two cores.
WORKERS = 2
SHUFFLE_PARTITIONS = 2  # one per executor core

if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17+ (`java` is not on PATH)", allow_module_level=True)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("spark_world")
    # With the planted retention campaign, so mart_campaign_outcomes has rows to compare too.
    generate_dataset(
        WORLD_USERS, WORLD_SEED, folder, WORLD_END, progress=False, campaign=CampaignPlan()
    )
    return folder


@pytest.fixture(scope="session")
def postgres_world(
    ecom_settings: Settings, world: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Endpoints]]:
    """The world loaded and its models built (`dbt run`) on PostgreSQL, in a database of its own,
    with an MLflow registry of its own: the session's registry holds other tests' champions, and
    this module's champion must be crowned by its own first training, not measured against them."""
    home = tmp_path_factory.mktemp("spark_pg_home")
    with private_database(ecom_settings, "spark_pg") as (shared, endpoints):
        settings = shared.with_overrides(
            home=home, mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}"
        )
        load_raw_tables(endpoints.database_url, world, progress=False)
        build_warehouse(settings, endpoints, command="run")
        yield settings, endpoints


@dataclass(frozen=True)
class SparkSide:
    """What the background boot leaves: the cluster, the session on it (and its settings), the
    raw load's report."""

    cluster: StandaloneCluster
    settings: Settings
    session: object  # pyspark.sql.SparkSession
    load: LoadReport


def _boot_spark(stack: contextlib.ExitStack, base: Path, world: Path) -> SparkSide:
    cluster = stack.enter_context(
        standalone_cluster(
            base / "cluster",
            workers=WORKERS,
            cores_per_worker=2,
            memory_per_worker="2g",
            cores_per_application=WORKERS,
            java_options=SHORT_LIVED_JVM_OPTIONS,
        )
    )
    settings = Settings(_env_file=None).with_overrides(
        home=base / "home",
        engine="spark",
        spark_master=cluster.master_url,
        spark_dir=base / "home" / "spark",
        spark_java_options=SHORT_LIVED_JVM_OPTIONS,
    )
    session = spark_session(settings, shuffle_partitions=SHUFFLE_PARTITIONS)
    stack.callback(stop_spark)
    return SparkSide(cluster, settings, session, load_raw_tables_on_spark(session, world))


@pytest.fixture(scope="session")
def spark_boot(tmp_path_factory: pytest.TempPathFactory, world: Path) -> Iterator[Future]:
    """The cluster, the session and the raw load on Spark, started in a background thread
    (asked for before `postgres_world`, which this thread builds meanwhile)."""
    base = tmp_path_factory.mktemp("spark")
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(1, "spark-boot") as pool:
        future = pool.submit(_boot_spark, stack, base, world)
        try:
            yield future
        finally:
            future.exception()  # the boot finishes (or fails) before its parts are stopped


@pytest.fixture(scope="session")
def spark_side(spark_boot: Future, postgres_world: tuple[Settings, Endpoints]) -> SparkSide:
    return spark_boot.result()


@pytest.fixture(scope="session")
def spark_cluster(spark_side: SparkSide) -> StandaloneCluster:
    return spark_side.cluster


@pytest.fixture(scope="session")
def spark(spark_side: SparkSide):
    return spark_side.session


@pytest.fixture(scope="session")
def spark_load(spark_side: SparkSide) -> LoadReport:
    return spark_side.load


@pytest.fixture(scope="session")
def spark_settings(
    postgres_world: tuple[Settings, Endpoints],
    spark_side: SparkSide,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    """The PostgreSQL world's settings (same MLflow store and database for the scores) with a
    home of their own (dbt's target folder) and the booted session's Spark settings."""
    settings, _ = postgres_world
    booted = spark_side.settings
    return settings.with_overrides(
        home=tmp_path_factory.mktemp("spark_home"),
        engine=booted.engine,
        spark_master=booted.spark_master,
        spark_dir=booted.resolved_spark_dir,
        spark_java_options=booted.spark_java_options,
    )
