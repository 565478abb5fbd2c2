"""Feast's Redis online store on the project's Redis, for `feature_store.yaml` to name.

The store itself is Feast's, unchanged; only its config differs: a `connection_string` the YAML
leaves out comes from `ECOM_REDIS_URL` or the running embedded Redis
(`ecom.features.connection`), so the `feast` CLI needs no exported `host:port` first.
"""

from __future__ import annotations

from typing import Any, Literal

from feast.infra.online_stores.redis import RedisOnlineStore, RedisOnlineStoreConfig
from pydantic import model_validator

from ecom.features.connection import fill_redis_connection

STORE_TYPE = "ecom.features.online_store.ProjectRedisOnlineStore"


class ProjectRedisOnlineStoreConfig(RedisOnlineStoreConfig):
    type: Literal["ecom.features.online_store.ProjectRedisOnlineStore"] = STORE_TYPE  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _connect_to_the_project(cls, values: Any) -> Any:
        return fill_redis_connection(values)


class ProjectRedisOnlineStore(RedisOnlineStore):
    """Feast's `RedisOnlineStore`; Feast finds a store class by its config class's name."""
