"""The Great Expectations gate against a real PostgreSQL: clean data passes, planted bad rows
fail with a message naming table, column and expectation, re-runs are idempotent, missing marts
are reported, and data docs land under ECOM_HOME.

The tables live in a database of their own (not the session database other tests load into),
and GX runs a handful of times in total because each run costs seconds.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import great_expectations as gx
import pytest

from ecom.config import Settings
from ecom.db import create_database, drop_database, transaction
from ecom.ingest.load import load_raw_tables
from ecom.quality.gate import CHECKPOINT_NAME, DATASOURCE_NAME, gx_project_dir, run_quality_gate
from ecom.quality.report import QualityGateFailed, QualityReport
from ecom.quality.suites import CHURN_FEATURE_COLUMNS, raw_suites
from ecom.quality.verdicts import latest_verdict
from ecom.services import Endpoints
from ecom.synth import generate_dataset
from ecom.synth.campaign import CampaignPlan
from ecom.thelook import ALL_TABLES, RAW_SCHEMA

pytestmark = pytest.mark.integration

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def _ts(day: str, time: str = "10:00:00") -> str:
    return f"{day} {time}+00"


CLEAN_ROWS: dict[str, list[tuple]] = {
    "distribution_centers": [
        (1, "Memphis TN", 35.1174, -89.9711, "POINT(-89.9711 35.1174)"),
        (2, "Chicago IL", 41.8369, -87.6847, "POINT(-87.6847 41.8369)"),
    ],
    "products": [
        (1, 12.5, "Jeans", "Slim Jeans", "Levi's", 25.0, "Men", "SKU1", 1),
        (2, 30.0, "Outerwear", "Rain Coat", "North", 60.0, "Women", "SKU2", 2),
        (3, 4.0, "Socks", "Wool Socks", "Smart", 9.5, "Women", "SKU3", 1),
    ],
    "inventory_items": [
        (1, 1, _ts("2024-01-01"), _ts("2024-03-01"), 12.5, "Jeans", "Slim Jeans", "Levi's", 25.0, "Men", "SKU1", 1),
        (2, 2, _ts("2024-01-01"), _ts("2024-03-02"), 30.0, "Outerwear", "Rain Coat", "North", 60.0, "Women", "SKU2", 2),
        (3, 3, _ts("2024-01-01"), _ts("2024-03-02"), 4.0, "Socks", "Wool Socks", "Smart", 9.5, "Women", "SKU3", 1),
        (4, 1, _ts("2024-01-01"), None, 12.5, "Jeans", "Slim Jeans", "Levi's", 25.0, "Men", "SKU1", 1),
    ],
    "users": [
        (1, "Ann", "Lee", "ann@example.com", 34, "F", "Texas", "1 Main St", "75001", "Dallas", "United States", 32.7, -96.8, "Search", _ts("2023-12-01"), "POINT(-96.8 32.7)"),
        (2, "Bob", "Ray", "bob@example.com", 51, "M", "Parana", "2 Rua", "69980-000", None, "Brasil", -25.4, -49.2, "Email", _ts("2024-01-15"), "POINT(-49.2 -25.4)"),
        (3, "Cy", "Oh", "cy@example.com", 19, "M", "Ohio", "3 Elm", "43004", "Columbus", "United States", 39.9, -82.9, "Organic", _ts("2024-02-01"), "POINT(-82.9 39.9)"),
    ],
    "orders": [
        (1, 1, "Complete", "F", _ts("2024-03-01"), None, _ts("2024-03-02"), _ts("2024-03-05"), 1),
        (2, 2, "Shipped", "M", _ts("2024-03-02"), None, _ts("2024-03-03"), None, 2),
        (3, 3, "Cancelled", "M", _ts("2024-03-04"), None, None, None, 1),
    ],
    "order_items": [
        (1, 1, 1, 1, 1, "Complete", _ts("2024-03-01"), _ts("2024-03-02"), _ts("2024-03-05"), None, 25.0),
        (2, 2, 2, 2, 2, "Shipped", _ts("2024-03-02"), _ts("2024-03-03"), None, None, 60.0),
        (3, 2, 2, 3, 3, "Shipped", _ts("2024-03-02"), _ts("2024-03-03"), None, None, 9.5),
        (4, 3, 3, 1, 4, "Cancelled", _ts("2024-03-04"), None, None, None, 25.0),
    ],
    "events": [
        (1, 1, 1, "s1", _ts("2024-03-01", "09:50:00"), "1.2.3.4", "Dallas", "Texas", "75001", "Chrome", "Email", "/product/1", "product"),
        (2, 1, 2, "s1", _ts("2024-03-01", "09:55:00"), "1.2.3.4", "Dallas", "Texas", "75001", "Chrome", "Email", "/cart", "cart"),
        (3, 1, 3, "s1", _ts("2024-03-01", "10:00:00"), "1.2.3.4", "Dallas", "Texas", "75001", "Chrome", "Email", "/purchase", "purchase"),
        (4, 2, 1, "s2", _ts("2024-03-02", "09:58:00"), "5.6.7.8", None, "Parana", "69980-000", "Safari", "Adwords", "/cart", "cart"),
        (5, 2, 2, "s2", _ts("2024-03-02", "10:00:00"), "5.6.7.8", None, "Parana", "69980-000", "Safari", "Adwords", "/purchase", "purchase"),
        (6, 3, 1, "s3", _ts("2024-03-04", "10:00:00"), "9.9.9.9", "Columbus", "Ohio", "43004", "Firefox", "Organic", "/purchase", "purchase"),
        (7, 3, 2, "s3", _ts("2024-03-04", "10:05:00"), "9.9.9.9", "Columbus", "Ohio", "43004", "Firefox", "Organic", "/cancel", "cancel"),
        (8, None, 1, "s4", _ts("2024-03-05"), "8.8.8.8", "Austin", "Texas", "73301", "Other", "YouTube", "/", "home"),
    ],
    "campaign_contacts": [
        ("winback_20240226", 1, _ts("2024-02-26"), "control", "email", 0.0, 0.5),
        ("winback_20240226", 2, _ts("2024-02-26"), "treatment", "email", 10.0, 0.5),
    ],
    "experiment_assignments": [
        ("checkout_v2", 1, "control", _ts("2024-02-20")),
        ("checkout_v2", 2, "treatment", _ts("2024-02-21")),
    ],
}  # fmt: skip


def _create_raw_tables(database_url: str) -> None:
    with transaction(database_url) as cursor:
        cursor.execute(f"create schema if not exists {RAW_SCHEMA}")
        for table in ALL_TABLES:
            columns = ", ".join(f"{column.name} {column.pg_type}" for column in table.columns)
            cursor.execute(
                f"create table {RAW_SCHEMA}.{table.name} "
                f"({columns}, primary key ({', '.join(table.primary_key)}))"
            )
            rows = CLEAN_ROWS[table.name]
            placeholders = ", ".join(["%s"] * len(table.columns))
            cursor.executemany(
                f"insert into {RAW_SCHEMA}.{table.name} values ({placeholders})", rows
            )


def _create_churn_marts(database_url: str, churned: list[int]) -> None:
    """Three users at two weekly cutoffs, plus scoring rows, with the contract's columns."""
    feature_types = {
        "user_id": "bigint", "cutoff_date": "date", "feature_timestamp": "timestamptz",
        "traffic_source": "text", "gender": "text", "country": "text",
        "frequency_orders": "integer", "sessions_count": "integer", "events_count": "integer",
        "product_views": "integer", "cart_adds": "integer", "purchase_events": "integer",
        "cancelled_orders": "integer", "returned_orders": "integer", "tenure_days": "integer",
        "age": "integer",
    }  # fmt: skip
    ddl = ", ".join(
        f"{column} {feature_types.get(column, 'double precision')}"
        for column in CHURN_FEATURE_COLUMNS
    )
    cutoffs = [date(2024, 3, 11), date(2024, 3, 18)]
    feature_rows, label_rows = [], []
    for index, (user_id, cutoff) in enumerate((u, c) for c in cutoffs for u in (1, 2, 3)):
        stamp = datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC)
        feature_rows.append(
            (user_id, cutoff, stamp, 7.0 + index, 1, 25.0, 25.0, None, 2, 5, 2, 1, 1, 0.5, 1.0,
             0, 0, 3.0, 100 + index, "Search", 30, "F", "United States")
        )  # fmt: skip
        label_rows.append((user_id, cutoff, stamp, churned[index], stamp + timedelta(days=30)))
    as_of = date(2024, 4, 20)
    as_of_stamp = datetime(2024, 4, 20, tzinfo=UTC)
    scoring_rows = [
        (u, as_of, as_of_stamp, *row[3:]) for u, row in zip((1, 2, 3), feature_rows, strict=False)
    ]
    with transaction(database_url) as cursor:
        cursor.execute("drop schema if exists analytics cascade; create schema analytics")
        for name, rows in (
            ("mart_churn_features", feature_rows),
            ("mart_churn_scoring", scoring_rows),
        ):
            cursor.execute(f"create table analytics.{name} ({ddl})")
            placeholders = ", ".join(["%s"] * len(CHURN_FEATURE_COLUMNS))
            cursor.executemany(f"insert into analytics.{name} values ({placeholders})", rows)
        cursor.execute(
            "create table analytics.mart_churn_labels (user_id bigint, cutoff_date date, "
            "feature_timestamp timestamptz, churned integer, label_horizon_end timestamptz)"
        )
        cursor.executemany(
            "insert into analytics.mart_churn_labels values (%s, %s, %s, %s, %s)", label_rows
        )


@contextlib.contextmanager
def _own_database(database_url: str) -> Iterator[str]:
    """A throwaway database beside the session's, so `raw` here is nobody else's."""
    name = f"ecom_quality_{uuid.uuid4().hex[:8]}"
    url = create_database(database_url, name)
    try:
        yield url
    finally:
        drop_database(database_url, name)


# One SQL statement, with its parameters when it has any.
Statement = str | tuple[str, tuple]


def _execute(database_url: str, statements: list[Statement]) -> None:
    with transaction(database_url) as cursor:
        for statement in statements:
            sql, params = (statement, None) if isinstance(statement, str) else statement
            cursor.execute(sql, params)


@contextlib.contextmanager
def _planted(database_url: str, plant: list[Statement], restore: list[Statement]) -> Iterator[None]:
    """Rows planted in the module's clean tables for one test and taken out again by `restore`
    whatever the test does, so the tests after it still see the clean tables."""
    _execute(database_url, plant)
    try:
        yield
    finally:
        _execute(database_url, restore)


@pytest.fixture(scope="module")
def quality_db(database_url: str) -> Iterator[str]:
    """A database of this module's own, holding the clean handcrafted raw tables."""
    with _own_database(database_url) as url:
        _create_raw_tables(url)
        yield url


@pytest.fixture(scope="module")
def gate_settings(ecom_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return ecom_settings.with_overrides(home=tmp_path_factory.mktemp("quality_home"))


@pytest.fixture(scope="module")
def endpoints(quality_db: str, redis_url: str) -> Endpoints:
    return Endpoints(quality_db, redis_url, embedded=False)


@pytest.fixture(scope="module")
def clean_reports(gate_settings: Settings, endpoints: Endpoints) -> list[QualityReport]:
    """The raw gate run twice on the clean tables (the second run checks idempotence)."""
    return [
        run_quality_gate(gate_settings, endpoints, include_marts=False, now=NOW) for _ in range(2)
    ]


def _expected_expectation_count() -> int:
    return sum(len(suite.expectations) for suite in raw_suites(NOW))


def test_clean_raw_tables_pass_and_write_data_docs(clean_reports, gate_settings):
    report = clean_reports[0]
    assert report.passed, [failure.message for failure in report.failures]
    assert {suite.table: suite.rows for suite in report.suites} == {
        f"raw.{table}": len(rows) for table, rows in CLEAN_ROWS.items()
    }
    assert [suite.table for suite in report.suites] == [f"raw.{table.name}" for table in ALL_TABLES]
    assert report.evaluated == _expected_expectation_count()
    assert report.data_docs_path is not None
    assert report.data_docs_path.is_file()
    assert report.data_docs_path.is_relative_to(gx_project_dir(gate_settings))
    validation_pages = list((report.data_docs_path.parent / "validations").rglob("*.html"))
    assert any("order_items" in str(page) for page in validation_pages)


@pytest.mark.filterwarnings("ignore:`schema_name` is deprecated:DeprecationWarning")
def test_rerun_is_idempotent(clean_reports, gate_settings, endpoints):
    first, second = clean_reports
    assert second.passed
    assert [(s.table, s.evaluated) for s in second.suites] == [
        (s.table, s.evaluated) for s in first.suites
    ]
    # Read back through GX itself: suites replaced (not appended to), one datasource, one
    # validation definition per table in the checkpoint, and the URL kept out of the config.
    context = gx.get_context(mode="file", project_root_dir=str(gate_settings.resolved_home))
    for suite in raw_suites(NOW):
        assert len(context.suites.get(suite.name).expectations) == len(suite.expectations)
    checkpoint = context.checkpoints.get(CHECKPOINT_NAME)
    assert len(checkpoint.validation_definitions) == len(ALL_TABLES)
    assert [datasource.name for datasource in context.data_sources.all().values()] == [
        DATASOURCE_NAME
    ]
    config = (gx_project_dir(gate_settings) / "great_expectations.yml").read_text()
    assert "${ecom_gx_database_url}" in config
    assert endpoints.database_url not in config


def test_planted_bad_rows_fail_naming_table_column_and_expectation(
    gate_settings, endpoints, quality_db
):
    planted = [
        "update raw.order_items set sale_price = -5.0 where id = 3",
        "insert into raw.orders values (4, 1, 'Teleported', 'F', '2024-03-06 10:00:00+00', "
        "null, null, null, 1)",
        "insert into raw.order_items values (5, 4, 1, 3, null, 'Processing', "
        "'2024-03-06 10:00:00+00', null, null, null, 9.5)",
        "insert into raw.events values (9, 1, 1, 's5', '2024-03-06 10:00:00+00', '1.2.3.4', "
        "'Dallas', 'Texas', '75001', 'Chrome', 'Email', '/purchase', 'purchase')",
    ]
    restore = [
        "update raw.order_items set sale_price = 9.5 where id = 3",
        "delete from raw.order_items where id = 5",
        "delete from raw.orders where order_id = 4",
        "delete from raw.events where id = 9",
    ]
    with _planted(quality_db, planted, restore):
        report = run_quality_gate(gate_settings, endpoints, include_marts=False, now=NOW)

    assert not report.passed
    assert report.failed_tables == ["raw.orders", "raw.order_items"]
    by_table = {failure.table: failure for failure in report.failures}
    assert len(report.failures) == 2, [failure.message for failure in report.failures]
    price = by_table["raw.order_items"]
    assert (price.column, price.expectation_type) == (
        "sale_price",
        "expect_column_values_to_be_between",
    )
    assert price.message == (
        "raw.order_items: expect_column_values_to_be_between(sale_price, min 0) failed: "
        "1 of 5 rows (e.g. -5.0)"
    )
    status = by_table["raw.orders"]
    assert (status.column, status.expectation_type) == (
        "status",
        "expect_column_values_to_be_in_set",
    )
    assert status.message.startswith("raw.orders: expect_column_values_to_be_in_set(status, in {")
    assert status.message.endswith("failed: 1 of 4 rows (e.g. Teleported)")

    error = str(QualityGateFailed(report))
    for fragment in ("raw.order_items", "sale_price", "raw.orders", "status", "Teleported"):
        assert fragment in error


def test_rows_after_the_clock_warn_with_counts_and_the_far_future_blocks(
    gate_settings, endpoints, quality_db
):
    """Within the lead, future rows are facts of TheLook: counted per table and column, the
    gate passes. Against the data's own clock (int_data_clock) once dbt built it; a sign-up in
    2099 blocks whatever the clock."""
    soon = NOW + timedelta(days=3)
    planted = [
        (
            "insert into raw.events values (9, 1, 4, 's1', %s, '1.2.3.4', 'Dallas', 'Texas', "
            "'75001', 'Chrome', 'Email', '/purchase', 'purchase')",
            (soon,),
        ),
        ("update raw.orders set delivered_at = %s where order_id = 2", (soon,)),
    ]
    restore = [
        "drop schema if exists intermediate cascade",
        "delete from raw.events where id = 9",
        "update raw.orders set delivered_at = null where order_id = 2",
        ("update raw.users set created_at = %s where id = 3", (_ts("2024-02-01"),)),
    ]
    with _planted(quality_db, planted, restore):
        warned = run_quality_gate(gate_settings, endpoints, include_marts=False, now=NOW)
        _execute(
            quality_db,
            [
                "create schema intermediate",
                "create table intermediate.int_data_clock as "
                "select timestamptz '2024-03-05 00:00+00' as clock_at",
            ],
        )
        against_data = run_quality_gate(gate_settings, endpoints, include_marts=True, now=NOW)
        _execute(quality_db, ["update raw.users set created_at = '2099-01-01' where id = 3"])
        blocked = run_quality_gate(gate_settings, endpoints, include_marts=False, now=NOW)

    assert warned.passed, [failure.message for failure in warned.failures]
    assert [(w.table, w.column, w.rows) for w in warned.warnings] == [
        ("raw.orders", "delivered_at", 1),
        ("raw.events", "created_at", 1),
    ]
    assert "2 warnings (rows after the clock: raw.orders.delivered_at 1" in warned.summary_line()
    assert {s.table: s.warned for s in warned.suites}["raw.events"] == 1
    assert latest_verdict(quality_db) is not None

    # The data clock (2024-03-05) puts the fixture's own later stamps after it too: more
    # warnings, still no raw failure (the marts are missing here, and fail on their own).
    data_warnings = {(w.table, w.column): w for w in against_data.warnings}
    assert (
        "the data clock (2024-03-05 00:00 UTC)"
        in data_warnings[("raw.events", "created_at")].message
    )
    assert data_warnings[("raw.events", "created_at")].rows == 2  # 03-05 10:00 and the soon row
    assert not [f.message for f in against_data.failures if f.table.startswith("raw.")]

    assert not blocked.passed
    assert [(f.table, f.column) for f in blocked.failures] == [("raw.users", "created_at")]
    assert "2099" in blocked.failures[0].message


def test_missing_marts_are_failures_not_crashes(gate_settings, endpoints):
    report = run_quality_gate(gate_settings, endpoints, include_marts=True, now=NOW)
    assert not report.passed
    missing = [suite.table for suite in report.suites if suite.missing]
    assert "analytics.mart_churn_features" in missing
    assert "analytics.mart_churn_labels" in missing
    messages = [failure.message for failure in report.failures]
    assert (
        "analytics.mart_churn_features: table is missing (build the marts with `ecom transform`)"
        in messages
    )
    assert all(suite.passed for suite in report.suites if suite.table.startswith("raw."))


def test_churn_marts_pass_and_a_broken_base_rate_fails(gate_settings, endpoints, quality_db):
    _create_churn_marts(quality_db, churned=[0, 1, 0, 1, 1, 0])
    healthy = run_quality_gate(gate_settings, endpoints, include_marts=True, now=NOW)
    churn_tables = {
        "analytics.mart_churn_features",
        "analytics.mart_churn_labels",
        "analytics.mart_churn_scoring",
    }
    churn_outcomes = [suite for suite in healthy.suites if suite.table in churn_tables]
    assert len(churn_outcomes) == 3
    assert all(suite.passed for suite in churn_outcomes), [
        failure.message for failure in healthy.failures if failure.table in churn_tables
    ]

    _create_churn_marts(quality_db, churned=[1, 1, 1, 1, 1, 1])
    broken = run_quality_gate(gate_settings, endpoints, include_marts=True, now=NOW)
    label_failures = [
        failure for failure in broken.failures if failure.table == "analytics.mart_churn_labels"
    ]
    assert [failure.expectation_type for failure in label_failures] == [
        "expect_column_mean_to_be_between"
    ]
    assert label_failures[0].message == (
        "analytics.mart_churn_labels: expect_column_mean_to_be_between(churned, min 0.05, max 0.99) "
        "failed: observed 1"
    )
    assert Path(broken.data_docs_path).is_file()


def test_generated_and_loaded_dataset_passes_the_raw_gate(
    gate_settings, database_url, redis_url, tmp_path
):
    """The generator, the loader and the gate agree on the contract (today as the end date),
    and the reused GX datasource follows the database it is given (rows counted there)."""
    summary = generate_dataset(300, 11, tmp_path / "data", progress=False, campaign=CampaignPlan())
    with _own_database(database_url) as url:
        load_raw_tables(url, tmp_path / "data", progress=False)
        report = run_quality_gate(
            gate_settings, Endpoints(url, redis_url, embedded=False), include_marts=False
        )
    assert report.passed, [failure.message for failure in report.failures]
    assert {suite.table: suite.rows for suite in report.suites} == {
        f"raw.{table}": rows for table, rows in summary.rows.items()
    }
    assert report.evaluated == sum(
        len(suite.expectations) for suite in raw_suites(datetime.now(UTC))
    )


def test_every_gate_run_records_its_verdict_on_the_load_it_checked(
    gate_settings, database_url, redis_url, tmp_path
):
    """Training asks for the verdict on the load now in `raw`: the newest verdict counts, and a
    new load (new tables swapped in, even with the same rows) has none until it is gated."""
    generate_dataset(300, 12, tmp_path / "data", progress=False)
    with _own_database(database_url) as url:
        endpoints = Endpoints(url, redis_url, embedded=False)
        load_raw_tables(url, tmp_path / "data", progress=False)
        assert latest_verdict(url) is None
        passed = run_quality_gate(gate_settings, endpoints, include_marts=False)
        verdict = latest_verdict(url)
        assert passed.passed and verdict.passed and verdict.refusal() is None

        with transaction(url) as cursor:  # the same load, now with a sign-up from the future
            cursor.execute(
                f"update {RAW_SCHEMA}.users set created_at = '2099-01-01' "
                f"where id = (select min(id) from {RAW_SCHEMA}.users)"
            )
        failed = run_quality_gate(gate_settings, endpoints, include_marts=False)
        verdict = latest_verdict(url)
        assert not failed.passed and not verdict.passed
        assert verdict.summary == failed.verdict_text()
        assert verdict.summary.splitlines()[0] == failed.summary_line()
        assert "raw.users" in verdict.summary.splitlines()[1]
        assert "quality gate failed on this load" in verdict.refusal()

        load_raw_tables(url, tmp_path / "data", progress=False)
        assert latest_verdict(url) is None
