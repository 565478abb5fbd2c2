"""Feast against real PostgreSQL and Redis: apply, point-in-time retrieval, materialize, read."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import redis

from ecom.config import temporary_environ
from ecom.db import transaction
from ecom.features import feast_internals as internals
from ecom.features import store as features
from ecom.services import Endpoints
from tests.integration.churn_marts import load_churn_marts, write_churn_marts

pytestmark = pytest.mark.integration

POISON = 999_999


@pytest.fixture(scope="module")
def endpoints(database_url: str, redis_url: str) -> Endpoints:
    return Endpoints(database_url, redis_url, embedded=False)


@pytest.fixture(scope="module")
def marts(ecom_settings, endpoints):
    return load_churn_marts(ecom_settings, endpoints, n_users=120, n_cutoffs=10, seed=3)


def test_apply_registers_the_churn_v1_service(ecom_settings, endpoints, marts):
    applied = features.apply_feature_repo(ecom_settings, endpoints)
    assert {
        "user",
        "user_rfm",
        "user_engagement",
        "user_conversion",
        "user_profile",
        "churn_v1",
    } <= set(applied)
    columns = features.feature_service_columns(ecom_settings, endpoints)
    assert columns[:2] == ["recency_days", "frequency_orders"]
    expected = set(marts.features.columns) - {"user_id", "cutoff_date", "feature_timestamp"}
    assert set(columns) == expected


def _insert_feature_rows(database_url: str, rows: pd.DataFrame) -> None:
    columns = ", ".join(rows.columns)
    placeholders = ", ".join(["%s"] * len(rows.columns))
    with transaction(database_url) as cursor:
        cursor.executemany(
            f"insert into analytics.mart_churn_features ({columns}) values ({placeholders})",
            [tuple(None if pd.isna(v) else v for v in row) for row in rows.itertuples(index=False)],
        )


def test_training_frame_is_point_in_time_correct(ecom_settings, endpoints, marts):
    labels = marts.labels
    # A row stamped one day after every label's cutoff, with values no real row has: if the
    # join ever looked past the cutoff, it would pick these up (they are the newest rows).
    poison = marts.features.merge(labels[["user_id", "cutoff_date"]], on=["user_id", "cutoff_date"])
    poison = poison.assign(
        cutoff_date=poison["cutoff_date"] + timedelta(days=1),
        feature_timestamp=poison["feature_timestamp"] + timedelta(days=1),
        frequency_orders=POISON,
        recency_days=float(POISON),
    )
    # A label whose user's only feature row is 70 days old: beyond the TTL, no features.
    stale_user = 99_001
    label_cutoff = labels["cutoff_date"].max()
    stale_row = marts.features.iloc[[0]].assign(
        user_id=stale_user,
        cutoff_date=label_cutoff - timedelta(days=70),
        feature_timestamp=datetime.combine(
            label_cutoff - timedelta(days=70), datetime.min.time(), UTC
        ),
    )
    _insert_feature_rows(endpoints.database_url, pd.concat([poison, stale_row]))
    with transaction(endpoints.database_url) as cursor:
        cursor.execute(
            "insert into analytics.mart_churn_labels values (%s, %s, %s, 1, %s)",
            (
                stale_user,
                label_cutoff,
                datetime.combine(label_cutoff, datetime.min.time(), UTC),
                datetime.combine(label_cutoff + timedelta(days=30), datetime.min.time(), UTC),
            ),
        )
    try:
        frame = features.training_frame(ecom_settings, endpoints)
    finally:
        write_churn_marts(endpoints.database_url, marts)

    assert len(frame) == len(labels) + 1
    assert not (frame["frequency_orders"] == POISON).any()
    assert not (frame["recency_days"] == POISON).any()
    stale = frame[frame["user_id"] == stale_user]
    assert stale[["recency_days", "frequency_orders", "country"]].isna().all(axis=None)

    # Every other label gets exactly the row stamped at its own cutoff.
    expected = marts.features.assign(
        event_timestamp=pd.to_datetime(marts.features["feature_timestamp"], utc=True)
    )
    joined = frame[frame["user_id"] != stale_user].merge(
        expected, on=["user_id", "event_timestamp"], suffixes=("", "_mart")
    )
    assert len(joined) == len(labels)
    for column in ("recency_days", "monetary_value", "sessions_count", "tenure_days", "country"):
        left, right = joined[column], joined[f"{column}_mart"]
        assert ((left == right) | (left.isna() & right.isna())).all(), column
    # ... and the label of its own (user, cutoff) from the label mart.
    expected_labels = labels.assign(
        event_timestamp=pd.to_datetime(labels["feature_timestamp"], utc=True)
    )[["user_id", "event_timestamp", "churned"]]
    with_labels = joined.merge(
        expected_labels, on=["user_id", "event_timestamp"], suffixes=("", "_label")
    )
    assert len(with_labels) == len(joined)
    assert (with_labels["churned"] == with_labels["churned_label"]).all()
    assert set(with_labels["churned"]) == {0, 1}


def test_online_read_after_materialize_returns_the_scoring_snapshot(
    ecom_settings, endpoints, marts
):
    # Earlier modules (the e2e pipeline) may leave a newer snapshot in the session's Redis,
    # which materialization rightly refuses to overwrite with this older one.
    redis.Redis.from_url(endpoints.redis_url).flushdb()
    summary = features.materialize_features(ecom_settings, endpoints)
    snapshot = marts.scoring.set_index("user_id")
    assert summary.users == len(snapshot)
    assert len(summary.feature_views) == 4
    users = list(snapshot.index[:25])
    online = features.online_features(ecom_settings, endpoints, [*users, 424242]).set_index(
        "user_id"
    )
    for column in ("recency_days", "frequency_orders", "monetary_value", "tenure_days", "country"):
        got, want = online.loc[users, column], snapshot.loc[users, column]
        assert ((got == want) | (got.isna() & want.isna())).all(), column
    assert online.loc[424242].isna().all()  # an unknown user gets no values


def test_materialize_reports_only_the_users_it_deleted(ecom_settings, endpoints, marts):
    """`removed` is what Redis lost, not every key outside the snapshot: a key of the
    project's layout holding no feature view's row is neither deleted nor counted."""
    client = redis.Redis.from_url(endpoints.redis_url)
    client.flushdb()
    features.materialize_features(ecom_settings, endpoints)
    store = features.get_feature_store(ecom_settings, endpoints)
    stray = internals.redis_keys_for_ids(store.config, "user_id", [424_243])[0]
    client.hset(stray, b"not_a_feature", b"1")
    try:
        assert features.materialize_features(ecom_settings, endpoints).removed == 0
        assert client.hgetall(stray) == {b"not_a_feature": b"1"}
    finally:
        client.flushdb()


def _dump(client) -> dict[bytes, dict[bytes, bytes]]:
    return {key: client.hgetall(key) for key in client.scan_iter(count=1000)}


def _stock_feast_store(store, **changes):
    """A `FeatureStore` on the repo's YAML with Feast's own local engine (and whatever
    `changes` replace, e.g. Feast's own Redis store): the reference the project's parts must
    equal. It shares the project's registry and Redis."""
    import os

    import yaml
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    text = (features.FEATURE_REPO / "feature_store.yaml").read_text()
    raw = yaml.safe_load(os.path.expandvars(text))
    raw.pop("batch_engine")  # Feast's own local engine and its conversion
    raw.update(changes)
    config = RepoConfig(**raw)
    config.repo_path = features.FEATURE_REPO
    return FeatureStore(config=config)


def test_feast_internals_adapter_matches_feasts_public_api(ecom_settings, endpoints, marts):
    """The one test a Feast upgrade fails first in. Everything the project takes from Feast's
    internals (`ecom.features.feast_internals`: key and field names, timestamp and double
    bytes, the provider's store and client) and the writes and read built on it, against
    Feast's own Redis store through its public `write_to_online_store` and
    `get_online_features`, on a real Redis: the same bytes, keys and values."""
    import pyarrow as pa
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    from ecom.features.contract import FEATURE_SERVICE
    from ecom.serving.online import OnlineFeatureReader

    store = features.get_feature_store(ecom_settings, endpoints)
    connection = store.config.online_store.connection_string
    stock = _stock_feast_store(
        store, online_store={"type": "redis", "connection_string": connection, "skip_dedup": True}
    )
    service = stock.get_feature_service(FEATURE_SERVICE)
    views = [store.get_feature_view(p.name) for p in service.feature_view_projections]
    rows = marts.scoring.head(30).reset_index(drop=True)
    rows["feature_timestamp"] = pd.to_datetime(rows["feature_timestamp"], utc=True)
    rows.loc[0, ["recency_days", "monetary_value"]] = [None, float("nan")]
    rows.loc[1, "country"] = None
    rows.loc[2, ["recency_days", "monetary_value"]] = [-0.0, 1e300]

    def frame(view) -> pd.DataFrame:
        return rows[["user_id", "feature_timestamp", *(f.name for f in view.features)]]

    client = redis.Redis.from_url(endpoints.redis_url)
    client.flushdb()
    try:
        for view in views:  # Feast's own bytes, through its public write
            stock.write_to_online_store(view.name, frame(view))
        theirs = _dump(client)
        assert len(theirs) == len(rows)
        online = internals.online_store_of(store)
        for writes in ("arrow", "rows"):  # the project's two writes
            client.flushdb()
            for view in views:
                if writes == "arrow":
                    table = pa.Table.from_pandas(frame(view), preserve_index=False)
                    online.write_arrow_batch(store.config, view, table)
                else:
                    store.write_to_online_store(view.name, frame(view))
            assert _dump(client) == theirs, writes

        # The adapter's names are the ones Feast wrote.
        user_ids = [int(user) for user in rows["user_id"]]
        keys = internals.redis_keys_for_ids(store.config, "user_id", user_ids)
        assert keys == [
            internals.entity_redis_key(
                store.config, EntityKey(join_keys=["user_id"], entity_values=[Value(int64_val=u)])
            )
            for u in user_ids
        ]
        assert set(keys) == set(theirs)
        assert sorted(internals.scan_keys(client, store.project, ["user_id"])) == sorted(theirs)
        for view in views:
            name = internals.view_key_name(view, store.config)
            stamp = theirs[keys[0]][internals.timestamp_field(name)]
            assert internals.stamp_time(stamp) == rows.loc[0, "feature_timestamp"]
            assert set(theirs[keys[0]]) >= {
                internals.feature_field(name, feature.name) for feature in view.features
            }

        # The served read equals Feast's public read, value for value, and an unknown user
        # has no event time.
        asked = [*user_ids, 424_242]
        served = OnlineFeatureReader(store).read(asked)
        public = stock.get_online_features(
            features=service, entity_rows=[{"user_id": user} for user in asked]
        ).to_dict(include_event_timestamps=True)
        names = [feature.name for view in views for feature in view.features]
        assert sorted(served.columns) == sorted(names) and names
        for name in names:
            got, want = served.columns[name], public[name]
            assert len(got) == len(asked) and got[-1] is None, name
            assert all(g == w or (g != g and w != w) for g, w in zip(got, want, strict=True)), name
        seconds = [min(public[f"{name}__ts"][row] for name in names) for row in range(len(asked))]
        assert [moment.timestamp() for moment in served.event_times[:-1]] == seconds[:-1]
        assert served.event_times[-1] is None
    finally:
        client.flushdb()


def test_the_project_write_stores_the_same_bytes_as_feasts_own(ecom_settings, endpoints, marts):
    from feast.infra.online_stores.redis import RedisOnlineStore
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    from ecom.features.online_store import ProjectRedisOnlineStore

    store = features.get_feature_store(ecom_settings, endpoints)
    online = internals.online_store_of(store)
    assert isinstance(online, ProjectRedisOnlineStore)
    assert store.config.online_store.skip_dedup  # the path the project's write replaces
    view = store.get_feature_view("user_profile")
    stamps = [datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 7, 8, 12, 30, 1, 250000)]
    data = [
        (
            EntityKey(join_keys=["user_id"], entity_values=[Value(int64_val=user)]),
            {
                feature.name: (Value() if (user + i) % 3 == 0 else Value(string_val=f"v{user}"))
                for i, feature in enumerate(view.features)
            },
            stamps[user % 2],  # an aware and a naive timestamp
            None,
        )
        for user in range(1, 40)
    ]
    client = redis.Redis.from_url(endpoints.redis_url)
    client.flushdb()
    written: list[int] = []
    online.online_write_batch(store.config, view, data, written.append)
    ours = _dump(client)
    client.flushdb()
    RedisOnlineStore.online_write_batch(online, store.config, view, data, None)
    assert _dump(client) == ours
    assert len(ours) == 39 and written == [39]
    client.flushdb()


def test_materializing_arrow_batches_writes_the_bytes_of_feasts_own_engine(
    ecom_settings, endpoints, marts
):
    """The project's engine (Arrow batches to the store) against Feast's local engine (a
    protobuf message per value), with NULLs and NaN in integer, double and text columns."""
    from ecom.features.engine import ProjectComputeEngine

    store = features.get_feature_store(ecom_settings, endpoints)
    assert isinstance(internals.batch_engine_of(store), ProjectComputeEngine)
    first, second, third = (int(u) for u in marts.scoring["user_id"].head(3))
    with transaction(endpoints.database_url) as cursor:
        cursor.execute(
            "update analytics.mart_churn_scoring set frequency_orders = null, country = null,"
            " recency_days = 'NaN' where user_id = %s",
            (first,),
        )
        cursor.execute(
            "update analytics.mart_churn_scoring set monetary_value = null, country = ''"
            " where user_id = %s",
            (second,),
        )
        cursor.execute(
            "update analytics.mart_churn_scoring set monetary_value = -0.0, recency_days = 1e300"
            " where user_id = %s",
            (third,),
        )
    client = redis.Redis.from_url(endpoints.redis_url)
    try:
        client.flushdb()
        features.materialize_features(ecom_settings, endpoints)
        ours = _dump(client)
        snapshot = features.scoring_snapshot(endpoints.database_url).as_of
        client.flushdb()
        _stock_feast_store(store).materialize(start_date=snapshot, end_date=snapshot)
        theirs = _dump(client)
    finally:
        load_churn_marts(ecom_settings, endpoints, n_users=120, n_cutoffs=10, seed=3)
    assert len(ours) == len(marts.scoring)
    assert ours == theirs


def test_a_store_connects_where_its_endpoints_say_and_leaves_the_environment_alone(
    ecom_settings, endpoints, marts, tmp_path
):
    """The environment names servers that do not exist; the store still reads the registry
    (PostgreSQL) and the online store (Redis) of `endpoints`, and the environment stays as
    it was. A copy of the repo, so the process's cached store for the real one is not reused."""
    repo = tmp_path / "feature_repo"
    shutil.copytree(features.FEATURE_REPO, repo, ignore=shutil.ignore_patterns("__pycache__"))
    features.apply_feature_repo(ecom_settings, endpoints)
    nowhere = {
        "ECOM_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/nowhere",
        "ECOM_REDIS_URL": "redis://127.0.0.1:9/0",
    }
    with temporary_environ(nowhere):
        store = features.get_feature_store(ecom_settings, endpoints, repo)
        service = store.get_feature_service(features.FEATURE_SERVICE)
        online = store.get_online_features(features=service, entity_rows=[{"user_id": 1}])
        environment = {key: os.environ[key] for key in nowhere}
    assert service.name == features.FEATURE_SERVICE
    assert "recency_days" in online.to_dict()
    assert environment == nowhere
