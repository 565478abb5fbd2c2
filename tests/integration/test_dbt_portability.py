"""The dbt project is portable: the same models build on a second adapter and give the same marts.

The scale-out path moves dbt to a distributed warehouse by changing the profile, not the SQL,
so the models may use only dbt's cross-database macros and adapter-dispatched macros of their
own. Reading the SQL for PostgreSQL-isms would miss most of them; building the project on DuckDB
(an adapter that installs here, with a different SQL dialect and planner) catches every one,
and comparing its marts with PostgreSQL's proves the SQL means the same thing on both.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecom.config import Settings
from ecom.db import fetch_all
from ecom.thelook import ALL_TABLES, TIMESTAMP_FORMAT
from ecom.transform import DBT_PROJECT_DIR, build_warehouse, churn_vars
from tests.integration.dbt_databases import TINY_FIXTURE, load_directory, private_database

pytestmark = pytest.mark.integration

DUCKDB_TYPES = {
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "double precision": "DOUBLE",
    "text": "VARCHAR",
    "timestamptz": "TIMESTAMPTZ",
}


def load_duckdb_raw(database: Path, data_dir: Path) -> None:
    """The raw tables with the loader's column types, read by DuckDB's own CSV reader."""
    import duckdb

    with duckdb.connect(str(database)) as connection:
        connection.execute("set timezone = 'UTC'")
        connection.execute("create schema raw")
        for table in ALL_TABLES:
            path = data_dir / table.csv_name
            if not path.exists():
                continue
            columns = ", ".join(
                f"'{column.name}': '{DUCKDB_TYPES[column.pg_type]}'" for column in table.columns
            )
            connection.execute(
                f"create table raw.{table.name} as select * from read_csv("
                f"'{path}', header = true, columns = {{{columns}}}, "
                f"nullstr = ['', 'null'], timestampformat = '{TIMESTAMP_FORMAT}')"
            )


@pytest.fixture(scope="module")
def duckdb_warehouse(tmp_path_factory: pytest.TempPathFactory, ecom_settings: Settings) -> Path:
    from dbt.cli.main import dbtRunner

    base = tmp_path_factory.mktemp("duckdb_warehouse")
    database = base / "ecom.duckdb"
    load_duckdb_raw(database, TINY_FIXTURE)
    (base / "profiles.yml").write_text(
        "ecom:\n  target: duckdb\n  outputs:\n    duckdb:\n"
        f"      type: duckdb\n      path: '{database}'\n      threads: 2\n"
        "      settings:\n        timezone: UTC\n"
    )
    arguments = [
        "build",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(base),
        "--target-path",
        str(base / "target"),
        "--log-path",
        str(base / "logs"),
        "--vars",
        json.dumps(churn_vars(ecom_settings)),
        "--log-level",
        "warn",
    ]
    outcome = dbtRunner().invoke(arguments)
    failed = [
        f"{item.node.name}: {item.message}"
        for item in (outcome.result or [])
        if str(getattr(item.status, "value", item.status)) not in {"success", "pass"}
    ]
    assert outcome.success and not failed, f"dbt build on DuckDB failed: {failed}"
    return database


@pytest.fixture(scope="module")
def postgres_warehouse(ecom_settings: Settings) -> Iterator[str]:
    with private_database(ecom_settings, "dbt_portable") as (settings, endpoints):
        load_directory(endpoints, TINY_FIXTURE)
        build_warehouse(settings, endpoints)
        yield endpoints.database_url


def marts(database_url: str) -> list[str]:
    rows = fetch_all(
        database_url,
        "select table_name from information_schema.tables "
        "where table_schema = 'analytics' and table_name like 'mart%%' order by 1",
    )
    return [name for (name,) in rows]


def normalised(value: object) -> object:
    """One representation per value on both sides: instants in UTC, floats to 9 digits."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 9)
    if hasattr(value, "is_finite"):  # Decimal
        return round(float(value), 9)
    return value


def table_rows(rows: list[tuple]) -> list[tuple]:
    return sorted(
        (tuple(normalised(value) for value in row) for row in rows),
        key=lambda row: tuple((value is None, str(value)) for value in row),
    )


def test_every_mart_builds_on_duckdb_and_equals_postgres(duckdb_warehouse, postgres_warehouse):
    import duckdb

    names = marts(postgres_warehouse)
    assert len(names) >= 6
    with duckdb.connect(str(duckdb_warehouse)) as connection:
        for name in names:
            columns = [
                column
                for (column,) in fetch_all(
                    postgres_warehouse,
                    "select column_name from information_schema.columns "
                    "where table_schema = 'analytics' and table_name = %s order by ordinal_position",
                    (name,),
                )
            ]
            select = f"select {', '.join(columns)} from analytics.{name}"
            expected = table_rows(fetch_all(postgres_warehouse, select))
            actual = table_rows(connection.execute(select).fetchall())
            assert len(actual) == len(expected), f"{name}: {len(actual)} rows on DuckDB"
            assert actual == expected, f"analytics.{name} differs between DuckDB and PostgreSQL"
