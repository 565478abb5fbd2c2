"""Every published shape of TheLook loads to the same raw rows and the same marts.

The shapes are built here from one small generated dataset, the way real copies differ from
the generator's files: the current BigQuery export with columns in another order, other
header and file-name case, gzip and each timestamp form the exports use; the Kaggle copy
without geometry columns or A/B assignments. Each shape is loaded into its own database on
the session's PostgreSQL and the dbt models are run once; raw tables and marts must equal
those of the canonical files row for row. A partial folder (no events, inventory or
distribution centres) must load, leave the marts built from events empty, pass the quality
gate with those suites listed as skipped, and stop the pipeline before the features in one
message.
"""

from __future__ import annotations

import csv
import gzip
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from ecom.config import Settings
from ecom.db import fetch_all
from ecom.ingest.files import LoadError
from ecom.ingest.load import load_raw_tables
from ecom.ingest.report import LoadReport
from ecom.quality.gate import run_quality_gate
from ecom.services import Endpoints
from ecom.stages import StageInputMissing, require_feature_inputs
from ecom.synth import generate_dataset
from ecom.synth.campaign import CampaignPlan
from ecom.thelook import ALL_TABLES, THELOOK_TABLES
from ecom.transform import churn_vars, run_dbt
from tests.integration.dbt_databases import private_database

pytestmark = pytest.mark.integration

SHAPE_USERS = 400
END_DATE = date(2025, 11, 24)
# The four ways TheLook copies write one instant; the generator writes the first.
TIMESTAMP_FORMS: tuple[Callable[[str], str], ...] = (
    lambda stamp: f"{stamp}.000000 UTC",
    lambda stamp: f"{stamp} UTC",
    lambda stamp: stamp.replace(" ", "T") + "Z",
    lambda stamp: f"{stamp}+00:00",
)
MARTS = (
    "mart_churn_features",
    "mart_churn_labels",
    "mart_churn_scoring",
    "mart_funnel",
    "mart_retention",
    "mart_rfm",
)
ORDER_ITEM_TABLES = ("orders", "order_items", "products", "users")


# --------------------------------------------------------------------------- shapes


def _read(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def _write(path: Path, rows: list[list[str]]) -> None:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "wt", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def _timestamp_columns(name: str) -> set[str]:
    table = next(table for table in ALL_TABLES if table.name == name)
    return {column.name for column in table.columns if column.pg_type == "timestamptz"}


def _rewrite_timestamps(header: list[str], rows: list[list[str]], table: str) -> None:
    """Row i writes its timestamps in form i % 4, so every form occurs in every column."""
    positions = [header.index(name) for name in _timestamp_columns(table) if name in header]
    for index, row in enumerate(rows):
        form = TIMESTAMP_FORMS[index % len(TIMESTAMP_FORMS)]
        for position in positions:
            if row[position]:
                assert row[position].endswith(".000000 UTC"), row[position]
                row[position] = form(row[position].removesuffix(".000000 UTC"))


def bigquery_reshaped(canonical: Path, target: Path) -> Path:
    """Columns reversed and upper-cased, file names capitalised, events and users gzipped,
    timestamps in all four forms, and a column the contract does not know on orders."""
    target.mkdir()
    for table in ALL_TABLES:
        header, *rows = _read(canonical / table.csv_name)
        _rewrite_timestamps(header, rows, table.name)
        order = list(reversed(range(len(header))))
        header = [header[i].upper() for i in order]
        rows = [[row[i] for i in order] for row in rows]
        if table.name == "orders":
            header.append("loaded_by")
            rows = [[*row, "export job 7"] for row in rows]
        name = table.csv_name.capitalize()
        if table.name in ("events", "users"):
            name += ".gz"
        _write(target / name, [header, *rows])
    return target


def kaggle_copy(canonical: Path, target: Path) -> Path:
    """The Kaggle copy: no geometry columns, no A/B assignments, `... UTC` timestamps."""
    target.mkdir()
    for table in THELOOK_TABLES:
        header, *rows = _read(canonical / table.csv_name)
        positions = [i for i, name in enumerate(header) if not name.endswith("_geom")]
        header = [header[i] for i in positions]
        rows = [[row[i] for i in positions] for row in rows]
        for row in rows:
            for position in [header.index(name) for name in _timestamp_columns(table.name)]:
                row[position] = row[position].replace(".000000 UTC", " UTC")
        _write(target / table.csv_name, [header, *rows])
    return target


def _generator_value(text: str, pg_type: str, *, as_string: bool) -> object:
    """A canonical field as TheLook's generator holds it before csv.writer sees it: None for a
    missing value, a number for a number (unless `as_string`, as in its products file), a
    zoneless datetime string (microseconds only when non-zero, as `str(datetime)` writes)."""
    if text == "":
        return None
    if pg_type == "timestamptz":
        return text.removesuffix(" UTC").removesuffix(".000000")
    if as_string or pg_type == "text":
        return text
    return int(text) if pg_type in ("bigint", "integer") else float(text)


def generator_written(canonical: Path, target: Path) -> Path:
    """The files exactly as TheLook's generator writes them: `csv.QUOTE_NONNUMERIC` (so every
    NULL is a quoted empty string), numbers of the products file quoted, timestamps without a
    zone, CRLF line ends, no geometry columns and no A/B assignments."""
    target.mkdir()
    for table in THELOOK_TABLES:
        header, *rows = _read(canonical / table.csv_name)
        types = {column.name: column.pg_type for column in table.columns}
        kept = [i for i, name in enumerate(header) if not name.endswith("_geom")]
        with open(target / table.csv_name, "w", newline="") as handle:
            csv.writer(handle).writerow([header[i] for i in kept])
            writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC)
            for row in rows:
                writer.writerow(
                    _generator_value(row[i], types[header[i]], as_string=table.name == "products")
                    for i in kept
                )
    return target


FUTURE_DAY = "2025-11-27"  # three days past END_DATE, as TheLook's generator runs past its clock
FUTURE_EVENTS = 5
FUTURE_DELIVERIES = 3


def with_rows_after_the_clock(canonical: Path, target: Path) -> Path:
    """The canonical files plus what TheLook's generator writes past its own clock: purchase
    events of the last registered sessions and delivered_at stamps of the last orders, days
    after the last order or session of the data."""
    shutil.copytree(canonical, target)
    header, *rows = _read(target / "events.csv")
    column = {name: index for index, name in enumerate(header)}
    registered = sorted(
        (row for row in rows if row[column["user_id"]]), key=lambda row: row[column["created_at"]]
    )
    next_id = max(int(row[column["id"]]) for row in rows) + 1
    for offset, last in enumerate(registered[-FUTURE_EVENTS:]):
        late = list(last)
        late[column["id"]] = str(next_id + offset)
        late[column["sequence_number"]] = str(1000 + offset)
        late[column["created_at"]] = f"{FUTURE_DAY} 10:00:00.000000 UTC"
        late[column["event_type"]] = "purchase"
        rows.append(late)
    _write(target / "events.csv", [header, *rows])

    header, *rows = _read(target / "orders.csv")
    created, delivered = header.index("created_at"), header.index("delivered_at")
    for row in sorted(rows, key=lambda row: row[created])[-FUTURE_DELIVERIES:]:
        row[delivered] = f"{FUTURE_DAY} 12:00:00.000000 UTC"
    _write(target / "orders.csv", [header, *rows])
    return target


def _rows_after_clock(database_url: str) -> dict[tuple[str, str], int]:
    """Rows at or after int_data_clock.clock_at, per raw table and timestamp column."""
    counts = {}
    for table in ALL_TABLES:
        for column in table.columns:
            if column.pg_type == "timestamptz":
                (count,) = fetch_all(
                    database_url,
                    f"select count(*) from raw.{table.name} where {column.name} >= "
                    "(select clock_at from intermediate.int_data_clock)",
                )[0]
                if count:
                    counts[(f"raw.{table.name}", column.name)] = count
    return counts


# --------------------------------------------------------------------------- snapshots


def _checksums(database_url: str, schema: str, tables: tuple[str, ...]) -> dict[str, tuple]:
    """Row count and an order-independent checksum of every row's text, per table."""
    result = {}
    for table in tables:
        result[table] = fetch_all(
            database_url,
            "select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) "
            f"from {schema}.{table} as t",
        )[0]
    return result


@contextmanager
def _load_and_build(settings: Settings, data_dir: Path) -> Iterator[tuple[Endpoints, LoadReport]]:
    """Load `data_dir` into a private database and run the dbt models there (no tests: the
    models' own tests run in the dbt test modules)."""
    with private_database(settings, "shape") as (shape_settings, endpoints):
        report = load_raw_tables(endpoints.database_url, data_dir, progress=False)
        run_dbt(
            ["run"], settings=shape_settings, endpoints=endpoints, vars=churn_vars(shape_settings)
        )
        yield endpoints, report


@pytest.fixture(scope="module")
def canonical_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("thelook_canonical")
    generate_dataset(SHAPE_USERS, 5, data_dir, END_DATE, progress=False, campaign=CampaignPlan())
    return data_dir


@pytest.fixture(scope="module")
def canonical(ecom_settings: Settings, canonical_dir: Path) -> Iterator[dict[str, dict]]:
    names = tuple(table.name for table in ALL_TABLES)
    with _load_and_build(ecom_settings, canonical_dir) as (endpoints, _):
        yield {
            "raw": _checksums(endpoints.database_url, "raw", names),
            "marts": _checksums(endpoints.database_url, "analytics", MARTS),
            "clock": _checksums(endpoints.database_url, "intermediate", ("int_data_clock",)),
            "rows_after_clock": _rows_after_clock(endpoints.database_url),
        }


# --------------------------------------------------------------------------- tests


def test_bigquery_export_in_another_order_case_and_compression_loads_the_same(
    ecom_settings, canonical_dir, canonical, tmp_path
):
    data_dir = bigquery_reshaped(canonical_dir, tmp_path / "bigquery")
    assert (data_dir / "Events.csv.gz").exists() and not (data_dir / "events.csv").exists()
    with _load_and_build(ecom_settings, data_dir) as (endpoints, report):
        names = tuple(table.name for table in ALL_TABLES)
        assert _checksums(endpoints.database_url, "raw", names) == canonical["raw"]
        assert _checksums(endpoints.database_url, "analytics", MARTS) == canonical["marts"]
        assert report.table("orders").notes == ("Orders.csv: unknown column loaded_by ignored",)
        assert report.table("events").csv_path == data_dir / "Events.csv.gz"
        assert report.absent_tables == ()


def test_kaggle_copy_without_geometry_derives_it_and_builds_the_same_marts(
    ecom_settings, canonical_dir, canonical, tmp_path
):
    data_dir = kaggle_copy(canonical_dir, tmp_path / "kaggle")
    assert "user_geom" not in (data_dir / "users.csv").open().readline()
    with _load_and_build(ecom_settings, data_dir) as (endpoints, report):
        names = tuple(table.name for table in THELOOK_TABLES)
        raw = _checksums(endpoints.database_url, "raw", names)
        assert raw == {name: canonical["raw"][name] for name in names}
        assert _checksums(endpoints.database_url, "analytics", MARTS) == canonical["marts"]
        assert report.table("users").notes == (
            "users.csv: no user_geom column, derived from latitude/longitude",
        )
        assert report.table("distribution_centers").notes == (
            "distribution_centers.csv: no distribution_center_geom column, derived from "
            "latitude/longitude",
        )
        assert report.table("experiment_assignments").rows == 0


def test_files_as_thelooks_generator_writes_them_load_the_same_rows(
    ecom_settings, canonical_dir, canonical, tmp_path
):
    data_dir = generator_written(canonical_dir, tmp_path / "generator")
    with open(data_dir / "orders.csv", newline="") as handle:
        text = handle.read()
    assert ',"",' in text and "\r\n" in text and " UTC" not in text  # the format under test
    with _load_and_build(ecom_settings, data_dir) as (endpoints, _):
        names = tuple(table.name for table in THELOOK_TABLES)
        raw = _checksums(endpoints.database_url, "raw", names)
        assert raw == {name: canonical["raw"][name] for name in names}
        assert _checksums(endpoints.database_url, "analytics", MARTS) == canonical["marts"]


def test_rows_past_the_clock_leave_clock_and_churn_marts_alone_and_the_gate_warns(
    ecom_settings, canonical_dir, canonical, tmp_path
):
    data_dir = with_rows_after_the_clock(canonical_dir, tmp_path / "future_rows")
    with _load_and_build(ecom_settings, data_dir) as (endpoints, _):
        url = endpoints.database_url
        assert _checksums(url, "intermediate", ("int_data_clock",)) == canonical["clock"]
        kept_out = tuple(mart for mart in MARTS if mart != "mart_funnel")  # sessions as they are
        assert _checksums(url, "analytics", kept_out) == {
            mart: canonical["marts"][mart] for mart in kept_out
        }
        after = _rows_after_clock(url)
        before = canonical["rows_after_clock"]
        assert (
            after[("raw.events", "created_at")] - before.get(("raw.events", "created_at"), 0)
            == FUTURE_EVENTS
        )
        assert after[("raw.orders", "delivered_at")] >= FUTURE_DELIVERIES

        settings = ecom_settings.with_overrides(database_url=url, home=tmp_path / "home")
        report = run_quality_gate(settings, endpoints, include_marts=True)
        assert report.passed, [failure.message for failure in report.failures]
        assert {(w.table, w.column): w.rows for w in report.warnings} == after
        assert "the data clock" in report.warnings[0].message
        assert f"{len(after)} warning" in report.summary_line()


def test_partial_folder_loads_what_is_there_and_stops_before_the_features(
    ecom_settings, canonical_dir, tmp_path
):
    data_dir = tmp_path / "partial"
    data_dir.mkdir()
    for name in ORDER_ITEM_TABLES:
        shutil.copy(canonical_dir / f"{name}.csv", data_dir)
    with private_database(ecom_settings, "partial") as (settings, endpoints):
        report = load_raw_tables(endpoints.database_url, data_dir, progress=False)
        assert report.absent_tables == ("inventory_items", "distribution_centers", "events")
        assert "no events.csv: events loaded empty" in report.table("events").notes[0]
        assert "no file for inventory_items, distribution_centers, events" in (
            report.summary_line()
        )
        summary = run_dbt(
            ["build"], settings=settings, endpoints=endpoints, vars=churn_vars(settings)
        )
        assert summary.success
        rows = {
            mart: _checksums(endpoints.database_url, "analytics", (mart,))[mart][0]
            for mart in MARTS
        }
        assert {mart for mart, count in rows.items() if count == 0} == {
            "mart_churn_features",
            "mart_churn_labels",
            "mart_churn_scoring",
            "mart_funnel",
        }
        assert rows["mart_rfm"] > 0 and rows["mart_retention"] > 0

        quality = run_quality_gate(settings, endpoints, include_marts=True)
        assert quality.passed, quality.failures
        skipped = {entry.partition(": ")[0]: entry.partition(": ")[2] for entry in quality.skipped}
        assert set(skipped) == {
            "raw.inventory_items",
            "raw.distribution_centers",
            "raw.events",
            "raw.experiment_assignments",
            "raw.campaign_contacts",
            "analytics.mart_churn_features",
            "analytics.mart_churn_labels",
            "analytics.mart_churn_scoring",
            "analytics.mart_funnel",
        }
        assert skipped["raw.events"] == "absent from the load (no events.csv)"
        assert "built from raw.events" in skipped["analytics.mart_funnel"]
        checked = {outcome.table for outcome in quality.suites}
        assert {"raw.orders", "raw.products", "analytics.mart_rfm"} <= checked

        with pytest.raises(StageInputMissing) as stopped:
            require_feature_inputs(endpoints, data_dir)
        message = str(stopped.value)
        assert "analytics.mart_churn_features" in message and "raw.events" in message
        assert f"{data_dir} has no events.csv" in message


def test_damaged_gzip_file_is_a_load_error_naming_the_file(database_url, canonical_dir, tmp_path):
    data_dir = tmp_path / "damaged"
    data_dir.mkdir()
    shutil.copy(canonical_dir / "users.csv", data_dir)
    whole = gzip.compress((canonical_dir / "orders.csv").read_bytes())
    (data_dir / "orders.csv.gz").write_bytes(whole[: len(whole) // 2])
    before = fetch_all(database_url, "select to_regclass('raw.orders') is not null")[0][0]
    with pytest.raises(LoadError) as caught:
        load_raw_tables(database_url, data_dir, progress=False)
    assert caught.value.file == data_dir / "orders.csv.gz"
    assert "cannot read the file" in caught.value.reason
    assert fetch_all(database_url, "select to_regclass('raw.orders') is not null")[0][0] == before
