"""Shared fixtures: one real PostgreSQL and one real Redis for the whole test session.

With `ECOM_DATABASE_URL` / `ECOM_REDIS_URL` set, tests run against those servers, in a fresh
database created for the session (and dropped after) and in Redis database
`ECOM_TEST_REDIS_DB` (default 15, flushed). Otherwise they start the embedded servers under a
temporary `ECOM_HOME`, exactly as a user's first `ecom` command would.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ecom import config
from ecom.config import PostgresParts, RedisParts, Settings, connection_env, temporary_environ
from ecom.db import create_database, drop_database
from ecom.services import ensure_services, stop_services

# With pyspark installed, Great Expectations imports `pyspark.sql.connect`, whose import calls
# sys.exit when `__main__` has no `__file__`: true inside pytest-xdist workers (execnet runs
# them from a string), where every GX test would then die. A path gives the check its answer.
if not hasattr(sys.modules["__main__"], "__file__"):
    sys.modules["__main__"].__file__ = __file__


@pytest.fixture(scope="session")
def ecom_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings naming a real, empty database and Redis; also exported to os.environ
    because dbt's profile and Feast's YAML read the environment."""
    home = tmp_path_factory.mktemp("ecom_home")
    server_url = os.environ.get("ECOM_DATABASE_URL")
    redis_server_url = os.environ.get("ECOM_REDIS_URL")
    embedded_settings = Settings(_env_file=None).with_overrides(
        home=home, database_url=None, redis_url=None
    )
    if server_url is None or redis_server_url is None:
        endpoints = ensure_services(
            Settings(_env_file=None).with_overrides(
                home=home, database_url=server_url, redis_url=redis_server_url
            )
        )
        server_url, redis_server_url = endpoints.database_url, endpoints.redis_url
    database_url = create_database(server_url, f"ecom_test_{uuid.uuid4().hex[:10]}")
    # One Redis database per pytest-xdist worker (gw0: 15, gw1: 14, ...), so parallel workers
    # against one configured Redis never flush each other's.
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    test_db = int(os.environ.get("ECOM_TEST_REDIS_DB", "15")) - worker
    redis_parts = RedisParts(redis_server_url)
    redis_url = f"redis://{redis_parts.host}:{redis_parts.port}/{test_db}"
    if redis_parts.password:
        redis_url = (
            f"redis://:{redis_parts.password}@{redis_parts.host}:{redis_parts.port}/{test_db}"
        )
    redis.Redis.from_url(redis_url).flushdb()

    settings = Settings(_env_file=None).with_overrides(
        home=home,
        database_url=database_url,
        redis_url=redis_url,
        mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
    )
    env = connection_env(database_url, redis_url, settings)
    # Flows write the drift report and the model card here, never into the checkout.
    env |= {
        "ECOM_REPORTS_DIR": str(home / "reports"),
        "ECOM_MODEL_CARD": str(home / "card.md"),
        "ECOM_DOCS_DIR": str(home / "docs"),
        # Prefect's ephemeral server keeps its SQLite database under PREFECT_HOME: one per
        # session, so parallel workers (and the user's own ~/.prefect) never share it.
        "PREFECT_HOME": str(home / "prefect"),
    }
    try:
        with temporary_environ(env):
            config.get_settings.cache_clear()
            yield settings
    finally:
        config.get_settings.cache_clear()
        redis.Redis.from_url(redis_url).flushdb()
        drop_database(server_url, PostgresParts(database_url).dbname)
        stop_services(embedded_settings, purge=True)


@pytest.fixture(scope="session")
def database_url(ecom_settings: Settings) -> str:
    assert ecom_settings.database_url is not None
    return ecom_settings.database_url


@pytest.fixture(scope="session")
def redis_url(ecom_settings: Settings) -> str:
    assert ecom_settings.redis_url is not None
    return ecom_settings.redis_url


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def _connection_environment_restored() -> Iterator[None]:
    """Each module leaves the connection variables it found as it found them.

    Building a feature store exports its endpoints into os.environ (Feast and dbt read them
    there), so a module that works on a database or Redis of its own would otherwise leave
    them behind for every module after it. Variables that appear during the module (the
    session's own, on first use) stay."""
    prefixes = ("ECOM_", "PG", "MLFLOW_")
    saved = {key: value for key, value in os.environ.items() if key.startswith(prefixes)}
    yield
    if any(os.environ.get(key) != value for key, value in saved.items()):
        os.environ.update(saved)
        config.get_settings.cache_clear()
