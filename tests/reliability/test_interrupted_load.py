"""A load killed at any point leaves `raw` exactly as it was, and the next load completes.

`ecom load` stages every table beside `raw` and swaps them in with one transaction, so a load
that dies (SIGKILL: no cleanup code runs) can only lose its own staging. The test kills a real
`ecom load` of 100,000 generated users at three points, found by watching what its session runs
on the server, and compares `raw` with a checksum taken before.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest

from ecom.config import Settings
from ecom.db import fetch_all
from ecom.ingest.load import load_raw_tables
from ecom.synth import generate_dataset
from ecom.thelook import ALL_TABLES
from tests.integration.dbt_databases import TINY_FIXTURE, private_database

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

USERS = 100_000
PHASE_TIMEOUT_SECONDS = 120


def raw_checksums(database_url: str) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent content hash of every raw table."""
    sums = {}
    for table in ALL_TABLES:
        ((rows, digest),) = fetch_all(
            database_url,
            f"select count(*), coalesce(md5(string_agg(md5(t::text), '' order by md5(t::text))), '') "
            f"from raw.{table.name} as t",
        )
        sums[table.name] = (int(rows), digest)
    return sums


def raw_counts(database_url: str) -> dict[str, int]:
    return {
        table.name: int(fetch_all(database_url, f"select count(*) from raw.{table.name}")[0][0])
        for table in ALL_TABLES
    }


def other_sessions(database_url: str, condition: str) -> list[tuple]:
    return fetch_all(
        database_url,
        "select pid, query, wait_event_type from pg_stat_activity "
        f"where datname = current_database() and pid <> pg_backend_pid() and ({condition})",
    )


def start_load(database_url: str, redis_url: str, home: Path, data_dir: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "ECOM_DATABASE_URL": database_url,
        "ECOM_REDIS_URL": redis_url,
        "ECOM_HOME": str(home),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "ecom.cli", "load", "--data", str(data_dir)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def wait_for(check: Callable[[], bool], process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + PHASE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        if process.poll() is not None:
            pytest.fail(f"the load ended before {what}: {process.stdout.read()[-2000:]}")
        time.sleep(0.01)
    process.kill()
    pytest.fail(f"the load never reached {what} within {PHASE_TIMEOUT_SECONDS} s")


def kill_and_settle(process: subprocess.Popen, database_url: str) -> None:
    """SIGKILL the loader (if it still runs), then wait until the server ended its sessions."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 60
    while other_sessions(database_url, "backend_type = 'client backend'"):
        assert time.monotonic() < deadline, "the killed load's sessions never ended"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def big_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("thelook_100k")
    generate_dataset(USERS, 7, out, dt.date(2025, 11, 24), progress=False)
    return out


@pytest.fixture
def loaded_database(ecom_settings: Settings) -> Iterator[str]:
    """A private database whose raw schema holds the tiny fixture (different from the 100k load)."""
    with private_database(ecom_settings, "interrupted") as (_, endpoints):
        load_raw_tables(endpoints.database_url, TINY_FIXTURE, progress=False)
        yield endpoints.database_url


def is_copying(database_url: str) -> bool:
    return bool(other_sessions(database_url, "state = 'active' and query ilike 'copy %'"))


def is_validating(database_url: str) -> bool:
    return bool(
        other_sessions(
            database_url, "state = 'active' and query ilike '%add constraint%primary key%'"
        )
    )


def is_swapping(database_url: str) -> bool:
    """The loader waits for the blocker's lock on raw.users inside its swap transaction."""
    return bool(
        other_sessions(
            database_url,
            "wait_event_type = 'Lock' and state = 'active' and query ~* '(lock|drop|alter) table'",
        )
    )


@pytest.mark.parametrize("phase", ["copy", "validation", "swap"])
def test_a_killed_load_leaves_raw_as_it_was(
    phase, loaded_database, big_dataset, ecom_settings, tmp_path, figures
) -> None:
    before = raw_checksums(loaded_database)
    blocker = None
    if phase == "swap":
        # Hold a lock the swap needs, so the load is caught inside its swap transaction.
        blocker = psycopg2.connect(loaded_database)
        blocker.cursor().execute("lock table raw.users in access share mode")
    process = start_load(loaded_database, ecom_settings.redis_url, tmp_path, big_dataset)
    try:
        if phase == "copy":
            wait_for(lambda: is_copying(loaded_database), process, "COPY")
        elif phase == "validation":
            wait_for(lambda: is_validating(loaded_database), process, "the primary-key check")
        else:
            wait_for(lambda: is_swapping(loaded_database), process, "the swap")
        process.kill()
    finally:
        if blocker is not None:
            process.wait(timeout=30)
            blocker.rollback()  # the swap's session now runs on, then finds its client gone
            blocker.close()
        kill_and_settle(process, loaded_database)
    assert raw_checksums(loaded_database) == before
    figures.add(f"loads of {USERS:,} users killed during {phase}, raw unchanged")


def test_the_next_load_after_a_kill_completes(
    loaded_database, big_dataset, ecom_settings, tmp_path, figures
) -> None:
    process = start_load(loaded_database, ecom_settings.redis_url, tmp_path, big_dataset)
    wait_for(lambda: is_copying(loaded_database), process, "COPY")
    kill_and_settle(process, loaded_database)
    process = start_load(loaded_database, ecom_settings.redis_url, tmp_path, big_dataset)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:]
    counts = raw_counts(loaded_database)
    expected = {
        table.name: sum(1 for _ in (big_dataset / table.csv_name).open()) - 1
        for table in ALL_TABLES
        if (big_dataset / table.csv_name).exists()
    }
    assert {name: counts[name] for name in expected} == expected
    assert counts["users"] == USERS
    figures.add("loads after a killed load that completed")
    figures.add("rows loaded by them", sum(counts.values()))
