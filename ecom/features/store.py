"""The Feast feature store in-process: apply the repo, materialize to Redis, build training sets.

`feature_repo/` is a plain Feast repository (the `feast` CLI works in it); this module builds
the store from its `feature_store.yaml` with the process's connections written in and drives
Feast's own operations. One `FeatureStore` lives per process and connection set, because building one
parses the YAML and opens the SQL registry, and its registry cache is what makes online reads
sub-millisecond.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ecom.config import Settings, project_root
from ecom.db import fetch_all, table_exists, transaction
from ecom.features.connection import repo_config
from ecom.features.contract import FEATURE_SERVICE
from ecom.relations import FEATURES_MART, LABELS_MART, SCORING_MART
from ecom.services import Endpoints

log = logging.getLogger(__name__)

FEATURE_REPO = project_root() / "feature_repo"
ENTITY_KEY = "user_id"
LABEL_COLUMN = "churned"
EVENT_TIMESTAMP = "event_timestamp"

# The labels mart is the entity set: every labelled (user, cutoff) asks Feast for the latest
# feature row at or before its cutoff. Sent as SQL so PostgreSQL never round-trips the labels
# through pandas.
TRAINING_ENTITY_SQL = (
    f"SELECT {ENTITY_KEY}, feature_timestamp AS {EVENT_TIMESTAMP}, {LABEL_COLUMN} "
    f"FROM {LABELS_MART}"
)

_stores: dict[tuple, object] = {}
_stores_lock = threading.Lock()
_repo_import_lock = threading.Lock()


class FeatureDataMissing(RuntimeError):
    """A mart the feature store reads does not exist or is empty (run `ecom transform`)."""


@dataclass(frozen=True)
class MaterializeSummary:
    """What one materialization wrote to the online store."""

    users: int
    feature_views: tuple[str, ...]
    start: datetime
    end: datetime
    seconds: float
    removed: int = 0  # users whose rows this run deleted from Redis (measured before and after)

    @property
    def rows_written(self) -> int:
        return self.users * len(self.feature_views)

    def __str__(self) -> str:
        return (
            f"materialized the scoring snapshot as of {self.end:%Y-%m-%d}: {self.users:,} users "
            f"x {len(self.feature_views)} feature views ({', '.join(self.feature_views)}), "
            f"removed {self.removed:,} users who left it, in {self.seconds:.1f} s"
        )

    def summary_line(self) -> str:
        return str(self)

    def __rich__(self) -> str:
        return str(self)


def get_feature_store(settings: Settings, endpoints: Endpoints, repo_path: Path = FEATURE_REPO):
    """The process-wide `FeatureStore` for these connections (built on first use), configured
    from `endpoints` rather than the environment."""
    from feast import FeatureStore

    key = (str(Path(repo_path).resolve()), endpoints.database_url, endpoints.redis_url)
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            config = repo_config(repo_path, endpoints.database_url, endpoints.redis_url)
            store = FeatureStore(repo_path=str(repo_path), config=config)
            _stores[key] = store
    return store


@contextlib.contextmanager
def _feature_repo_importable(repo_path: Path) -> Iterator[None]:
    """Import the repo's files the way the `feast` CLI does: from inside the repo, with the
    repo on `sys.path` (feature_services.py imports feature_views.py by its bare name)."""
    with _repo_import_lock:
        # Feast imports the files by bare name ("entities", "feature_views"): forget modules of
        # those names imported earlier (another repo, an older version of this one).
        for path in repo_path.glob("*.py"):
            sys.modules.pop(path.stem, None)
        previous_cwd = Path.cwd()
        sys.path.insert(0, str(repo_path))
        os.chdir(repo_path)
        try:
            yield
        finally:
            os.chdir(previous_cwd)
            with contextlib.suppress(ValueError):
                sys.path.remove(str(repo_path))


def apply_feature_repo(
    settings: Settings, endpoints: Endpoints, repo_path: Path = FEATURE_REPO
) -> list[str]:
    """Register the repo's entities, feature views and services (what `feast apply` does),
    deleting registry objects the repo no longer defines. Returns the applied object names."""
    from feast.repo_operations import apply_total_with_repo_instance, parse_repo

    repo_path = Path(repo_path).resolve()
    store = get_feature_store(settings, endpoints, repo_path)
    with _feature_repo_importable(repo_path):
        contents = parse_repo(repo_path)
    apply_total_with_repo_instance(
        store, store.project, store.registry, contents, skip_source_validation=False
    )
    store.refresh_registry()
    names = [
        *(entity.name for entity in contents.entities if entity.name != "__dummy"),
        *(source.name for source in contents.data_sources),
        *(view.name for view in contents.feature_views),
        *(service.name for service in contents.feature_services),
    ]
    log.info("applied Feast objects to project %s: %s", store.project, ", ".join(names))
    return names


def _require_rows(database_url: str, schema: str, table: str) -> None:
    if not table_exists(database_url, schema, table):
        raise FeatureDataMissing(
            f"{schema}.{table} does not exist: build the marts first (`ecom transform`)"
        )


def refresh_planner_statistics(database_url: str, tables: Sequence[tuple[str, str]]) -> None:
    """ANALYZE the marts Feast queries.

    dbt creates them with CREATE TABLE AS, which leaves no statistics until autovacuum gets
    round to it; without them PostgreSQL estimates one row per CTE in Feast's point-in-time
    query and picks nested loops, whose cost grows with the square of the labels.
    ANALYZE samples a fixed number of rows, so it costs well under a second at any size.
    """
    with transaction(database_url) as cursor:
        for schema, table in tables:
            cursor.execute(f"analyze {schema}.{table}")


@dataclass(frozen=True)
class ScoringSnapshot:
    """The scoring mart's identity: its one as-of timestamp and its users."""

    as_of: datetime
    user_ids: frozenset[int]


def scoring_snapshot(database_url: str) -> ScoringSnapshot:
    """The as-of timestamp and the users of `analytics.mart_churn_scoring`, which must hold
    exactly one cutoff (the day after the data ends)."""
    schema, table = SCORING_MART
    _require_rows(database_url, schema, table)
    stamps = fetch_all(
        database_url, f"select distinct feature_timestamp from {schema}.{table} limit 2"
    )
    if len(stamps) != 1:
        raise FeatureDataMissing(
            f"{schema}.{table} must hold one feature_timestamp (the scoring cutoff), found "
            f"{'none' if not stamps else 'several'}: rebuild it (`ecom transform`)"
        )
    users = fetch_all(database_url, f"select {ENTITY_KEY} from {schema}.{table}")
    return ScoringSnapshot(stamps[0][0].astimezone(UTC), frozenset(int(u) for (u,) in users))


def _online_keys(store, user_ids) -> list[bytes]:
    """Feast's Redis key of each user, in order (entity key serialised, then the project)."""
    from ecom.features.feast_internals import redis_keys_for_ids

    return redis_keys_for_ids(store.config, ENTITY_KEY, list(user_ids))


def _project_keys(store, client) -> list[bytes]:
    """Every user key of this Feast project in Redis."""
    from ecom.features.feast_internals import scan_keys

    return scan_keys(client, store.project, [ENTITY_KEY])


def _holding_rows(store, client, keys: Sequence[bytes], views: Sequence[str]) -> set[bytes]:
    """The keys among `keys` that hold a row of at least one of these feature views: measured
    before and after a materialization, the difference is the users it deleted."""
    from ecom.features.feast_internals import timestamp_field, view_key_name

    fields = [
        timestamp_field(view_key_name(store.get_feature_view(v), store.config)) for v in views
    ]
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, fields)
        replies = pipe.execute()
    return {key for key, stamps in zip(keys, replies, strict=True) if any(stamps)}


def _redis_client(endpoints: Endpoints):
    import redis

    return redis.Redis.from_url(endpoints.redis_url)


def materialize_features(
    settings: Settings,
    endpoints: Endpoints,
    *,
    feature_views: Sequence[str] | None = None,
) -> MaterializeSummary:
    """Make the online store hold exactly the scoring snapshot (`mart_churn_scoring`).

    Feast materializes the interval [as-of, as-of] (only the scoring cutoff's rows, and Feast's
    registry records it, so `feast materialize-incremental <as-of>` later writes the same rows);
    the repo's engine then removes the rows of users who left the snapshot, as it does for the
    `feast` CLI. Re-running is idempotent. A store
    already holding a newer snapshot is left alone (`OlderSnapshot`): the repo writes with
    `skip_dedup`, so Feast itself would overwrite newer rows.
    """
    snapshot = scoring_snapshot(endpoints.database_url)
    refresh_planner_statistics(endpoints.database_url, [FEATURES_MART, SCORING_MART])

    def materialize(store, views: list[str]) -> None:
        store.materialize(start_date=snapshot.as_of, end_date=snapshot.as_of, feature_views=views)

    return replace_online_snapshot(settings, endpoints, snapshot, materialize, feature_views)


def replace_online_snapshot(
    settings: Settings,
    endpoints: Endpoints,
    snapshot: ScoringSnapshot,
    write: Callable[[Any, list[str]], None],
    feature_views: Sequence[str] | None = None,
) -> MaterializeSummary:
    """Run `write(store, views)`, which puts `snapshot` in the online store through the repo's
    engine (refusing an older snapshot, removing the rows older than it), and count the users
    it removed: those outside the snapshot that held a row before and hold none after. Shared
    by PostgreSQL's materialization and the Spark engine's (`ecom.spark.online`)."""
    store = get_feature_store(settings, endpoints)
    views = (
        list(feature_views) if feature_views else [view.name for view in store.list_feature_views()]
    )
    client = _redis_client(endpoints)
    started = time.perf_counter()
    wanted = set(_online_keys(store, snapshot.user_ids))
    outside = [key for key in _project_keys(store, client) if key not in wanted]
    held_before = _holding_rows(store, client, outside, views)
    write(store, views)
    removed = held_before - _holding_rows(store, client, sorted(held_before), views)
    seconds = time.perf_counter() - started
    summary = MaterializeSummary(
        len(snapshot.user_ids), tuple(views), snapshot.as_of, snapshot.as_of, seconds, len(removed)
    )
    log.info("%s", summary)
    return summary


def training_frame(settings: Settings, endpoints: Endpoints) -> pd.DataFrame:
    """The labelled training set, point-in-time correct by construction.

    Entity rows are (user_id, cutoff as event_timestamp, churned) from the labels mart; Feast
    joins each to the latest row of every `churn_v1` feature view stamped at or before that
    cutoff (and within the TTL), so no feature can come from after the label's cutoff.
    """
    schema, table = LABELS_MART
    _require_rows(endpoints.database_url, schema, table)
    _require_rows(endpoints.database_url, *FEATURES_MART)
    refresh_planner_statistics(endpoints.database_url, [LABELS_MART, FEATURES_MART])
    store = get_feature_store(settings, endpoints)
    service = store.get_feature_service(FEATURE_SERVICE)
    started = time.perf_counter()
    with warnings.catch_warnings():
        # Feast reads the entity query's schema with pandas over a psycopg3 connection.
        warnings.filterwarnings("ignore", message="pandas only supports SQLAlchemy")
        job = store.get_historical_features(entity_df=TRAINING_ENTITY_SQL, features=service)
        frame = job.to_df()
    frame = ordered_training_frame(frame)
    log.info(
        "training frame: %d rows, %d users, %d cutoffs in %.1f s",
        len(frame),
        frame[ENTITY_KEY].nunique(),
        frame[EVENT_TIMESTAMP].nunique(),
        time.perf_counter() - started,
    )
    return frame


def ordered_training_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Feast's answer in one shape whatever the offline store: instants in UTC, rows by
    (cutoff, user), so two engines' frames compare row for row."""
    frame[EVENT_TIMESTAMP] = pd.to_datetime(frame[EVENT_TIMESTAMP], utc=True)
    return frame.sort_values([EVENT_TIMESTAMP, ENTITY_KEY], kind="stable").reset_index(drop=True)


def feature_service_columns(settings: Settings, endpoints: Endpoints) -> list[str]:
    """The feature names `churn_v1` serves, in the service's order."""
    return service_columns(get_feature_store(settings, endpoints))


def service_columns(store) -> list[str]:
    """The feature names `churn_v1` serves in `store` (any offline store), in the service's
    order."""
    service = store.get_feature_service(FEATURE_SERVICE)
    return [
        feature.name
        for projection in service.feature_view_projections
        for feature in projection.features
    ]


def online_features(
    settings: Settings, endpoints: Endpoints, user_ids: Sequence[int]
) -> pd.DataFrame:
    """The `churn_v1` features Redis holds for these users (one row each, NaN when unknown)."""
    store = get_feature_store(settings, endpoints)
    service = store.get_feature_service(FEATURE_SERVICE)
    response = store.get_online_features(
        features=service, entity_rows=[{ENTITY_KEY: int(user_id)} for user_id in user_ids]
    )
    columns = service_columns(store)
    return response.to_df()[[ENTITY_KEY, *columns]]
