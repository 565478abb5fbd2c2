"""What gives a test session, or one module of it, a world of its own: a Redis database per
pytest-xdist worker and settings exported to the environment for the length of a block (dbt's
profile and Feast's YAML read the connection from there)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ecom import config
from ecom.config import RedisParts, Settings, connection_env, temporary_environ


def worker_redis_url(server_url: str, offset: int = 0) -> str:
    """Redis database `ECOM_TEST_REDIS_DB` (default 15) - offset - the worker's number (gw0: 0,
    gw1: 1, ...), on the server of `server_url`: parallel workers never flush each other's."""
    parts = RedisParts(server_url)
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    number = int(os.environ.get("ECOM_TEST_REDIS_DB", "15")) - offset - worker
    auth = f":{parts.password}@" if parts.password else ""
    return f"redis://{auth}{parts.host}:{parts.port}/{number}"


@contextmanager
def exported_settings(
    base: Settings, home: Path, database_url: str, redis_url: str
) -> Iterator[Settings]:
    """`base` pointed at `home` (its MLflow registry inside), the database and the Redis
    database, exported for the block; flows write the drift report and the model card under
    `home`, never into the checkout."""
    settings = base.with_overrides(
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
