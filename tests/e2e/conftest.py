"""Each end-to-end module runs the pipeline in a world of its own.

The session's settings share one database, one Redis database and one MLflow registry among
every module a pytest-xdist worker runs. A pipeline module that ran after another one would
find that module's champion registered, its snapshot in Redis and its tables in `analytics`:
its own model then competes with a model of another world, and the drift check compares its
data with that world's (in CI the TheLook module, run after the demo-world module, saw 12 of 20
features "drift"). So these fixtures override the session's for the length of a module: a fresh
database, a Redis database flushed before and after, and a home (MLflow and Feast registries,
reports) of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from ecom.config import PostgresParts, Settings
from ecom.db import create_database, drop_database
from tests.isolation import exported_settings, worker_redis_url

# Below the session's Redis databases (15, 14, ... one per worker): 7, 6, ... one per worker.
E2E_REDIS_DB_OFFSET = 8


@pytest.fixture(scope="module")
def ecom_settings(
    ecom_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    assert ecom_settings.database_url and ecom_settings.redis_url
    server_url = ecom_settings.database_url
    database_url = create_database(server_url, f"ecom_e2e_{uuid.uuid4().hex[:10]}")
    redis_url = worker_redis_url(ecom_settings.redis_url, E2E_REDIS_DB_OFFSET)
    redis.Redis.from_url(redis_url).flushdb()
    home = tmp_path_factory.mktemp("e2e_home")
    try:
        with exported_settings(ecom_settings, home, database_url, redis_url) as settings:
            yield settings
    finally:
        redis.Redis.from_url(redis_url).flushdb()
        drop_database(server_url, PostgresParts(database_url).dbname)
