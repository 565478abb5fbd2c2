"""The request-time read: the `churn_v1` features Redis holds for some users, with their event
timestamps, through Feast's Redis online store with everything but the key prepared once.

`FeatureStore.get_online_features` re-plans every call: it resolves the feature references,
groups them by view, builds entity-key protobufs per view, murmur3-hashes every field name, and
runs one HMGET per view before assembling a response table (about 1 ms of CPU for one user on
a busy core, against 0.05 ms for the raw HGETALL; benchmarks/results/serving.md). All of that
but the user's key is the same for every request, so it is done here once per process, from
the resolved feature service and Feast's key and field names (`ecom.features.feast_internals`,
the one module that knows them; the public `get_online_features` costs five times as much a
user, benchmarks/results/serving.md): the hash each view writes for a
user is the same Redis hash (keyed by the entity key and project), so one HMGET fetches every
view's fields and timestamps. Values are decoded with Feast's own protobuf types and
`feast_value_type_to_python_type`, so a value reads exactly as `get_online_features` returns it.

An unknown user has no `_ts:<view>` fields: the timestamps, not the values, say whether a row
exists, so a user is never scored from empty features.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ecom.features import feast_internals as internals
from ecom.features.store import ENTITY_KEY, FEATURE_SERVICE

log = logging.getLogger(__name__)

# Value kinds `feast_value_type_to_python_type` returns as they are: read them directly (the
# function's checks for JSON, collections, maps and timestamps cost more than the read).
_PLAIN_KINDS = frozenset(
    ("int32_val", "int64_val", "float_val", "double_val", "string_val", "bool_val", "bytes_val")
)


class OnlineStoreUnavailable(RuntimeError):
    """Redis cannot be reached (or answered with an error)."""


@dataclass(frozen=True)
class OnlineRows:
    """Feature columns by name (one value per requested user) and each user's event time."""

    user_ids: list[int]
    columns: dict[str, list]
    event_times: list[datetime | None]


def fail_fast(client) -> None:
    """Make Feast's Redis client fail in a millisecond when Redis is down.

    redis-py 7 retries a refused connection three times with exponential backoff, so every
    request during an outage would hang about 4 s before its 503. One immediate retry is kept:
    after Redis comes back, the first command on a pooled dead connection fails once and the
    retry reconnects, so the service recovers by itself."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    if hasattr(client, "set_retry"):
        client.set_retry(Retry(NoBackoff(), 1))


@dataclass(frozen=True)
class _ViewFields:
    """One feature view's slice of the HMGET: its feature names, then its timestamp field."""

    names: tuple[str, ...]
    start: int  # index of the view's first field in the HMGET reply; its timestamp follows


class OnlineFeatureReader:
    """One Feast store, the resolved `churn_v1` service and its Redis fields, for the life of
    the process."""

    def __init__(self, store, feature_service: str = FEATURE_SERVICE) -> None:
        self.store = store
        self.service = store.get_feature_service(feature_service)
        self.feature_names = [
            feature.name
            for projection in self.service.feature_view_projections
            for feature in projection.features
        ]
        self._client = internals.redis_client(
            internals.online_store_of(store), store.config.online_store
        )
        fail_fast(self._client)
        fields: list[bytes] = []
        self._views: list[_ViewFields] = []
        for projection in self.service.feature_view_projections:
            view_key = internals.view_key_name(
                store.get_feature_view(projection.name), store.config
            )
            names = [feature.name for feature in projection.features]
            self._views.append(_ViewFields(tuple(names), len(fields)))
            fields += [internals.feature_field(view_key, name) for name in names]
            fields.append(internals.timestamp_field(view_key))
        self._fields = fields
        self._key_layout = internals.redis_key_layout(store.config, ENTITY_KEY)

    def redis_keys(self, user_ids: Sequence[int]) -> list[bytes]:
        """Feast's Redis key of each user: the serialized entity key, then the project."""
        return internals.redis_keys_for_ids(
            self.store.config, ENTITY_KEY, user_ids, self._key_layout
        )

    def read(self, user_ids: Sequence[int]) -> OnlineRows:
        """One round trip for all `user_ids` (one HMGET each). A user's event time is the
        oldest of its views' timestamps (None when any view has no row for it)."""
        import redis

        keys = self.redis_keys(user_ids)
        try:
            if len(keys) == 1:
                replies = [self._client.hmget(keys[0], self._fields)]
            else:
                with self._client.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.hmget(key, self._fields)
                    replies = pipe.execute()
        except (redis.exceptions.RedisError, OSError) as error:
            raise OnlineStoreUnavailable(f"Redis is unreachable: {error}") from error
        columns: dict[str, list] = {name: [] for name in self.feature_names}
        event_times = [self._decode(reply, columns) for reply in replies]
        return OnlineRows(
            user_ids=[int(user_id) for user_id in user_ids],
            columns=columns,
            event_times=event_times,
        )

    def _decode(self, reply: list[bytes | None], columns: dict[str, list]) -> datetime | None:
        """Append one user's values to `columns`; return its event time (None: no row)."""
        from feast.protos.feast.types.Value_pb2 import Value
        from feast.type_map import feast_value_type_to_python_type

        oldest: datetime | None = None
        missing = False
        for view in self._views:
            stamp_bytes = reply[view.start + len(view.names)]
            if not stamp_bytes:
                missing = True
            else:
                moment = internals.stamp_time(stamp_bytes)
                oldest = moment if oldest is None or moment < oldest else oldest
            for offset, name in enumerate(view.names):
                raw = reply[view.start + offset]
                value = Value()
                if raw:
                    value.ParseFromString(raw)
                kind = value.WhichOneof("val")
                if kind is None:
                    columns[name].append(None)
                elif kind in _PLAIN_KINDS:
                    columns[name].append(getattr(value, kind))
                else:
                    columns[name].append(feast_value_type_to_python_type(value))
        return None if missing else oldest
