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
message per row. Doubles are encoded from the column in one numpy pass (the protobuf wire
format of a `double_val`: its tag byte, then 8 little-endian bytes; a NULL or NaN is Feast's
empty `Value`); every other column is encoded once per distinct value by Feast's own
`python_values_to_proto_values`; the entity key is Feast's serialization with the user id's
8 bytes in place. `tests/integration/test_features.py` checks that every byte in Redis is
the same as Feast's own engine writes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from feast.infra.online_stores.redis import RedisOnlineStore, RedisOnlineStoreConfig
from pydantic import model_validator

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
        client = self._get_client(config.online_store)
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

    # ------------------------------------------------------------------ Arrow batches

    def takes_arrow(self, config) -> bool:
        """Whether the writes here apply (`write_arrow_batch`, and the row write above): no
        read-before-write and no key TTL; otherwise Feast's own write runs."""
        store_config = config.online_store
        return bool(store_config.skip_dedup) and not store_config.key_ttl_seconds

    def write_arrow_batch(self, config, table, batch) -> None:
        """Write one Arrow batch of `table`'s source rows: the bytes Feast's own conversion
        and `online_write_batch` would write, computed column-wise."""
        from feast.infra.online_stores.helpers import _mmh3
        from feast.infra.online_stores.redis import _versioned_fv_name
        from feast.value_type import ValueType

        join_keys = {entity.name: entity.dtype.to_value_type() for entity in table.entity_columns}
        keys = _redis_keys(config, join_keys, batch)
        if keys is None:  # not one int64 join key: Feast's conversion, then the row write
            from feast.utils import _convert_arrow_to_proto

            rows = _convert_arrow_to_proto(batch, table, join_keys)
            self.online_write_batch(config, table, rows, None)
            return
        view = _versioned_fv_name(table, config)
        stamps = _timestamps(batch.column(table.batch_source.timestamp_field))
        columns: list[bytes | list[bytes]] = [f"_ts:{view}".encode(), stamps]
        for feature in table.features:
            value_type = feature.dtype.to_value_type()
            values = batch.column(feature.name)
            encoded = (
                _doubles(values)
                if value_type == ValueType.DOUBLE
                else _by_value(values, value_type)
            )
            columns += [_mmh3(f"{view}:{feature.name}"), encoded]
        names, values = columns[0::2], columns[1::2]
        _hset_rows(self._get_client(config.online_store), keys, names, values)

    def refuse_older_rows(self, config, table, batch, sample: int = 500) -> None:
        """Raise `OlderSnapshot` when the store holds `table` rows newer than every row of
        `batch`: the repo writes with `skip_dedup`, so without this an older snapshot would
        overwrite a newer one. A snapshot is written whole, so a sample of keys tells."""
        from feast.infra.online_stores.redis import _versioned_fv_name

        if batch.num_rows == 0:
            return
        newest = _instants(batch.column(table.batch_source.timestamp_field)).max()
        join_keys = [entity.name for entity in table.entity_columns]
        client = self._get_client(config.online_store)
        keys = scan_keys(client, config.project, join_keys, limit=sample)
        view = _versioned_fv_name(table, config)
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
        are kept. Returns how many users lost the view's row."""
        from feast.infra.online_stores.helpers import _mmh3
        from feast.infra.online_stores.redis import _versioned_fv_name

        join_keys = {entity.name: entity.dtype.to_value_type() for entity in table.entity_columns}
        if written.num_rows == 0:
            return 0
        stamps = _instants(written.column(table.batch_source.timestamp_field))
        newest = stamps.max()
        keys = _redis_keys(config, join_keys, written)
        if keys is None:
            return 0
        current = {key for key, stamp in zip(keys, stamps, strict=True) if stamp == newest}
        view = _versioned_fv_name(table, config)
        ts_field = f"_ts:{view}".encode()
        client = self._get_client(config.online_store)
        others = [key for key in scan_keys(client, config.project, join_keys) if key not in current]
        if not others:
            return 0
        with client.pipeline(transaction=False) as pipe:
            for key in others:
                pipe.hget(key, ts_field)
            held = pipe.execute()
        older = [
            key
            for key, raw in zip(others, held, strict=True)
            if raw is not None and stamp_time(raw) < newest
        ]
        fields = [ts_field, *(_mmh3(f"{view}:{feature.name}") for feature in table.features)]
        with client.pipeline(transaction=False) as pipe:
            for key in older:
                pipe.hdel(key, *fields)
            pipe.execute()
        return len(older)


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
    from feast.value_type import ValueType

    if len(join_keys) != 1 or next(iter(join_keys.values())) != ValueType.INT64:
        return None
    name = next(iter(join_keys))
    column = batch.column(name)
    if column.null_count:
        return None
    return redis_keys_for_ids(config, name, column.to_numpy(zero_copy_only=False))


def redis_key_layout(config, join_key: str) -> tuple[bytes, bytes] | None:
    """What comes before and after an int64 id's 8 little-endian bytes in Feast's Redis key
    (the serialized entity key, then the project), or None if Feast's layout is not that."""
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    probe = np.int64(-2)  # any id: its serialization must end in its 8 little-endian bytes
    serialized = serialize_entity_key(
        EntityKey(join_keys=[join_key], entity_values=[Value(int64_val=int(probe))]),
        entity_key_serialization_version=config.entity_key_serialization_version,
    )
    if not serialized.endswith(probe.tobytes()):
        return None
    return serialized[:-8], config.project.encode("utf-8")


def redis_keys_for_ids(
    config, join_key: str, ids, layout: tuple[bytes, bytes] | None = None
) -> list[bytes]:
    """Feast's Redis key of each int64 id, in order: the ids' bytes put into the key layout
    (`redis_key_layout`, computed here unless given), else Feast's serialization per id."""
    layout = layout or redis_key_layout(config, join_key)
    if layout is None:
        from feast.infra.online_stores.helpers import _redis_key
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        version = config.entity_key_serialization_version
        return [
            _redis_key(
                config.project,
                EntityKey(join_keys=[join_key], entity_values=[Value(int64_val=int(i))]),
                entity_key_serialization_version=version,
            )
            for i in ids
        ]
    prefix, project = layout
    raw = np.asarray(ids).astype("<i8").tobytes()
    return [prefix + raw[start : start + 8] + project for start in range(0, len(raw), 8)]


def scan_keys(client, project: str, join_keys: Sequence[str], limit: int | None = None) -> list:
    """The Redis keys of this project's entities with these join keys (the first `limit`)."""
    from feast.infra.online_stores.helpers import _redis_key_prefix

    pattern = _redis_key_prefix(list(join_keys)) + b"*" + project.encode("utf-8")
    found = client.scan_iter(match=pattern, count=limit or 10_000)
    return list(itertools.islice(found, limit) if limit else found)


def stamp_time(raw: bytes) -> datetime:
    """A serialized `_ts:<view>` field as an aware UTC datetime."""
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp()
    stamp.ParseFromString(raw)
    return stamp.ToDatetime(tzinfo=UTC)


def _instants(column) -> pd.DatetimeIndex:
    return pd.to_datetime(column.to_numpy(zero_copy_only=False), utc=True)


def newest_stamp(client, keys: Sequence[bytes], views: Sequence[str]) -> datetime | None:
    """The newest event timestamp the views hold for these Redis keys (None: no row)."""
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, [f"_ts:{view}" for view in views])
        replies = pipe.execute()
    moments = [stamp_time(raw) for stamps in replies for raw in stamps if raw is not None]
    return max(moments, default=None)


def _timestamps(column) -> list[bytes]:
    """Each row's serialized `Timestamp`, computed once per distinct instant (a snapshot has
    one), from the same `datetime` Feast's conversion makes."""
    from feast import utils
    from google.protobuf.timestamp_pb2 import Timestamp

    instants = pd.to_datetime(column.to_numpy(zero_copy_only=False))
    codes, distinct = pd.factorize(instants)
    encoded = []
    for moment in distinct:
        proto = Timestamp()
        proto.FromDatetime(utils.make_tzaware(utils._coerce_datetime(moment)))
        encoded.append(proto.SerializeToString())
    return [encoded[code] for code in codes]


def _by_value(column, value_type) -> list[bytes]:
    """Feast's serialized `Value` of each row, converted once per distinct value (NULLs
    included), on the same numpy values Feast's conversion sees."""
    from feast.type_map import python_values_to_proto_values

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


def _doubles(column) -> list[bytes]:
    """A `double_val` Value per row: wire tag (field 5, 64-bit), then the value's 8 bytes;
    NULL and NaN are Feast's empty Value (b"")."""
    from feast.protos.feast.types.Value_pb2 import Value

    tag = Value.DESCRIPTOR.fields_by_name["double_val"].number << 3 | 1
    values = column.to_numpy(zero_copy_only=False).astype("float64")
    packed = np.empty(len(values), dtype=[("tag", "u1"), ("value", "<f8")])
    packed["tag"], packed["value"] = tag, values
    raw = packed.tobytes()
    encoded = [raw[start : start + 9] for start in range(0, len(raw), 9)]
    for row in np.flatnonzero(np.isnan(values)):
        encoded[row] = b""
    return encoded
