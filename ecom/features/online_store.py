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

Materialization goes further: the project's compute engine (`ecom.features.engine`) hands this
store Arrow batches (`write_arrow_batch`), so no value becomes a Python object and a protobuf
message per row. Doubles are encoded from the column in one numpy pass; every other column is
encoded once per distinct value by Feast's own `python_values_to_proto_values`; the entity key
is Feast's serialization with the user id's 8 bytes in place. What that needs of Feast's
internals (key and field names, the wire bytes) lives in `ecom.features.feast_internals`;
`tests/integration/test_features.py` checks that every byte in Redis is the same as Feast's
own engine writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from feast.infra.online_stores.redis import RedisOnlineStore, RedisOnlineStoreConfig
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType
from pydantic import model_validator

from ecom.features import feast_internals as internals
from ecom.features.connection import fill_redis_connection
from ecom.features.errors import OlderSnapshot

STORE_TYPE = "ecom.features.online_store.ProjectRedisOnlineStore"


class ProjectRedisOnlineStoreConfig(RedisOnlineStoreConfig):
    type: Literal["ecom.features.online_store.ProjectRedisOnlineStore"] = STORE_TYPE  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _connect_to_the_project(cls, values: Any) -> Any:
        return fill_redis_connection(values)


class ProjectRedisOnlineStore(RedisOnlineStore):
    """Feast's `RedisOnlineStore`; Feast finds a store class by its config class's name."""

    def redis_client(self, config) -> Any:
        """The store's Redis client (Feast's, made once)."""
        return internals.redis_client(self, config.online_store)

    def online_write_batch(
        self,
        config,
        table,
        data: Sequence[tuple[Any, dict[str, Any], datetime, datetime | None]],
        progress: Callable[[int], Any] | None,
    ) -> None:
        if not self.takes_arrow(config):
            super().online_write_batch(config, table, data, progress)
            return
        view = internals.view_key_name(table, config)
        ts_field = internals.timestamp_field(view)
        fields: dict[str, bytes] = {}
        stamps: dict[datetime, bytes] = {}
        with self.redis_client(config).pipeline(transaction=False) as pipe:
            for entity_key, values, timestamp, _ in data:
                stamp = stamps.get(timestamp)
                if stamp is None:
                    stamp = stamps[timestamp] = internals.encode_timestamp(timestamp)
                mapping: dict[Any, bytes] = {ts_field: stamp}
                for name, value in values.items():
                    field = fields.get(name)
                    if field is None:
                        field = fields[name] = internals.feature_field(view, name)
                    mapping[field] = value.SerializeToString()
                pipe.hset(internals.entity_redis_key(config, entity_key), mapping=mapping)
            results = pipe.execute()
        if progress:
            progress(len(results))

    # ------------------------------------------------------------------ Arrow batches

    def takes_arrow(self, config) -> bool:
        """Whether the writes here apply (`write_arrow_batch`, and the row write above): no
        read-before-write and no key TTL; otherwise Feast's own write runs."""
        store_config = config.online_store
        return bool(store_config.skip_dedup) and not store_config.key_ttl_seconds

    def write_arrow_batch(self, config, table, batch) -> None:
        """Write one Arrow batch of `table`'s source rows: the bytes Feast's own conversion
        and `online_write_batch` would write, computed column-wise."""
        join_keys = {entity.name: entity.dtype.to_value_type() for entity in table.entity_columns}
        keys = _redis_keys(config, join_keys, batch)
        if keys is None:  # not one int64 join key: Feast's conversion, then the row write
            self.online_write_batch(
                config, table, internals.arrow_rows(batch, table, join_keys), None
            )
            return
        view = internals.view_key_name(table, config)
        stamps = internals.encode_timestamps(batch.column(table.batch_source.timestamp_field))
        names: list[bytes] = [internals.timestamp_field(view)]
        columns: list[list[bytes]] = [stamps]
        for feature in table.features:
            values = batch.column(feature.name)
            value_type = feature.dtype.to_value_type()
            names.append(internals.feature_field(view, feature.name))
            columns.append(
                internals.encode_doubles(values)
                if value_type == ValueType.DOUBLE
                else _by_value(values, value_type)
            )
        _hset_rows(self.redis_client(config), keys, names, columns)

    def refuse_older_rows(self, config, table, batch, sample: int = 500) -> None:
        """Raise `OlderSnapshot` when the store holds `table` rows newer than every row of
        `batch`: the repo writes with `skip_dedup`, so without this an older snapshot would
        overwrite a newer one. A snapshot is written whole, so a sample of keys tells."""
        if batch.num_rows == 0:
            return
        newest = _instants(batch.column(table.batch_source.timestamp_field)).max()
        join_keys = [entity.name for entity in table.entity_columns]
        client = self.redis_client(config)
        keys = internals.scan_keys(client, config.project, join_keys, limit=sample)
        view = internals.view_key_name(table, config)
        held = newest_stamp(client, keys, [view])
        if held is not None and held > newest:
            raise OlderSnapshot(
                f"the online store holds {view} rows as of {held:%Y-%m-%d %H:%M}, newer than "
                f"the rows being written (as of {newest:%Y-%m-%d %H:%M}): an older snapshot never "
                "overwrites a newer one; rebuild the marts on the newer data (`ecom transform`) "
                "and materialize that"
            )

    def remove_older_rows(self, config, table, written) -> int:
        """Delete `table`'s fields for every user whose row is older than the newest row just
        written (`written`, the materialized Arrow table): after materializing a snapshot the
        store holds exactly it, whoever ran the materialization (`ecom features materialize`
        or the `feast` CLI), and users who left it are gone. Rows newer than the written ones
        are kept. Returns how many users' rows Redis reports deleted."""
        join_keys = {entity.name: entity.dtype.to_value_type() for entity in table.entity_columns}
        if written.num_rows == 0:
            return 0
        stamps = _instants(written.column(table.batch_source.timestamp_field))
        newest = stamps.max()
        keys = _redis_keys(config, join_keys, written)
        if keys is None:
            return 0
        current = {key for key, stamp in zip(keys, stamps, strict=True) if stamp == newest}
        view = internals.view_key_name(table, config)
        ts_field = internals.timestamp_field(view)
        client = self.redis_client(config)
        others = [
            key
            for key in internals.scan_keys(client, config.project, join_keys)
            if key not in current
        ]
        if not others:
            return 0
        with client.pipeline(transaction=False) as pipe:
            for key in others:
                pipe.hget(key, ts_field)
            held = pipe.execute()
        older = [
            key
            for key, raw in zip(others, held, strict=True)
            if raw is not None and internals.stamp_time(raw) < newest
        ]
        fields = [ts_field, *(internals.feature_field(view, f.name) for f in table.features)]
        with client.pipeline(transaction=False) as pipe:
            for key in older:
                pipe.hdel(key, *fields)
            deleted = pipe.execute()
        return sum(1 for count in deleted if count)


def _hset_rows(client, keys: list[bytes], names: list, columns: list[list[bytes]]) -> None:
    """One HSET per row (its fields from every column), in one pipeline."""
    with client.pipeline(transaction=False) as pipe:
        for row, key in enumerate(keys):
            arguments: list[bytes] = []
            for name, column in zip(names, columns, strict=True):
                arguments += (name, column[row])
            pipe.execute_command("HSET", key, *arguments)
        pipe.execute()


def _redis_keys(config, join_keys: dict, batch) -> list[bytes] | None:
    """Feast's Redis key per row of `batch` for one int64 join key, or None for any other
    entity (the caller then uses Feast's own conversion)."""
    if len(join_keys) != 1 or next(iter(join_keys.values())) != ValueType.INT64:
        return None
    name = next(iter(join_keys))
    column = batch.column(name)
    if column.null_count:
        return None
    return internals.redis_keys_for_ids(config, name, column.to_numpy(zero_copy_only=False))


def _instants(column) -> pd.DatetimeIndex:
    return pd.to_datetime(column.to_numpy(zero_copy_only=False), utc=True)


def newest_stamp(client, keys: Sequence[bytes], views: Sequence[str]) -> datetime | None:
    """The newest event timestamp the views hold for these Redis keys (None: no row)."""
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, [internals.timestamp_field(view) for view in views])
        replies = pipe.execute()
    moments = [internals.stamp_time(raw) for stamps in replies for raw in stamps if raw]
    return max(moments, default=None)


def _by_value(column, value_type) -> list[bytes]:
    """Feast's serialized `Value` of each row, converted once per distinct value (NULLs
    included), on the same numpy values Feast's conversion sees."""
    values = column.to_numpy(zero_copy_only=False)
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    encoded = [v.SerializeToString() for v in python_values_to_proto_values(distinct, value_type)]
    if (codes < 0).any():
        first_missing = int(np.flatnonzero(codes < 0)[0])
        missing = python_values_to_proto_values(
            values[first_missing : first_missing + 1], value_type
        )
        encoded.append(missing[0].SerializeToString())  # code -1 indexes it
    return [encoded[code] for code in codes]
