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
from ecom.config import PostgresParts, Settings, temporary_environ
from ecom.db import create_database, drop_database
from ecom.services import ensure_services, stop_services
from tests.isolation import exported_settings, worker_redis_url

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
    redis_url = worker_redis_url(redis_server_url)
    redis.Redis.from_url(redis_url).flushdb()
    # Prefect's ephemeral server keeps its SQLite database under PREFECT_HOME: one per session,
    # so parallel workers (and the user's own ~/.prefect) never share it.
    try:
        with (
            temporary_environ({"PREFECT_HOME": str(home / "prefect")}),
            exported_settings(Settings(_env_file=None), home, database_url, redis_url) as settings,
        ):
            yield settings
    finally:
        redis.Redis.from_url(redis_url).flushdb()
        drop_database(server_url, PostgresParts(database_url).dbname)
        stop_services(embedded_settings, purge=True)


# Module scope, so a folder that overrides `ecom_settings` for its modules (tests/e2e) gets
# these from its own settings too.
@pytest.fixture(scope="module")
def database_url(ecom_settings: Settings) -> str:
    assert ecom_settings.database_url is not None
    return ecom_settings.database_url


@pytest.fixture(scope="module")
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
