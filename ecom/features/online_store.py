"""Feast's Redis online store on the project's Redis, for `feature_store.yaml` to name.

The store is Feast's; its config differs only in that a `connection_string` the YAML leaves
out comes from `ECOM_REDIS_URL` or the running embedded Redis (`ecom.features.connection`), so
the `feast` CLI needs no exported `host:port` first.

Its write is Feast's `skip_dedup` write with the per-row work that is the same for every row
done once per batch: the murmur3 hash of each `<view>:<feature>` field name (Feast hashes it
again for every row: 20 hashes a user) and the serialized event timestamp (a snapshot has
one). The bytes written are Feast's own (same keys, fields and values), and because the
`feast` CLI loads this class from the YAML too, `feast materialize` and
`ecom features materialize` write through the same code. With dedup on or a key TTL set,
Feast's own write runs unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
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

    def online_write_batch(
        self,
        config,
        table,
        data: Sequence[tuple[Any, dict[str, Any], datetime, datetime | None]],
        progress: Callable[[int], Any] | None,
    ) -> None:
        store_config = config.online_store
        if not store_config.skip_dedup or store_config.key_ttl_seconds:
            super().online_write_batch(config, table, data, progress)
            return
        from feast import utils
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.infra.online_stores.helpers import _mmh3
        from feast.infra.online_stores.redis import _versioned_fv_name
        from google.protobuf.timestamp_pb2 import Timestamp

        view = _versioned_fv_name(table, config)
        ts_key = f"_ts:{view}"
        project = config.project.encode("utf-8")
        version = config.entity_key_serialization_version
        fields: dict[str, bytes] = {}
        stamps: dict[datetime, bytes] = {}
        client = self._get_client(store_config)
        with client.pipeline(transaction=False) as pipe:
            for entity_key, values, timestamp, _ in data:
                stamp = stamps.get(timestamp)
                if stamp is None:
                    proto = Timestamp()
                    proto.FromDatetime(utils.make_tzaware(timestamp))
                    stamp = stamps[timestamp] = proto.SerializeToString()
                mapping: dict[Any, bytes] = {ts_key: stamp}
                for name, value in values.items():
                    field = fields.get(name)
                    if field is None:
                        field = fields[name] = _mmh3(f"{view}:{name}")
                    mapping[field] = value.SerializeToString()
                key = serialize_entity_key(entity_key, entity_key_serialization_version=version)
                pipe.hset(key + project, mapping=mapping)
            results = pipe.execute()
        if progress:
            progress(len(results))
