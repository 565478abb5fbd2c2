"""Spark as the second engine, on a standalone master with two workers (tests/spark/conftest.py).

Equality, not similarity: the same generated world is loaded and built on PostgreSQL and on
the cluster; every mart equals PostgreSQL's row for row (numbers to 1e-9, after the same
ordering), so does the training set Feast's Spark offline store joins, training on it gives
the same metrics and decision as training on PostgreSQL's, and the champion's batch scores
computed on the executors and the retention list built on them equal the PostgreSQL path's.
The raw load keeps the loader's rows and refuses bad input with file, line and column.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import time
import urllib.request
from collections.abc import Callable

import pandas as pd
import pytest
import redis

from ecom.churn import models as churn_models
from ecom.churn import scoring, training
from ecom.churn.oracle import loaded_data_fingerprint
from ecom.db import fetch_all
from ecom.features import store as features
from ecom.ingest.files import LoadError
from ecom.services import Endpoints
from ecom.spark.external import raw_table_locations, register_external_tables, thrift_connection
from ecom.spark.features import training_frame_on_spark
from ecom.spark.raw import load_raw_tables_on_spark
from ecom.spark.scoring import score_users_on_spark
from ecom.spark.thrift import thrift_server
from ecom.spark.training import loaded_data_fingerprint_on_spark, train_churn_models_on_spark
from ecom.spark.transform import build_warehouse_on_spark, build_warehouse_through_thrift
from ecom.stages import (
    StageInputMissing,
    check_feature_inputs,
    features_stage,
    retention_targets_stage,
    skipped_on_engine,
)
from ecom.thelook import ALL_TABLES
from tests.integration.test_dbt_portability import marts, table_rows

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark_warehouse(spark, spark_settings, spark_load):
    return build_warehouse_on_spark(spark_settings, spark, command="run")


def _executors(spark) -> int:
    return spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1  # minus the driver


def test_the_session_runs_on_the_standalone_cluster(spark, spark_cluster):
    assert spark.sparkContext.master == spark_cluster.master_url
    assert spark_cluster.alive_workers() == 2
    # Executors register with the driver a few seconds after the session starts.
    deadline = time.monotonic() + 120
    while _executors(spark) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _executors(spark) == 2
    # Tasks run in the executors' python workers, never in this (the driver's) process.
    task_pids = set(
        spark.sparkContext.parallelize(range(8), 8).mapPartitions(lambda _: [os.getpid()]).collect()
    )
    assert task_pids and os.getpid() not in task_pids


def test_the_raw_load_keeps_the_loaders_rows(spark, spark_load, postgres_world):
    _, endpoints = postgres_world
    counts = " union all ".join(
        f"select '{table.name}', count(*) from raw.{table.name}" for table in ALL_TABLES
    )
    expected = dict(fetch_all(endpoints.database_url, counts))
    assert all(expected[name] > 0 for name in ("users", "orders", "events", "campaign_contacts"))
    assert dict(spark.sql(counts).collect()) == expected
    assert spark_load.rows_by_table() == expected
    for table in ALL_TABLES:
        assert spark.table(f"raw.{table.name}").columns == table.column_names


def test_a_bad_value_stops_the_spark_load_naming_file_line_and_column(spark, world, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    with (world / "users.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    rows[3][rows[0].index("age")] = "forty"  # the third record: line 4 of the file
    with (folder / "users.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(LoadError) as raised:
        load_raw_tables_on_spark(spark, folder)
    assert (raised.value.file, raised.value.line, raised.value.column) == (
        folder / "users.csv",
        4,
        "age",
    )
    assert "'forty'" in str(raised.value)


def test_one_id_on_two_different_rows_stops_the_spark_load_naming_both_lines(
    spark, world, tmp_path
):
    folder = tmp_path / "conflict"
    folder.mkdir()
    with (world / "users.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    exact_copy = list(rows[1])
    conflicting = list(rows[2])
    conflicting[header.index("id")] = rows[1][header.index("id")]
    rows += [exact_copy, conflicting]  # lines len(rows) - 1 and len(rows)
    with (folder / "users.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(LoadError) as raised:
        load_raw_tables_on_spark(spark, folder)
    assert raised.value.column == "id"
    assert raised.value.lines == (2, len(rows))
    assert "with different content" in str(raised.value)


def _in_utc(row: tuple) -> tuple:
    """pyspark returns instants as naive local times; make them aware in UTC."""
    return tuple(
        value.astimezone(dt.UTC) if isinstance(value, dt.datetime) else value for value in row
    )


def _assert_every_mart_equals_postgres(
    endpoints: Endpoints, spark_rows: Callable[[str], list[tuple]]
) -> list[str]:
    """Every `analytics.mart_*` of PostgreSQL equals Spark's row for row; `spark_rows` runs a
    select on Spark and returns its rows, instants aware or naive in UTC. Returns the marts."""
    names = marts(endpoints.database_url)
    assert len(names) >= 9
    assert {f"mart_{name}" for name in ("churn_features", "churn_scoring", "funnel")} <= set(names)
    for name in names:
        columns = [
            column
            for (column,) in fetch_all(
                endpoints.database_url,
                "select column_name from information_schema.columns "
                "where table_schema = 'analytics' and table_name = %s order by ordinal_position",
                (name,),
            )
        ]
        select = f"select {', '.join(columns)} from analytics.{name}"
        expected = table_rows(fetch_all(endpoints.database_url, select))
        actual = table_rows(spark_rows(select))
        assert expected, f"analytics.{name} is empty on PostgreSQL: the world tests nothing"
        assert len(actual) == len(expected), f"{name}: {len(actual)} rows on Spark"
        assert actual == expected, f"analytics.{name} differs between Spark and PostgreSQL"
    return names


def test_every_mart_on_the_cluster_equals_postgres(spark, spark_warehouse, postgres_world):
    _, endpoints = postgres_world
    _assert_every_mart_equals_postgres(
        endpoints, lambda select: [_in_utc(tuple(row)) for row in spark.sql(select).collect()]
    )


def _thrift_rows(connection, select: str) -> list[tuple]:
    """A select's rows through PyHive, dates as dates (PyHive gives their text; its
    timestamps are naive in the server's session time zone, UTC)."""
    cursor = connection.cursor()
    try:
        cursor.execute(select)
        dates = [
            index for index, column in enumerate(cursor.description) if column[1] == "DATE_TYPE"
        ]
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return [
        tuple(
            dt.date.fromisoformat(value) if index in dates and value is not None else value
            for index, value in enumerate(row)
        )
        for row in rows
    ]


def _cluster_applications(cluster) -> dict[str, int]:
    """The master's running applications: name -> cores granted."""
    with urllib.request.urlopen(cluster.status_url, timeout=5) as answer:
        return {app["name"]: app["cores"] for app in json.load(answer)["activeapps"]}


def test_the_marts_built_through_a_thrift_server_on_the_cluster_equal_postgres(
    spark, spark_cluster, spark_settings, spark_load, postgres_world, tmp_path
):
    """dbt's thrift method, as a client of a shared cluster would build: a HiveThriftServer2
    (its own process and Derby metastore) on the test's cluster sees the raw load's Parquet
    files as external tables, `dbt run` builds every model through it, and each mart, read
    back through the same kind of connection, equals PostgreSQL's row for row."""
    _, endpoints = postgres_world
    with thrift_server(
        spark_settings,
        tmp_path / "thrift",
        spark_cluster.master_url,
        shuffle_partitions=int(spark.conf.get("spark.sql.shuffle.partitions")),
    ) as server:
        registered = register_external_tables(server, raw_table_locations(spark))
        assert registered == [f"raw.{table.name}" for table in ALL_TABLES]
        summary = build_warehouse_through_thrift(
            spark_settings.with_overrides(home=tmp_path / "home"), server, command="run"
        )
        # The server's driver ran the models on executors of its own on the cluster.
        assert _cluster_applications(spark_cluster).get("ecom-thrift-server") == 2
        with thrift_connection(server) as connection:
            names = _assert_every_mart_equals_postgres(
                endpoints, lambda select: _thrift_rows(connection, select)
            )
    assert summary.counts() == {"success": len(summary.nodes)} and len(summary.nodes) >= 20
    # The marts are the server's (its warehouse); the raw rows were read in place, not copied:
    # the server's `raw` database is an empty folder.
    assert all((server.warehouse / "analytics.db" / name).is_dir() for name in names)
    assert not any((server.warehouse / "raw.db").iterdir())


def test_the_dbt_unit_tests_pass_on_the_cluster(spark, spark_settings, spark_warehouse):
    """The models' logic on Spark SQL, from the unit tests' fixed inputs (a failing one raises
    DbtRunError naming it). The data tests also pass on Spark (`dbt build`, docs/scale-out.md)
    but cost more than the module's time budget: one Spark job each."""
    summary = build_warehouse_on_spark(
        spark_settings, spark, command="test", select="test_type:unit"
    )
    assert {node.resource_type for node in summary.nodes} == {"unit_test"}
    assert len(summary.nodes) >= 12
    assert summary.counts() == {"pass": len(summary.nodes)}


@pytest.fixture(scope="module")
def postgres_training_frame(postgres_world) -> pd.DataFrame:
    """The training set through Feast's PostgreSQL offline store (the default path)."""
    settings, endpoints = postgres_world
    features.apply_feature_repo(settings, endpoints)
    return features.training_frame(settings, endpoints)


def test_the_feast_training_frame_on_the_cluster_equals_postgres(
    spark, spark_settings, spark_warehouse, postgres_training_frame
):
    expected = postgres_training_frame
    actual = training_frame_on_spark(spark_settings, spark)
    # Feast's registry for the Spark views lives with the session's other files.
    assert (spark_settings.resolved_spark_dir / "feast" / "registry.db").is_file()
    assert len(expected) >= 100 and expected["churned"].nunique() == 2
    assert sorted(actual.columns) == sorted(expected.columns)
    pd.testing.assert_frame_equal(
        actual[expected.columns], expected, check_dtype=False, rtol=0, atol=1e-9
    )


def _online_store_contents(client: redis.Redis) -> dict[bytes, dict[bytes, bytes]]:
    """Every key of the Redis database with its hash: what the service reads."""
    return {key: client.hgetall(key) for key in sorted(client.scan_iter(count=1000))}


def test_the_online_features_from_the_spark_marts_equal_postgres(
    spark, spark_settings, spark_warehouse, postgres_world, postgres_training_frame
):
    """`ecom features materialize` with ECOM_ENGINE=spark fills Redis from Spark's scoring mart
    with the very bytes PostgreSQL's materialization writes (keys, fields, values, event time),
    so the online path and the service do not change with the engine; a re-run is idempotent,
    and a user who left the snapshot is removed as on PostgreSQL."""
    settings, endpoints = postgres_world
    client = redis.Redis.from_url(endpoints.redis_url)
    client.flushdb()
    try:
        on_postgres = features.materialize_features(settings, endpoints)
        expected = _online_store_contents(client)
        client.flushdb()
        on_spark = features_stage(spark_settings, endpoints)
        assert _online_store_contents(client) == expected
        assert len(expected) == on_postgres.users >= 25
        assert (on_spark.users, on_spark.feature_views, on_spark.start) == (
            on_postgres.users,
            on_postgres.feature_views,
            on_postgres.start,
        )
        # A user who is not in the snapshot (here: one of its rows copied under another id,
        # stamped a week earlier) is removed; the snapshot's users stay as written.
        store = features.get_feature_store(settings, endpoints)
        leaver = _leaver_row(store, client, expected)
        assert features_stage(spark_settings, endpoints).removed == 1
        assert not client.exists(leaver) or not client.hgetall(leaver)
        assert _online_store_contents(client) == expected
    finally:
        client.flushdb()


def _leaver_row(store, client: redis.Redis, held: dict[bytes, dict[bytes, bytes]]) -> bytes:
    """Write a copy of one held user's row under a user id outside the snapshot, its event
    times a week older; returns its key."""
    from ecom.features.feast_internals import encode_timestamp, redis_keys_for_ids, stamp_time

    (key,) = redis_keys_for_ids(store.config, "user_id", [987_654_321])
    row = dict(next(iter(held.values())))
    for field, raw in row.items():
        if field.startswith(b"_ts:"):
            row[field] = encode_timestamp(stamp_time(raw) - dt.timedelta(days=7))
    client.hset(key, mapping=row)
    return key


@pytest.fixture(scope="module")
def postgres_training(postgres_world, postgres_training_frame) -> training.TrainingResult:
    """One XGBoost candidate trained on PostgreSQL's frame: the champion the scores use."""
    settings, endpoints = postgres_world
    frame = postgres_training_frame
    columns = features.feature_service_columns(settings, endpoints)
    result = training.train_on_frame(settings, frame, columns, candidates=(churn_models.XGB_PLAIN,))
    assert result.promoted, result.decision.reason
    return result


@pytest.fixture(scope="module")
def champion(postgres_training) -> str:
    return postgres_training.model_version


def _stored_scores(database_url: str) -> pd.DataFrame:
    rows = fetch_all(
        database_url,
        "select user_id, churn_probability, risk_band, risk_percentile, population_band, "
        "model_version from analytics.churn_scores order by user_id",
    )
    return pd.DataFrame(
        rows, columns=["user_id", "p", "band", "percentile", "population", "version"]
    )


def test_batch_scores_on_the_cluster_equal_postgres(
    spark, spark_settings, spark_warehouse, postgres_world, champion
):
    settings, endpoints = postgres_world
    on_postgres = scoring.score_users(settings, endpoints)
    expected = _stored_scores(endpoints.database_url)
    on_spark = score_users_on_spark(spark_settings, endpoints, spark)
    written = _stored_scores(endpoints.database_url)
    spark_table = (
        spark.sql(
            "select user_id, churn_probability as p, risk_band as band, risk_percentile as "
            "percentile, population_band as population, model_version as version "
            "from analytics.churn_scores order by user_id"
        )
        .toPandas()
        .astype({"user_id": "int64"})
    )
    assert on_spark.scoring_date == on_postgres.scoring_date
    assert on_spark.users_scored == on_postgres.users_scored == len(expected) >= 25
    assert on_spark.model_version == on_postgres.model_version == champion
    for actual in (written, spark_table):
        assert actual["user_id"].tolist() == expected["user_id"].tolist()
        assert (actual["p"] - expected["p"]).abs().max() <= 1e-9
        assert (actual["percentile"] - expected["percentile"]).abs().max() <= 1e-9
        for column in ("band", "population", "version"):
            assert actual[column].tolist() == expected[column].tolist(), column


def test_training_on_the_spark_frame_equals_training_on_postgres(
    spark, spark_settings, spark_warehouse, postgres_world, postgres_training, world
):
    """`ecom train` on Spark: Feast's Spark offline store, then the same `train_on_frame`; the
    same rows give the same split, metrics and gate decision (the challenger ties the
    PostgreSQL champion, so the gate keeps it). The truth folder is checked against Spark's
    raw tables, whose fingerprint equals PostgreSQL's."""
    _, endpoints = postgres_world
    assert loaded_data_fingerprint_on_spark(spark) == loaded_data_fingerprint(
        endpoints.database_url
    )
    expected = postgres_training
    actual = train_churn_models_on_spark(
        spark_settings, spark, truth_dir=world, candidates=(churn_models.XGB_PLAIN,)
    )
    assert actual.model_version != expected.model_version  # a new registered version
    assert (actual.features, actual.rows, actual.windows) == (
        expected.features,
        expected.rows,
        expected.windows,
    )
    assert actual.oracle_auc is not None
    for part in ("validation", "test"):
        got = getattr(actual.candidates[churn_models.XGB_PLAIN], part)
        want = getattr(expected.candidates[churn_models.XGB_PLAIN], part)
        assert got.keys() == want.keys()
        for metric, value in want.items():
            assert got[metric] == pytest.approx(value, rel=0, abs=1e-9), (part, metric)
    assert not actual.promoted, actual.decision.reason
    assert actual.champion_version == expected.model_version


def _stored_targets(database_url: str) -> pd.DataFrame:
    rows = fetch_all(
        database_url,
        "select target_rank, user_id, churn_probability, expected_incremental_value, list_basis "
        "from analytics.retention_targets order by target_rank",
    )
    return pd.DataFrame(rows, columns=["rank", "user_id", "p", "value", "basis"])


def test_the_retention_list_from_the_spark_snapshot_equals_postgres(
    spark_settings, postgres_world, champion
):
    """`ecom score`'s list on Spark reads Spark's scoring snapshot (never PostgreSQL's mart)
    and is the churn-risk fallback, saying why; with the same scores it picks the same users
    in the same order as the PostgreSQL path's fallback."""
    settings, endpoints = postgres_world
    on_postgres = retention_targets_stage(settings, endpoints)
    expected = _stored_targets(endpoints.database_url)
    on_spark = retention_targets_stage(spark_settings, endpoints)
    actual = _stored_targets(endpoints.database_url)
    assert on_postgres.list_basis == on_spark.list_basis == "churn_risk_fallback"
    assert on_spark.fallback_reason == skipped_on_engine(spark_settings, "uplift")
    assert on_spark.scoring_date == on_postgres.scoring_date
    assert on_spark.targets == on_postgres.targets == len(expected) > 0
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=0, atol=1e-9)


def test_the_pipeline_on_spark_checks_spark_tables_and_names_each_skipped_stage(
    spark, spark_settings, spark_warehouse, postgres_world, tmp_path
):
    """Before training, the pipeline checks the Spark features mart, never PostgreSQL's (an
    unreachable database here); the stages that read PostgreSQL's marts only are skipped with
    a reason, the rest run, and nothing is skipped on PostgreSQL."""
    settings, _ = postgres_world
    nowhere = Endpoints("postgresql://nobody@127.0.0.1:1/none", "redis://127.0.0.1:1/0", False)
    check_feature_inputs(spark_settings, nowhere, tmp_path)
    spark.sql("alter table analytics.mart_churn_features rename to analytics.features_aside")
    try:
        with pytest.raises(StageInputMissing, match="mart_churn_features does not exist on Spark"):
            check_feature_inputs(spark_settings, nowhere, tmp_path)
    finally:
        spark.sql("alter table analytics.features_aside rename to analytics.mart_churn_features")
    skipped = ("quality", "uplift", "drift", "monitor", "experiment")
    for stage in skipped:
        assert skipped_on_engine(spark_settings, stage), stage
    for stage in ("load", "transform", "features", "train", "score", "targets"):
        assert skipped_on_engine(spark_settings, stage) is None, stage
    assert not any(skipped_on_engine(settings, stage) for stage in skipped)
