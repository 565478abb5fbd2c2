"""Correct on any server time zone: the same generated world built on a database whose default
time zone is America/New_York (the data spans DST changes) and on a UTC one gives the same
marts, passes the same dbt tests and quality gate, and matures the same stored scores.

Dates cut from timestamptz values follow the session's time zone, so a model, test or query
that forgets it is written for UTC shows up here as a difference between the two databases.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from psycopg2 import sql

from ecom.db import connect, fetch_all, transaction
from ecom.monitoring.performance import MATURED_SCORES_SQL
from ecom.quality.gate import run_quality_gate
from ecom.synth import generate_dataset
from ecom.transform import build_warehouse
from tests.integration.dbt_databases import load_directory, private_database

pytestmark = pytest.mark.integration

END_DATE = dt.date(2025, 3, 24)  # the window spans the US DST change of 2025-03-09
HORIZON_DAYS = 30
COMPARED = {
    "analytics.mart_churn_labels": "user_id, cutoff_date",
    "analytics.mart_churn_features": "user_id, cutoff_date",
    "analytics.mart_churn_scoring": "user_id",
    "intermediate.int_churn_cutoffs": "cutoff_date",
    "intermediate.int_data_clock": "as_of_date",
}


def _set_default_time_zone(database_url: str, zone: str) -> None:
    ((name,),) = fetch_all(database_url, "select current_database()")
    connection = connect(database_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("alter database {} set timezone = {}").format(
                    sql.Identifier(name), sql.Literal(zone)
                )
            )
    finally:
        connection.close()


def _rows(database_url: str, table: str, order: str) -> list[tuple]:
    # Compare instants as UTC text, so the session's display zone cannot hide a difference.
    ((columns,),) = fetch_all(
        database_url,
        "select string_agg(case when data_type = 'timestamp with time zone' "
        "then format('to_char(%%I at time zone ''UTC'', ''YYYY-MM-DD HH24:MI:SS.US'')', "
        "column_name) else quote_ident(column_name) end, ', ' order by ordinal_position) "
        "from information_schema.columns where table_schema || '.' || table_name = %s",
        (table,),
    )
    return fetch_all(database_url, f"select {columns} from {table} order by {order}")


def _stored_scores_from_labels(database_url: str) -> None:
    """Store one "score" per labelled row of the last complete cutoff, as batch scoring would
    have on that date, so maturing them can be checked against the labels mart."""
    with transaction(database_url) as cursor:
        cursor.execute(
            "create table analytics.churn_scores as "
            "select cutoff_date as features_as_of, '1'::text as model_version, user_id, "
            "0.5::double precision as churn_probability, now() as scored_at "
            "from analytics.mart_churn_labels "
            "where cutoff_date = (select max(cutoff_date) from analytics.mart_churn_labels)"
        )


@pytest.fixture(scope="module")
def worlds(ecom_settings, tmp_path_factory):
    data_dir = Path(tmp_path_factory.mktemp("tz_world"))
    generate_dataset(1_500, 21, data_dir, END_DATE, progress=False)
    results = {}
    for zone in ("UTC", "America/New_York"):
        prefix = "tz_" + zone.split("/")[-1].lower()
        with private_database(ecom_settings, prefix) as (settings, endpoints):
            _set_default_time_zone(endpoints.database_url, zone)
            load_directory(endpoints, data_dir)
            dbt = build_warehouse(settings, endpoints)
            gate = run_quality_gate(
                settings, endpoints, now=dt.datetime(2025, 3, 25, tzinfo=dt.UTC)
            )
            _stored_scores_from_labels(endpoints.database_url)
            results[zone] = {
                "dbt": dbt,
                "gate": gate,
                "tables": {t: _rows(endpoints.database_url, t, o) for t, o in COMPARED.items()},
                "matured": fetch_all(
                    endpoints.database_url,
                    f"select cutoff_date, user_id, churned from ({MATURED_SCORES_SQL.format(horizon=HORIZON_DAYS)}) m order by 1, 2",
                ),
                "labels": fetch_all(
                    endpoints.database_url,
                    "select cutoff_date, user_id, churned from analytics.mart_churn_labels "
                    "where cutoff_date = (select max(cutoff_date) from analytics.mart_churn_labels) "
                    "order by 1, 2",
                ),
                "db_zone": _database_zone(endpoints.database_url),
            }
    return results


def _database_zone(database_url: str) -> str:
    (row,) = fetch_all(
        database_url,
        "select coalesce((select option_value from pg_db_role_setting s, "
        "pg_options_to_table(s.setconfig) where s.setdatabase = d.oid and lower(option_name) = 'timezone'), 'none') "
        "from pg_database d where datname = current_database()",
    )
    return row[0]


def test_the_database_default_really_differs(worlds):
    assert worlds["America/New_York"]["db_zone"] == "America/New_York"
    assert worlds["UTC"]["db_zone"] == "UTC"


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_dbt_tests_and_quality_gate_pass_in_every_zone(worlds, zone):
    dbt = worlds[zone]["dbt"]
    assert dbt.success and not dbt.failed_nodes, dbt.failed_nodes
    gate = worlds[zone]["gate"]
    assert gate.passed, gate.summary_line()


def test_marts_and_windows_are_identical(worlds):
    utc, new_york = worlds["UTC"], worlds["America/New_York"]
    for table in COMPARED:
        assert utc["tables"][table], f"{table} is empty"
        assert new_york["tables"][table] == utc["tables"][table], table
    assert new_york["gate"].evaluated == utc["gate"].evaluated


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_stored_scores_mature_into_the_labels(worlds, zone):
    assert worlds[zone]["matured"], "no stored score matured"
    assert worlds[zone]["matured"] == worlds[zone]["labels"]
