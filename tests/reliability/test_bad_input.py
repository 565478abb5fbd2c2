"""Every CSV of the dataset, fuzzed: each bad file gets a clear error or loads safely, and a
failed load changes nothing already stored.

"Clear" means the error names the file and where in it (a line or a column), so a person can
open the file at the right place. "Safely" means what loads is what the file says: text with
SQL metacharacters arrives as the same text (COPY never interprets it), and out-of-range
values (a negative price, a date in 2099) load as written for the quality gate to judge.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ecom.config import Settings
from ecom.db import fetch_all
from ecom.ingest.files import LoadError
from ecom.ingest.load import load_raw_tables
from ecom.synth import generate_dataset
from ecom.synth.campaign import CampaignPlan
from ecom.thelook import ALL_TABLES, RawTable
from tests.integration.dbt_databases import TINY_FIXTURE, private_database
from tests.reliability.test_interrupted_load import raw_checksums

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

INJECTION = 'x\'); drop table raw.users; --\\N "quoted" \\\\ ;'
HUGE_FIELD_BYTES = 2_000_000


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
    path.write_text(buffer.getvalue(), encoding="utf-8")


def first_text_column(table: RawTable) -> str | None:
    keys = set(table.primary_key)
    return next((c.name for c in table.columns if c.is_text and c.name not in keys), None)


def first_column_of(table: RawTable, pg_type: str) -> str | None:
    return next((c.name for c in table.columns if c.pg_type == pg_type), None)


def set_field(path: Path, table: RawTable, column: str, value: str) -> None:
    header, rows = read_rows(path)
    rows[0][header.index(column)] = value
    write_rows(path, header, rows)


def truncate_last_line(path: Path, table: RawTable) -> None:
    data = path.read_bytes().rstrip(b"\n")
    cut = data.rfind(b"\n") + (len(data) - data.rfind(b"\n")) // 2
    path.write_bytes(data[:cut])


def invalid_utf8(path: Path, table: RawTable) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b",", b",\xff\xfe", 1)
    path.write_bytes(b"\n".join(lines))


def latin1_text(path: Path, table: RawTable) -> None:
    column = first_text_column(table)
    set_field(path, table, column, "Café São Paulo")
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))


def swapped_columns(path: Path, table: RawTable) -> None:
    header, rows = read_rows(path)
    header[0], header[-1] = header[-1], header[0]
    write_rows(path, header, rows)


def missing_column(path: Path, table: RawTable) -> None:
    header, rows = read_rows(path)
    drop = header.index(table.primary_key[0])
    write_rows(path, header[:drop] + header[drop + 1 :], [r[:drop] + r[drop + 1 :] for r in rows])


def shifted_row(path: Path, table: RawTable) -> None:
    header, rows = read_rows(path)
    rows[len(rows) // 2] = rows[len(rows) // 2][1:]
    write_rows(path, header, rows)


def huge_field(path: Path, table: RawTable) -> None:
    set_field(path, table, first_text_column(table), "y" * HUGE_FIELD_BYTES)


def negative_number(path: Path, table: RawTable) -> None:
    set_field(path, table, first_column_of(table, "double precision"), "-5.25")


def future_timestamp(path: Path, table: RawTable) -> None:
    set_field(path, table, first_column_of(table, "timestamptz"), "2099-01-01 00:00:00 UTC")


def sql_metacharacters(path: Path, table: RawTable) -> None:
    set_field(path, table, first_text_column(table), INJECTION)


def empty_file(path: Path, table: RawTable) -> None:
    path.write_bytes(b"")


MUTATIONS: dict[str, Callable[[Path, RawTable], None]] = {
    "truncated line": truncate_last_line,
    "invalid utf-8": invalid_utf8,
    "latin-1 file": latin1_text,
    "swapped columns": swapped_columns,
    "missing column": missing_column,
    "short row": shifted_row,
    "huge field": huge_field,
    "negative number": negative_number,
    "future timestamp": future_timestamp,
    "sql metacharacters": sql_metacharacters,
    "empty file": empty_file,
}
NEEDS = {
    "latin-1 file": first_text_column,
    "huge field": first_text_column,
    "sql metacharacters": first_text_column,
    "negative number": lambda t: first_column_of(t, "double precision"),
    "future timestamp": lambda t: first_column_of(t, "timestamptz"),
}


def cases() -> Iterator[tuple[str, str]]:
    for table in ALL_TABLES:
        for mutation in MUTATIONS:
            needs = NEEDS.get(mutation)
            if needs is None or needs(table) is not None:
                yield table.name, mutation


@pytest.fixture(scope="module")
def clean_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fuzz_base")
    generate_dataset(300, 11, out, dt.date(2025, 11, 24), progress=False, campaign=CampaignPlan())
    return out


@pytest.fixture(scope="module")
def fuzz_database(ecom_settings: Settings) -> Iterator[str]:
    with private_database(ecom_settings, "fuzz") as (_, endpoints):
        load_raw_tables(endpoints.database_url, TINY_FIXTURE, progress=False)
        yield endpoints.database_url


@pytest.mark.parametrize(("table_name", "mutation"), list(cases()))
def test_a_fuzzed_file_fails_clearly_or_loads_safely(
    table_name, mutation, clean_dataset, fuzz_database, tmp_path, figures
) -> None:
    table = next(t for t in ALL_TABLES if t.name == table_name)
    data_dir = tmp_path / "data"
    shutil.copytree(clean_dataset, data_dir, ignore=shutil.ignore_patterns("_truth"))
    path = data_dir / table.csv_name
    MUTATIONS[mutation](path, table)
    before = raw_checksums(fuzz_database)
    figures.add("fuzzed files tried")
    try:
        load_raw_tables(fuzz_database, data_dir, progress=False)
    except LoadError as error:
        message = str(error)
        assert table.csv_name in message, message
        assert error.line is not None or error.column is not None, message
        assert raw_checksums(fuzz_database) == before, f"a failed load changed raw: {message}"
        figures.add("refused with file and line/column named, raw unchanged")
        return
    figures.add("loaded as written")
    # Loaded: what is stored must be what the file says.
    if mutation == "sql metacharacters":
        column = first_text_column(table)
        stored = fetch_all(
            fuzz_database,
            f"select count(*) from raw.{table.name} where {column} = %s",
            (INJECTION,),
        )
        assert stored == [(1,)]
        assert fetch_all(fuzz_database, "select count(*) from raw.users")[0][0] > 0
    elif mutation == "huge field":
        column = first_text_column(table)
        assert fetch_all(fuzz_database, f"select max(length({column})) from raw.{table.name}") == [
            (HUGE_FIELD_BYTES,)
        ]
    elif mutation in {"negative number", "future timestamp"}:
        assert raw_checksums(fuzz_database) != before
    else:
        pytest.fail(f"{table.csv_name} with a {mutation} loaded without an error")
