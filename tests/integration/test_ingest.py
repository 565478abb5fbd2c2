"""`load_raw_tables` against a real PostgreSQL: load, re-load, views kept, and every bad input
rejected with file, line and column while `raw` stays exactly as it was."""

from __future__ import annotations

import csv
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2
import pytest

from ecom.db import connect, fetch_all
from ecom.ingest.files import LoadError
from ecom.ingest.load import load_raw_tables
from ecom.ingest.validation import STAGING_SCHEMA, plan_load
from ecom.thelook import ALL_TABLES
from tests.integration.pg_catalog import column_types

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "ingest"
EXPECTED_ROWS = {
    "users": 5,
    "orders": 4,
    "order_items": 4,
    "products": 3,
    "inventory_items": 5,
    "distribution_centers": 2,
    "events": 8,
    "campaign_contacts": 3,
    "experiment_assignments": 3,
}


def _execute(database_url: str, *statements: str) -> None:
    connection = connect(database_url)
    try:
        with connection, connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.close()


@pytest.fixture
def clean_db(database_url: str) -> str:
    """The session database with no raw, staging or view schemas left by an earlier test."""
    _execute(
        database_url,
        "drop schema if exists raw cascade",
        f"drop schema if exists {STAGING_SCHEMA} cascade",
        "drop schema if exists ingest_views cascade",
        "drop schema if exists ingest_other cascade",
    )
    return database_url


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A private copy of the handmade fixture that a test may break."""
    target = tmp_path / "thelook"
    shutil.copytree(FIXTURE, target)
    return target


def raw_snapshot(database_url: str) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every row of every table in `raw`."""
    tables = fetch_all(
        database_url,
        "select table_name from information_schema.tables where table_schema = 'raw' "
        "order by table_name",
    )
    snapshot = {}
    for (name,) in tables:
        count, checksum = fetch_all(
            database_url,
            f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) "
            f"from raw.{name} as t",
        )[0]
        snapshot[name] = (count, checksum)
    return snapshot


def rewrite_csv(path: Path, edit: Callable[[list[list[str]]], list[list[str]]]) -> None:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(edit(rows))


def set_field(path: Path, line: int, column: str, value: str) -> None:
    """Set one field; `line` is the file line (header = 1) in a file without multi-line fields."""

    def edit(rows: list[list[str]]) -> list[list[str]]:
        rows[line - 1][rows[0].index(column)] = value
        return rows

    rewrite_csv(path, edit)


# One changed field per table, in rows no bad-input case below edits or duplicates: a load of
# this data into a `raw` holding the fixture replaces the content of every table.
DATASET_B_EDITS = {
    "users": (6, "first_name", "Eva"),
    "orders": (5, "status", "Shipped"),
    "order_items": (5, "status", "Shipped"),
    "products": (4, "retail_price", "8.25"),
    "inventory_items": (6, "cost", "41.5"),
    "distribution_centers": (3, "latitude", "41.9"),
    "events": (10, "uri", "/cancel?reason=price"),
    "campaign_contacts": (4, "cost", "12.5"),
    "experiment_assignments": (4, "variant", "control"),
}


def make_dataset_b(data_dir: Path) -> None:
    """Turn the fixture copy in `data_dir` into data that differs from it in every table, so
    a failed load that left any table half-replaced changes what `raw` holds."""
    assert set(DATASET_B_EDITS) == {table.name for table in ALL_TABLES}
    for table, (line, column, value) in DATASET_B_EDITS.items():
        set_field(data_dir / f"{table}.csv", line, column, value)


# --------------------------------------------------------------------------- good loads


def test_load_fixture_types_nulls_duplicates_and_anonymous_events(clean_db, data_dir):
    started = time.perf_counter()
    report = load_raw_tables(clean_db, data_dir, progress=False)
    elapsed = time.perf_counter() - started

    assert report.rows_by_table() == EXPECTED_ROWS
    assert report.table("events").duplicates_dropped == 1
    assert report.duplicates_dropped == 1
    assert report.total_rows == sum(EXPECTED_ROWS.values())
    # The report's clock runs inside the call: never longer than the wall time around it, so
    # its rate is at least the rows over that wall time (a zero or unset timer fails here).
    assert 0 < report.swap_seconds < report.seconds <= elapsed
    assert report.rows_per_second >= report.total_rows / elapsed
    assert {name: count for name, (count, _) in raw_snapshot(clean_db).items()} == EXPECTED_ROWS

    # `null` in text columns and empty fields are NULL; other text is kept verbatim.
    assert fetch_all(clean_db, "select city, state from raw.users where id = 1") == [
        (None, "São Paulo")
    ]
    assert fetch_all(clean_db, "select state from raw.users where id = 4") == [(None,)]
    assert fetch_all(clean_db, "select brand from raw.products where id = 12") == [(None,)]
    assert fetch_all(
        clean_db, "select count(*) from raw.events where user_id is null and city is null"
    ) == [(2,)]
    assert fetch_all(clean_db, "select sold_at from raw.inventory_items where id = 102") == [
        (None,)
    ]
    # Public export formats: fractional UTC timestamps, POINT geometry, non-US postal codes.
    assert fetch_all(
        clean_db,
        "select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), "
        "user_geom, postal_code from raw.users where id in (1, 3) order by id",
    ) == [
        ("2019-03-02 10:15:00.000000", "POINT(-46.6333 -23.5505)", "69980-000"),
        ("2021-11-30 23:59:59.123456", "POINT(2.3522 48.8566)", "75001"),
    ]
    assert fetch_all(clean_db, "select street_address from raw.users where id = 5") == [
        ('221B Baker St, Flat "B"',)
    ]
    # Typed columns and primary keys as the contract says.
    types = column_types(clean_db, "raw", "order_items")
    assert types["sale_price"] == "double precision"
    assert types["created_at"] == "timestamp with time zone"
    assert types["id"] == "bigint"
    keys = fetch_all(
        clean_db,
        "select conrelid::regclass::text, pg_get_constraintdef(oid) from pg_constraint "
        "where contype = 'p' and connamespace = 'raw'::regnamespace order by 1",
    )
    assert len(keys) == len(ALL_TABLES)
    assert ("raw.experiment_assignments", "PRIMARY KEY (experiment_id, user_id)") in keys
    assert fetch_all(clean_db, "select to_regnamespace(%s)", (STAGING_SCHEMA,)) == [(None,)]


def test_columns_in_another_order_load_by_name(clean_db, data_dir):
    rewrite_csv(
        data_dir / "distribution_centers.csv", lambda rows: [list(reversed(r)) for r in rows]
    )
    load_raw_tables(clean_db, data_dir, progress=False)
    assert fetch_all(
        clean_db, "select name, latitude from raw.distribution_centers where id = 2"
    ) == [("Chicago IL", 41.8369)]


def test_optional_table_without_csv_loads_empty(clean_db, data_dir):
    load_raw_tables(clean_db, data_dir, progress=False)
    (data_dir / "experiment_assignments.csv").unlink()
    report = load_raw_tables(clean_db, data_dir, progress=False)
    assert report.table("experiment_assignments").rows == 0
    assert report.table("experiment_assignments").csv_path is None
    assert fetch_all(clean_db, "select count(*) from raw.experiment_assignments") == [(0,)]


def test_reload_keeps_counts_and_dependent_views(clean_db, data_dir):
    first = load_raw_tables(clean_db, data_dir, progress=False)
    _execute(
        clean_db,
        "create schema ingest_views",
        "create view ingest_views.stg_users as select id as user_id, city from raw.users",
        "comment on view ingest_views.stg_users is 'staging users'",
        "comment on column ingest_views.stg_users.city is 'NULL when the export said null'",
        "grant select on ingest_views.stg_users to public",
        "grant select on raw.users to public",
        # a view over a view and a second raw table: must come back after stg_users
        "create view ingest_views.user_events as select u.user_id, count(e.id) as events "
        "from ingest_views.stg_users as u left join raw.events as e on e.user_id = u.user_id "
        "group by u.user_id",
        "create materialized view ingest_views.order_counts as "
        "select user_id, count(*) as orders from raw.orders group by user_id",
        "create unique index order_counts_user on ingest_views.order_counts (user_id)",
    )
    before = raw_snapshot(clean_db)

    second = load_raw_tables(clean_db, data_dir, progress=False)

    assert second.rows_by_table() == first.rows_by_table()
    assert raw_snapshot(clean_db) == before
    assert second.views_recreated == 3
    assert fetch_all(clean_db, "select events from ingest_views.user_events where user_id = 1") == [
        (4,)
    ]
    assert fetch_all(
        clean_db,
        "select obj_description('ingest_views.stg_users'::regclass, 'pg_class'), "
        "col_description('ingest_views.stg_users'::regclass, 2), "
        "has_table_privilege('public', 'ingest_views.stg_users', 'select'), "
        "has_table_privilege('public', 'raw.users', 'select')",
    ) == [("staging users", "NULL when the export said null", True, True)]
    assert fetch_all(
        clean_db, "select indexdef from pg_indexes where indexname = 'order_counts_user'"
    ) == [
        (
            "CREATE UNIQUE INDEX order_counts_user ON ingest_views.order_counts USING btree (user_id)",
        )
    ]

    # The views read the new tables, not a copy of the old ones.
    rewrite_csv(
        data_dir / "events.csv",
        lambda rows: [*rows, ["9", "1", "5", "9a1b2c3d-0001", "2019-03-05 11:01:00 UTC",
                              "187.45.3.2", "", "", "", "Chrome", "Email", "/home", "home"]],
    )  # fmt: skip
    load_raw_tables(clean_db, data_dir, progress=False)
    assert fetch_all(clean_db, "select events from ingest_views.user_events where user_id = 1") == [
        (5,)
    ]


# --------------------------------------------------------------------------- bad input


def _drop_email(rows: list[list[str]]) -> list[list[str]]:
    position = rows[0].index("email")
    return [row[:position] + row[position + 1 :] for row in rows]


def _truncate_row(rows: list[list[str]]) -> list[list[str]]:
    rows[2] = rows[2][:4]
    return rows


def _conflicting_order(rows: list[list[str]]) -> list[list[str]]:
    clash = list(rows[1])
    clash[rows[0].index("status")] = "Shipped"
    return [*rows, clash]


def _multiline_then_bad_age(rows: list[list[str]]) -> list[list[str]]:
    # Record 2 spans lines 3-5; record 4 (bad age) therefore starts on line 7, not line 5.
    rows[2][rows[0].index("street_address")] = "12 Market St\nSuite 400\nBack door"
    rows[4][rows[0].index("age")] = "forty"
    return rows


def _bad_field(file: str, line: int, column: str, value: str, reason: str) -> tuple:
    """A case that writes `value` into one field: the error must name that very field."""
    return (lambda d: set_field(d / file, line, column, value), (file, line, column, reason))


BAD_INPUTS = {
    "missing column": (
        lambda d: rewrite_csv(d / "users.csv", _drop_email),
        ("users.csv", 1, "email", "missing column"),
    ),
    "unparsable bigint": _bad_field("events.csv", 4, "user_id", "abc", "bigint"),
    "unparsable timestamp": _bad_field(
        "orders.csv", 3, "created_at", "2022-02-30 10:00:00 UTC", "out of range"
    ),
    "unparsable double": _bad_field("order_items.csv", 5, "sale_price", "12,5", "double precision"),
    "null word in a number column": _bad_field("users.csv", 6, "age", "null", "integer"),
    "row with missing fields": (
        lambda d: rewrite_csv(d / "products.csv", _truncate_row),
        ("products.csv", 3, "brand", "missing data"),
    ),
    "multi-line field before the bad value": (
        lambda d: rewrite_csv(d / "users.csv", _multiline_then_bad_age),
        ("users.csv", 7, "age", "integer"),
    ),
    "conflicting duplicate id": (
        lambda d: rewrite_csv(d / "orders.csv", _conflicting_order),
        ("orders.csv", 6, "order_id", "order_id=1000 with different content on lines 2 and 6"),
    ),
    "empty primary key": _bad_field("inventory_items.csv", 4, "id", "", "empty primary key"),
    "invalid UTF-8": (
        lambda d: (d / "distribution_centers.csv").write_bytes(
            (d / "distribution_centers.csv").read_bytes().replace(b"Chicago", b"Chic\xffgo")
        ),
        ("distribution_centers.csv", 3, "name", "invalid byte sequence"),
    ),
}


def test_dataset_b_replaces_every_table(clean_db, data_dir):
    """The failure tests below rely on this: a load of dataset B changes every raw table."""
    load_raw_tables(clean_db, FIXTURE, progress=False)
    dataset_a = raw_snapshot(clean_db)
    make_dataset_b(data_dir)
    load_raw_tables(clean_db, data_dir, progress=False)
    dataset_b = raw_snapshot(clean_db)
    assert set(dataset_a) == set(dataset_b) == set(DATASET_B_EDITS)
    assert [name for name in dataset_a if dataset_a[name] == dataset_b[name]] == []


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_names_file_line_column_and_changes_nothing(clean_db, data_dir, case):
    load_raw_tables(clean_db, FIXTURE, progress=False)
    before = raw_snapshot(clean_db)
    make_dataset_b(data_dir)
    breaks, (file, line, column, reason) = BAD_INPUTS[case]
    breaks(data_dir)

    with pytest.raises(LoadError) as caught:
        load_raw_tables(clean_db, data_dir, progress=False)

    error = caught.value
    assert error.file.name == file
    assert error.line == line
    assert error.column == column
    assert reason in error.reason
    assert file in str(error) and (line is None or f"line {line}" in str(error))
    assert raw_snapshot(clean_db) == before
    assert fetch_all(clean_db, "select to_regnamespace(%s)", (STAGING_SCHEMA,)) == [(None,)]


def test_conflicting_duplicate_names_the_differing_column(clean_db, data_dir):
    rewrite_csv(data_dir / "orders.csv", _conflicting_order)
    with pytest.raises(LoadError) as caught:
        load_raw_tables(clean_db, data_dir, progress=False)
    assert caught.value.lines == (2, 6)
    assert "differs in status" in caught.value.reason


def test_crlf_file_with_multiline_field_reports_the_real_line(clean_db, data_dir):
    rewrite_csv(data_dir / "users.csv", _multiline_then_bad_age)
    path = data_dir / "users.csv"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    with pytest.raises(LoadError) as caught:
        load_raw_tables(clean_db, data_dir, progress=False)
    assert (caught.value.line, caught.value.column) == (7, "age")


def test_failed_first_load_creates_no_raw_tables(clean_db, data_dir):
    set_field(data_dir / "events.csv", 9, "created_at", "not a time")
    with pytest.raises(LoadError):
        load_raw_tables(clean_db, data_dir, progress=False)
    assert raw_snapshot(clean_db) == {}


def test_object_that_blocks_the_swap_rolls_everything_back(clean_db, data_dir):
    """The swap replaces tables in the loader's order; a foreign key onto the last one makes
    its DROP fail after every other table was already replaced by dataset B in the same
    transaction, so only an all-or-nothing commit leaves `raw` holding dataset A."""
    load_raw_tables(clean_db, FIXTURE, progress=False)
    last = [plan.table.name for plan in plan_load(data_dir)][-1]
    assert last == "experiment_assignments"  # the key below names its primary key columns
    _execute(
        clean_db,
        "create schema ingest_other",
        "create table ingest_other.vip (experiment_id text, user_id bigint, "
        "foreign key (experiment_id, user_id) references raw.experiment_assignments)",
    )
    dataset_a = raw_snapshot(clean_db)
    make_dataset_b(data_dir)
    with pytest.raises(
        psycopg2.errors.DependentObjectsStillExist,
        match=r"(?s)cannot drop table raw\.experiment_assignments.*ingest_other\.vip",
    ):
        load_raw_tables(clean_db, data_dir, progress=False)
    assert raw_snapshot(clean_db) == dataset_a
    assert fetch_all(clean_db, "select to_regnamespace(%s)", (STAGING_SCHEMA,)) == [(None,)]


# --------------------------------------------------------------------------- split files


def _grow_events(data_dir: Path, extra: int = 3_000) -> int:
    """Append `extra` events so that events.csv outweighs all other files together and the
    loader cuts it into parts; returns the file line of the last appended row."""
    rows = [
        [str(100 + i), "" if i % 7 == 0 else str(1 + i % 5), str(1 + i % 9), f"s-{i // 9}",
         f"2021-02-{1 + i % 28:02d} 10:{i % 60:02d}:00.000000 UTC", "10.1.2.3", "Paris",
         "Île-de-France", "75001", "Chrome", "Email", f"/product/{10 + i % 3}", "product"]
        for i in range(extra)
    ]  # fmt: skip
    rewrite_csv(data_dir / "events.csv", lambda existing: existing + rows)
    with open(data_dir / "events.csv", newline="") as handle:
        return sum(1 for _ in handle)


def _split_load(database_url: str, data_dir: Path):
    return load_raw_tables(database_url, data_dir, progress=False, workers=2, min_split_bytes=0)


def test_split_file_loads_the_same_rows_as_one_stream(clean_db, data_dir):
    _grow_events(data_dir)
    single = load_raw_tables(clean_db, data_dir, progress=False, workers=1)
    assert single.table("events").parts == 1
    one_stream = raw_snapshot(clean_db)

    split = _split_load(clean_db, data_dir)

    assert split.table("events").parts == 2
    assert split.table("events").rows == 3_008
    assert split.table("events").duplicates_dropped == 1
    assert split.table("events").bytes_read == (data_dir / "events.csv").stat().st_size
    assert raw_snapshot(clean_db) == one_stream


def test_split_file_reports_lines_of_the_whole_file(clean_db, data_dir):
    last_line = _grow_events(data_dir)
    make_dataset_b(data_dir)
    set_field(data_dir / "events.csv", last_line - 1, "sequence_number", "two")
    load_raw_tables(clean_db, FIXTURE, progress=False)
    before = raw_snapshot(clean_db)
    with pytest.raises(LoadError) as caught:
        _split_load(clean_db, data_dir)
    assert (caught.value.line, caught.value.column) == (last_line - 1, "sequence_number")
    assert raw_snapshot(clean_db) == before


def test_split_file_duplicates_across_parts(clean_db, data_dir):
    last_line = _grow_events(data_dir)
    rows = list(csv.reader((data_dir / "events.csv").read_text(encoding="utf-8").splitlines()))
    exact, clash = list(rows[1]), list(rows[2])
    clash[rows[0].index("uri")] = "/somewhere/else"
    rewrite_csv(data_dir / "events.csv", lambda existing: [*existing, exact])
    report = _split_load(clean_db, data_dir)
    assert report.table("events").parts == 2
    assert report.table("events").duplicates_dropped == 2  # the fixture's own and this one

    rewrite_csv(data_dir / "events.csv", lambda existing: [*existing, clash])
    with pytest.raises(LoadError) as caught:
        _split_load(clean_db, data_dir)
    assert caught.value.lines == (3, last_line + 2)
    assert "differs in uri" in caught.value.reason
