"""One generated world, built on PostgreSQL and on a Spark standalone cluster, for the module.

The cluster is a master and two workers, each its own process on loopback (ecom/spark/cluster.py);
the driver's session connects to it, so dbt's models and batch scoring run on executors in
other processes. Everything Spark writes (warehouse, metastore, scratch, daemon logs) lives in
the test's temporary folder. The world is small (400 users): the point is equality between
the engines, and every Spark statement costs about a second of scheduling whatever its size.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecom.config import Settings
from ecom.ingest.load import load_raw_tables
from ecom.services import Endpoints
from ecom.spark.cluster import StandaloneCluster, standalone_cluster
from ecom.spark.session import spark_session, stop_spark
from ecom.synth.campaign import CampaignPlan
from ecom.synth.generate import generate_dataset
from ecom.transform import build_warehouse
from tests.integration.dbt_databases import private_database

WORLD_USERS = 400
WORLD_SEED = 23
WORLD_END = dt.date(2024, 7, 1)

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
def postgres_world(ecom_settings: Settings, world: Path) -> Iterator[tuple[Settings, Endpoints]]:
    """The world loaded and its models built (`dbt run`) on PostgreSQL, in a database of its own."""
    with private_database(ecom_settings, "spark_pg") as (settings, endpoints):
        load_raw_tables(endpoints.database_url, world, progress=False)
        build_warehouse(settings, endpoints, command="run")
        yield settings, endpoints


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    with standalone_cluster(tmp_path_factory.mktemp("spark_cluster"), workers=2) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def spark_settings(
    postgres_world: tuple[Settings, Endpoints],
    spark_cluster: StandaloneCluster,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    """The PostgreSQL world's settings (same MLflow store and database for the scores) with a
    home of their own (dbt's target folder) and Spark on the cluster."""
    settings, _ = postgres_world
    home = tmp_path_factory.mktemp("spark_home")
    return settings.with_overrides(
        home=home, engine="spark", spark_master=spark_cluster.master_url, spark_dir=home / "spark"
    )


@pytest.fixture(scope="session")
def spark(spark_settings: Settings):
    session = spark_session(spark_settings, shuffle_partitions=4)
    yield session
    stop_spark()
