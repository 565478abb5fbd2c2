"""Every use of Feast's private names and of its Redis layout, in one module.

Written against Feast 0.67.0 (`FEAST_SERIES`; `pyproject.toml` pins `feast>=0.67,<0.68`). The
project's fast paths (Arrow materialization in `online_store`/`engine`, the prepared one-HMGET
read in `ecom.serving.online`) need what Feast does not publish: how it names a Redis key and a
hash field, how it encodes a timestamp and a double, its provider's store and client, the
hook where its local engine builds a materialization plan, and its PostgreSQL retrieval job's
query and connection (`offline_store` runs that query with planner settings). Nothing else in the package imports
a private Feast name or writes protobuf bytes by hand, so a Feast upgrade that changes any of
it fails in one place: `tests/integration/test_features.py::
test_feast_internals_adapter_matches_feasts_public_api`, which writes and reads through this
module and through Feast's public `write_to_online_store` and `get_online_features` on a real
Redis and compares bytes and values.

The serving read stays on the prepared HMGET rather than `get_online_features`: the public read
costs 0.34 ms a user against 0.06 ms (benchmarks/results/serving.md), which alone would take
`/predict` under its 60%-of-a-trivial-endpoint target.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from feast import utils
from feast.infra.common.materialization_job import MaterializationJobStatus
from feast.infra.compute_engines.local.compute import LocalComputeEngine
from feast.infra.compute_engines.local.job import LocalMaterializationJob
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import _mmh3, _redis_key, _redis_key_prefix
from feast.infra.online_stores.redis import _versioned_fv_name
from feast.infra.utils.postgres.connection_utils import _get_conn
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from google.protobuf.timestamp_pb2 import Timestamp

log = logging.getLogger(__name__)

FEAST_SERIES = "0.67"

if not version("feast").startswith(f"{FEAST_SERIES}."):
    log.warning(
        "ecom.features.feast_internals was written against Feast %s.x, found %s: run "
        "tests/integration/test_features.py::test_feast_internals_adapter_matches_feasts_public_api",
        FEAST_SERIES,
        version("feast"),
    )


# ------------------------------------------------------------------ the provider's parts


def online_store_of(store) -> Any:
    """The online store object a `FeatureStore` writes and reads through."""
    return store._get_provider().online_store


def batch_engine_of(store) -> Any:
    """The compute engine a `FeatureStore` materializes with."""
    return store._get_provider().batch_engine


def redis_client(online_store, store_config) -> Any:
    """The Redis store's own (lazily made, then shared) redis-py client."""
    return online_store._get_client(store_config)


# ------------------------------------------------------------------ the PostgreSQL offline store


def retrieval_query(job) -> Any:
    """A PostgreSQL retrieval job's query, as the context-manager factory the job holds."""
    return job._query_generator


def postgres_connection(offline_store_config) -> Any:
    """A psycopg connection (context manager) to the offline store, made as Feast makes it."""
    return _get_conn(offline_store_config)


# ------------------------------------------------------------------ Redis names


def view_key_name(view, config) -> str:
    """The name a view's fields are hashed under (its name, versioned if the registry says)."""
    return _versioned_fv_name(view, config)


def feature_field(view_key: str, feature: str) -> bytes:
    """The hash field holding one feature of one view: murmur3 of `<view>:<feature>`."""
    return _mmh3(f"{view_key}:{feature}")


def timestamp_field(view_key: str) -> bytes:
    """The hash field holding a view's event timestamp."""
    return f"_ts:{view_key}".encode()


def redis_key_layout(config, join_key: str) -> tuple[bytes, bytes] | None:
    """What comes before and after an int64 id's 8 little-endian bytes in Feast's Redis key
    (the serialized entity key, then the project), or None if Feast's layout is not that."""
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
        return [
            _redis_key(
                config.project,
                EntityKey(join_keys=[join_key], entity_values=[Value(int64_val=int(i))]),
                entity_key_serialization_version=config.entity_key_serialization_version,
            )
            for i in ids
        ]
    prefix, project = layout
    raw = np.asarray(ids).astype("<i8").tobytes()
    return [prefix + raw[start : start + 8] + project for start in range(0, len(raw), 8)]


def entity_redis_key(config, entity_key) -> bytes:
    """Feast's Redis key of one entity-key message (any join keys)."""
    return serialize_entity_key(
        entity_key, entity_key_serialization_version=config.entity_key_serialization_version
    ) + config.project.encode("utf-8")


def scan_keys(client, project: str, join_keys: Sequence[str], limit: int | None = None) -> list:
    """The Redis keys of this project's entities with these join keys (the first `limit`)."""
    pattern = _redis_key_prefix(list(join_keys)) + b"*" + project.encode("utf-8")
    found = client.scan_iter(match=pattern, count=limit or 10_000)
    return list(itertools.islice(found, limit) if limit else found)


# ------------------------------------------------------------------ values as Feast stores them


def encode_timestamp(moment: datetime) -> bytes:
    """A `_ts:<view>` field's bytes for one event time, as Feast's row write makes them."""
    proto = Timestamp()
    proto.FromDatetime(utils.make_tzaware(moment))
    return proto.SerializeToString()


def encode_timestamps(column) -> list[bytes]:
    """Each row's `_ts` bytes from an Arrow timestamp column, computed once per distinct
    instant (a snapshot has one), from the same `datetime` Feast's Arrow conversion makes."""
    instants = pd.to_datetime(column.to_numpy(zero_copy_only=False))
    codes, distinct = pd.factorize(instants)
    encoded = [encode_timestamp(utils._coerce_datetime(moment)) for moment in distinct]
    return [encoded[code] for code in codes]


def stamp_time(raw: bytes) -> datetime:
    """A serialized `_ts:<view>` field as an aware UTC datetime."""
    stamp = Timestamp()
    stamp.ParseFromString(raw)
    return stamp.ToDatetime(tzinfo=UTC)


def encode_doubles(column) -> list[bytes]:
    """A serialized `double_val` Value per row of an Arrow column, written from the protobuf
    wire format in one numpy pass: the tag (field 5, 64-bit), then the value's 8 little-endian
    bytes; NULL and NaN are Feast's empty Value (b"")."""
    tag = Value.DESCRIPTOR.fields_by_name["double_val"].number << 3 | 1
    values = column.to_numpy(zero_copy_only=False).astype("float64")
    packed = np.empty(len(values), dtype=[("tag", "u1"), ("value", "<f8")])
    packed["tag"], packed["value"] = tag, values
    raw = packed.tobytes()
    encoded = [raw[start : start + 9] for start in range(0, len(raw), 9)]
    for row in np.flatnonzero(np.isnan(values)):
        encoded[row] = b""
    return encoded


def arrow_rows(batch, view, join_keys: dict) -> list:
    """Feast's own conversion of an Arrow batch into (entity key, values, time, created) rows."""
    return utils._convert_arrow_to_proto(batch, view, join_keys)


# ------------------------------------------------------------------ the engine's plan hook


class BuilderComputeEngine(LocalComputeEngine):
    """Feast's local engine, materializing with the plan builder `feature_builder` names.

    Feast 0.67 offers no public way to choose the builder: its `_materialize_one` hard-codes
    `LocalFeatureBuilder`. This is that method with the class as an attribute; job ids and
    error reporting are Feast's."""

    feature_builder: ClassVar[type]

    def _materialize_one(self, registry, task, **kwargs) -> LocalMaterializationJob:
        job_id = f"{task.feature_view.name}-{task.start_time}-{task.end_time}"
        context = self.get_execution_context(registry, task)
        try:
            builder = self.feature_builder(registry, task, backend=self._get_backend(context))
            builder.build().execute(context)
        except Exception as error:  # reported as Feast's engine reports it: a failed job
            return LocalMaterializationJob(
                job_id=job_id, status=MaterializationJobStatus.ERROR, error=error
            )
        return LocalMaterializationJob(job_id=job_id, status=MaterializationJobStatus.SUCCEEDED)
