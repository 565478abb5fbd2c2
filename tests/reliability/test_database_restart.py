"""PostgreSQL stopped and started under the pipeline: the flows' retries finish dbt and materialization, with no duplicate or missing row.

The test session's own embedded PostgreSQL (never a configured or shared server) is stopped
with `pg_ctl stop -m fast` and started again through `ecom.services`, the way a crash and a
supervisor restart look to a client: every open connection is cut. The stages run as the
Prefect flows run them (real task runs, the real retry policy and delays). Afterwards every
table and view dbt builds holds exactly the rows of an undisturbed build, and Redis holds
exactly the scoring snapshot's users.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from ecom import config
from ecom.config import Settings, connection_env, temporary_environ
from ecom.db import fetch_all
from ecom.services import Endpoints, _stop_postgres, ensure_services
from ecom.transform import build_warehouse
from tests.integration.dbt_databases import TINY_FIXTURE, load_directory, private_database

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

DOWN_SECONDS = 1.0  # shorter than the first retry delay (2 s): the first retry finds it back
BUILT_SCHEMAS = ("staging", "intermediate", "analytics")


@dataclass
class Warehouse:
    settings: Settings
    endpoints: Endpoints
    embedded: Settings  # names the session's embedded PostgreSQL, to stop and start it
    baseline: dict[str, tuple[int, int]]


def _relations(database_url: str) -> list[str]:
    rows = fetch_all(
        database_url,
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_schema = any(%s) order by 1",
        (list(BUILT_SCHEMAS),),
    )
    return [name for (name,) in rows]


def _row_counts(database_url: str) -> dict[str, tuple[int, int]]:
    """(rows, distinct rows) of every relation dbt builds: a duplicate or a lost row shows."""
    counts = {}
    for name in _relations(database_url):
        counts[name] = tuple(
            fetch_all(database_url, f"select count(*), count(distinct t::text) from {name} t")[0]
        )
    return counts


@pytest.fixture(scope="module")
def warehouse(ecom_settings: Settings) -> Iterator[Warehouse]:
    if f"host={ecom_settings.resolved_home / 'pg'}" not in (ecom_settings.database_url or ""):
        pytest.skip("stops the embedded PostgreSQL only, never a configured server")
    with private_database(ecom_settings, "restart") as (settings, endpoints):
        load_directory(endpoints, TINY_FIXTURE)
        build_warehouse(settings, endpoints)
        embedded = Settings(_env_file=None).with_overrides(
            home=ecom_settings.home, database_url=None, redis_url=ecom_settings.redis_url
        )
        env = connection_env(endpoints.database_url, endpoints.redis_url, settings)
        with temporary_environ(env):
            config.get_settings.cache_clear()
            yield Warehouse(settings, endpoints, embedded, _row_counts(endpoints.database_url))
        config.get_settings.cache_clear()


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _restart_postgres(embedded: Settings, down_seconds: float) -> None:
    assert _stop_postgres(embedded), "the embedded PostgreSQL was not running"
    time.sleep(down_seconds)
    ensure_services(embedded)


def _task_attempts(flow_run_id) -> dict[str, int]:
    """How many times each task of a flow run ran (1 + its retries), from Prefect's records."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return {run.name.rsplit("-", 1)[0]: run.run_count for run in runs}


def _when_dbt_is_running(database_url: str, seconds: float = 120) -> bool:
    """Wait until a dbt connection is running a statement in this database."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        busy = fetch_all(
            database_url,
            "select count(*) from pg_stat_activity where datname = current_database() "
            "and application_name like 'dbt%%' and state = 'active'",
        )[0][0]
        if busy:
            return True
        time.sleep(0.05)
    return False


def test_postgres_restarted_while_dbt_runs_the_retry_finishes_the_build(
    warehouse, prefect_server, figures
):
    from flows.transform import transform_flow

    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["state"] = transform_flow(return_state=True)
        except Exception as error:  # the assertion below names it
            outcome["error"] = error

    flow = threading.Thread(target=run, daemon=True)
    flow.start()
    assert _when_dbt_is_running(warehouse.endpoints.database_url), "dbt never started"
    _restart_postgres(warehouse.embedded, DOWN_SECONDS)
    flow.join(timeout=600)
    assert not flow.is_alive(), "the transform flow did not finish within 10 minutes"
    assert "error" not in outcome, outcome.get("error")
    state = outcome["state"]
    assert state.is_completed(), state
    assert state.result().success
    attempts = _task_attempts(state.state_details.flow_run_id)
    assert attempts["dbt-build"] >= 2, attempts  # the restart did fail a run, a retry finished
    assert _row_counts(warehouse.endpoints.database_url) == warehouse.baseline
    figures.add("PostgreSQL restarts while dbt builds, finished by a retry", 1)
    figures.add("relations checked for duplicate and missing rows", len(warehouse.baseline))


def test_postgres_down_when_materialization_starts_the_retry_finishes_it(
    warehouse, prefect_server, figures
):
    from prefect import flow

    from flows.common import start_services
    from flows.features import feast_apply_task, feast_materialize_task

    @flow(name="features-with-a-restart")
    def features_with_a_restart():
        settings, endpoints = start_services()
        feast_apply_task(settings, endpoints)
        restart = threading.Thread(
            target=_restart_postgres, args=(warehouse.embedded, DOWN_SECONDS), daemon=True
        )
        restart.start()
        time.sleep(0.5)  # stopped (a fast stop takes about 0.2 s) before the task connects
        summary = feast_materialize_task(settings, endpoints)
        restart.join(timeout=60)
        return summary

    redis.Redis.from_url(warehouse.endpoints.redis_url).flushdb()
    state = features_with_a_restart(return_state=True)
    assert state.is_completed(), state
    summary = state.result()
    attempts = _task_attempts(state.state_details.flow_run_id)
    assert attempts["feast-materialize"] >= 2, attempts
    assert attempts["feast-apply"] == 1, attempts

    scoring_users = {
        int(user)
        for (user,) in fetch_all(
            warehouse.endpoints.database_url, "select user_id from analytics.mart_churn_scoring"
        )
    }
    assert scoring_users
    online = redis.Redis.from_url(warehouse.endpoints.redis_url)
    assert summary.summary_line()
    assert len(list(online.scan_iter(count=1000))) == len(scoring_users)
    assert _row_counts(warehouse.endpoints.database_url) == warehouse.baseline
    figures.add("PostgreSQL restarts as materialization starts, finished by a retry", 1)
    figures.add("users in Redis after it, all of the snapshot", len(scoring_users))
