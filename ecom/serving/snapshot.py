"""Is the online store holding the scoring snapshot? The service's readiness, from the data.

The snapshot is `analytics.mart_churn_scoring`: its as-of timestamp and a few of its users
(the lowest ids, through the mart's unique index) are read from PostgreSQL now and then, never
per request. The store is ready when Feast returns those users stamped at (or after) the
as-of. An empty Redis (restarted without persistence, never materialized) or one still holding
an older snapshot answers "not ready" with the fix: `ecom features materialize`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from ecom.db import fetch_all
from ecom.features.store import ENTITY_KEY
from ecom.relations import SCORING_MART
from ecom.serving.online import OnlineFeatureReader

log = logging.getLogger(__name__)

PROBE_USERS = 5
MATERIALIZE_HINT = "run `ecom features materialize`"


@dataclass(frozen=True)
class Snapshot:
    as_of: datetime
    probe_user_ids: tuple[int, ...]


@dataclass(frozen=True)
class StoreState:
    """Whether the store serves the snapshot; if not, the error code and sentence of the 503
    that `/readyz` and `/predict` answer with."""

    ready: bool
    detail: str
    error: str = "online_store_not_ready"


def read_snapshot(database_url: str) -> Snapshot:
    """The scoring mart's as-of and its lowest user ids."""
    schema, table = SCORING_MART
    rows = fetch_all(
        database_url,
        f"select {ENTITY_KEY}, feature_timestamp from {schema}.{table} "
        f"order by {ENTITY_KEY} limit {PROBE_USERS}",
    )
    if not rows:
        raise LookupError(f"{schema}.{table} is empty: build the marts (`ecom transform`)")
    return Snapshot(max(row[1] for row in rows), tuple(int(row[0]) for row in rows))


def store_state(reader: OnlineFeatureReader, snapshot: Snapshot | None) -> StoreState:
    """Whether Redis holds `snapshot` (raises `OnlineStoreUnavailable` if Redis is down)."""
    if snapshot is None:
        return StoreState(False, f"the scoring snapshot ({SCORING_MART}) is unknown")
    rows = reader.read(list(snapshot.probe_user_ids))
    times = rows.event_times
    if all(moment is None for moment in times):
        return StoreState(
            False,
            f"the online store holds no features for the scoring snapshot as of "
            f"{snapshot.as_of:%Y-%m-%d}: {MATERIALIZE_HINT}",
        )
    if any(moment is None or moment < snapshot.as_of for moment in times):
        held = max((moment for moment in times if moment is not None), default=None)
        return StoreState(
            False,
            f"the online store holds features as of {held:%Y-%m-%d}, older than the scoring "
            f"snapshot as of {snapshot.as_of:%Y-%m-%d}: {MATERIALIZE_HINT}",
        )
    return StoreState(True, f"serving the scoring snapshot as of {snapshot.as_of:%Y-%m-%d}")
