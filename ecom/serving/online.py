"""The request-time read: the `churn_v1` features Redis holds for some users, with their event
timestamps, through one Feast `FeatureStore` and the feature service resolved once.

Resolving the service costs 3-13 ms per call even cached, so it happens here once per process.
An unknown user comes back from Feast as `None` values with timestamp 0: the timestamps, not
the values, say whether a row exists, so a user is never scored from empty features.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ecom.features.store import ENTITY_KEY, FEATURE_SERVICE

log = logging.getLogger(__name__)


class OnlineStoreUnavailable(RuntimeError):
    """Redis cannot be reached (or answered with an error)."""


@dataclass(frozen=True)
class OnlineRows:
    """Feature columns by name (one value per requested user) and each user's event time."""

    user_ids: list[int]
    columns: dict[str, list]
    event_times: list[datetime | None]


def fail_fast(store) -> None:
    """Make Feast's Redis client fail in a millisecond when Redis is down.

    redis-py 7 retries a refused connection three times with exponential backoff, so every
    request during an outage would hang about 4 s before its 503. One immediate retry is kept:
    after Redis comes back, the first command on a pooled dead connection fails once and the
    retry reconnects, so the service recovers by itself."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    online_store = store._get_provider().online_store
    client = online_store._get_client(store.config.online_store)
    if hasattr(client, "set_retry"):
        client.set_retry(Retry(NoBackoff(), 1))


class OnlineFeatureReader:
    """One Feast store and the resolved `churn_v1` service for the life of the process."""

    def __init__(self, store, feature_service: str = FEATURE_SERVICE) -> None:
        fail_fast(store)
        self.store = store
        self.service = store.get_feature_service(feature_service)
        self.feature_names = [
            feature.name
            for projection in self.service.feature_view_projections
            for feature in projection.features
        ]

    def read(self, user_ids: Sequence[int]) -> OnlineRows:
        """One Feast read for all `user_ids`. A user's event time is the oldest of its
        features' timestamps (None when any view has no row for it)."""
        import redis

        try:
            response = self.store.get_online_features(
                features=self.service,
                entity_rows=[{ENTITY_KEY: int(user_id)} for user_id in user_ids],
            ).to_dict(include_event_timestamps=True)
        except (redis.exceptions.RedisError, OSError) as error:
            raise OnlineStoreUnavailable(f"Redis is unreachable: {error}") from error
        stamps = [response[f"{name}__ts"] for name in self.feature_names]
        event_times: list[datetime | None] = []
        for per_user in zip(*stamps, strict=True):
            oldest = min(per_user)
            event_times.append(datetime.fromtimestamp(oldest, UTC) if oldest > 0 else None)
        return OnlineRows(
            user_ids=[int(user_id) for user_id in user_ids],
            columns={name: response[name] for name in self.feature_names},
            event_times=event_times,
        )
