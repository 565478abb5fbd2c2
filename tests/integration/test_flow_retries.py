"""The stage tasks' retry policy, through real Prefect task runs against a real PostgreSQL.

`flows.common.database_task` retries what a retry can fix (a dropped connection, a lost lock)
and fails at once on bad data, which would only fail again. Each case raises a real error:
a lock wait that times out behind another connection's lock, a server that does not listen,
a division by zero in SQL, a load from a folder that does not exist, a failed quality gate.
Only the delay between attempts is set to zero here (the policy's 2, 10 and 30 s would make
the test wait 42 s); the retry count and the condition are the ones every stage task uses.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import errors as pg_errors

from ecom.db import connect, fetch_all, transaction
from ecom.ingest.files import LoadError
from ecom.ingest.load import load_raw_tables
from ecom.quality.report import ExpectationFailure, QualityGateFailed, QualityReport, SuiteOutcome
from flows.common import database_task

pytestmark = pytest.mark.integration

ATTEMPTS_ALLOWED = 1 + 3  # the first run and database_task's three retries


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def locked_table(database_url: str) -> Iterator[str]:
    """A table that another connection holds an ACCESS EXCLUSIVE lock on until the test ends."""
    with transaction(database_url) as cursor:
        cursor.execute("create table if not exists public.retry_probe (id integer)")
    holder = connect(database_url)
    try:
        with holder.cursor() as cursor:
            cursor.execute("lock table public.retry_probe in access exclusive mode")
        yield "public.retry_probe"
    finally:
        holder.rollback()
        holder.close()


def _lose_the_lock(database_url: str, table: str) -> None:
    connection = connect(database_url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("set local lock_timeout = '50ms'")
            cursor.execute(f"lock table {table} in access share mode")
    finally:
        connection.close()


def _unreachable_server() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connections are refused
        psycopg2.connect(host="127.0.0.1", port=port, user="postgres", connect_timeout=2)


def _failed_gate() -> None:
    failure = ExpectationFailure(
        table="raw.users",
        column="created_at",
        expectation_type="expect_column_values_to_be_between",
        observed="1 of 3000 rows after the data's end",
        message="raw.users: created_at after the data's end (1 of 3000 rows)",
    )
    report = QualityReport(
        suites=(SuiteOutcome("raw.users", evaluated=12, failed=1),),
        failures=(failure,),
        data_docs_path=None,
    )
    raise QualityGateFailed(report)


def _run_task(body: Callable[[int], object]) -> tuple[object, int]:
    """Run `body(attempt)` as a stage task inside a flow; returns (result or exception, attempts)."""
    from prefect import flow

    attempts: list[int] = []

    @database_task(name="retry-probe", retry_delay_seconds=0)
    def stage(label: str):
        attempts.append(len(attempts) + 1)
        return body(len(attempts))

    @flow(name="retry-policy")
    def run_once():
        state = stage("probe", return_state=True)
        return state.result(raise_on_failure=False)

    return run_once(), len(attempts)


def test_a_lost_lock_is_retried_until_it_succeeds(prefect_server, database_url, locked_table):
    def body(attempt: int) -> str:
        if attempt < 3:
            _lose_the_lock(database_url, locked_table)  # raises LockNotAvailable
        return f"done on attempt {attempt}"

    result, attempts = _run_task(body)
    assert (result, attempts) == ("done on attempt 3", 3)


def test_a_server_that_stays_down_is_retried_then_fails(prefect_server):
    def body(attempt: int) -> None:
        _unreachable_server()

    result, attempts = _run_task(body)
    assert isinstance(result, psycopg2.OperationalError), result
    assert "refused" in str(result)
    assert attempts == ATTEMPTS_ALLOWED


def _division_by_zero(database_url: str) -> None:
    fetch_all(database_url, "select 1 / 0")


BAD_DATA = {
    "division by zero in SQL": (
        lambda database_url, tmp_path: _division_by_zero(database_url),
        pg_errors.DivisionByZero,
    ),
    "load from a missing folder": (
        lambda database_url, tmp_path: load_raw_tables(database_url, tmp_path / "absent"),
        LoadError,
    ),
    "failed quality gate": (lambda database_url, tmp_path: _failed_gate(), QualityGateFailed),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_is_not_retried(prefect_server, database_url, tmp_path: Path, case):
    fail, error_type = BAD_DATA[case]

    result, attempts = _run_task(lambda attempt: fail(database_url, tmp_path))

    assert isinstance(result, error_type), result
    assert attempts == 1
