"""Each end-to-end module runs the pipeline in a world of its own.

The session's settings share one database, one Redis database and one MLflow registry among
every module a pytest-xdist worker runs. A pipeline module that ran after another one would
find that module's champion registered, its snapshot in Redis and its tables in `analytics`:
its own model then competes with a model of another world, and the drift check compares its
data with that world's. So these fixtures override the session's for the length of a module:
a fresh database, a Redis database flushed before and after, and a home (MLflow registry,
Feast registry, reports) of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from ecom import config
from ecom.config import PostgresParts, RedisParts, Settings, connection_env, temporary_environ
from ecom.db import create_database, drop_database

# Below the session's Redis databases (15, 14, ... one per worker): 7, 6, ... one per worker.
E2E_REDIS_DB_OFFSET = 8


def _module_redis_url(session_redis_url: str) -> str:
    parts = RedisParts(session_redis_url)
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    number = int(os.environ.get("ECOM_TEST_REDIS_DB", "15")) - E2E_REDIS_DB_OFFSET - worker
    auth = f":{parts.password}@" if parts.password else ""
    return f"redis://{auth}{parts.host}:{parts.port}/{number}"


@pytest.fixture(scope="module")
def ecom_settings(
    ecom_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    assert ecom_settings.database_url and ecom_settings.redis_url
    home = tmp_path_factory.mktemp("e2e_home")
    name = f"ecom_e2e_{uuid.uuid4().hex[:10]}"
    database_url = create_database(ecom_settings.database_url, name)
    redis_url = _module_redis_url(ecom_settings.redis_url)
    redis.Redis.from_url(redis_url).flushdb()
    settings = ecom_settings.with_overrides(
        home=home,
        database_url=database_url,
        redis_url=redis_url,
        mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
    )
    env = connection_env(database_url, redis_url, settings) | {
        "ECOM_REPORTS_DIR": str(home / "reports"),
        "ECOM_MODEL_CARD": str(home / "card.md"),
        "ECOM_DOCS_DIR": str(home / "docs"),
    }
    try:
        with temporary_environ(env):
            config.get_settings.cache_clear()
            yield settings
    finally:
        config.get_settings.cache_clear()
        redis.Redis.from_url(redis_url).flushdb()
        drop_database(ecom_settings.database_url, PostgresParts(database_url).dbname)


@pytest.fixture(scope="module")
def database_url(ecom_settings: Settings) -> str:
    assert ecom_settings.database_url is not None
    return ecom_settings.database_url


@pytest.fixture(scope="module")
def redis_url(ecom_settings: Settings) -> str:
    assert ecom_settings.redis_url is not None
    return ecom_settings.redis_url
