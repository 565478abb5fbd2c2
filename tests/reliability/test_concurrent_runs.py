"""Runs at once are serialized: two pipeline runs queue on one advisory lock, and two `ecom score` runs for one date leave exactly one set of scores.

The scoring case runs the real command twice at the same moment, as two processes against one
database (marts of 300 users, the session's champion); the pipeline case holds the pipeline's
lock from another connection and starts the real flow beside it.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecom import config
from ecom.churn.registry import champion_version
from ecom.config import connection_env, temporary_environ
from ecom.db import LockBusy, fetch_all, session_lock, table_exists
from tests.integration.churn_marts import load_churn_marts, train_xgboost_on_marts
from tests.integration.dbt_databases import private_database

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scored(ecom_settings) -> Iterator[tuple]:
    from mlflow.tracking import MlflowClient

    with private_database(ecom_settings, "concurrent") as (settings, endpoints):
        marts = load_churn_marts(settings, endpoints, n_users=300, n_cutoffs=22, seed=11)
        registry = MlflowClient(
            tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri
        )
        if champion_version(registry) is None:  # reuse a champion an earlier module trained
            train_xgboost_on_marts(settings, endpoints)
        yield settings, endpoints, marts


def test_two_score_runs_for_one_date_leave_one_set_of_scores(scored, figures):
    settings, endpoints, marts = scored
    env = {**os.environ, **connection_env(endpoints.database_url, endpoints.redis_url, settings)}
    command = [sys.executable, "-m", "ecom.cli", "score"]
    runs = [
        subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs

    rows = fetch_all(
        endpoints.database_url,
        "select scoring_date, count(*), count(distinct user_id), count(distinct scored_at) "
        "from analytics.churn_scores group by scoring_date",
    )
    assert len(rows) == 1, rows
    _, count, users, runs_kept = rows[0]
    assert count == users == len(marts.scoring)  # every user once
    assert runs_kept == 1  # one run's scores, not a mix of both
    targets = fetch_all(
        endpoints.database_url,
        "select count(*), count(distinct target_rank), count(distinct scored_at) "
        "from analytics.retention_targets",
    )[0]
    assert targets[0] == targets[1] and targets[2] == 1, targets
    figures.add("`ecom score` runs started at once for one date", 2)
    figures.add("score sets left (one per date)", len(rows))


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_the_lock_admits_one_holder_at_a_time(scored):
    _, endpoints, _ = scored
    inside: list[tuple[str, float, float]] = []

    def hold(label: str) -> None:
        with session_lock(
            endpoints.database_url, "probe lock", timeout_seconds=30, poll_seconds=0.1
        ):
            entered = time.monotonic()
            time.sleep(1.0)
            inside.append((label, entered, time.monotonic()))

    threads = [threading.Thread(target=hold, args=(name,)) for name in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    spans = sorted((entered, left) for _, entered, left in inside)
    assert len(spans) == 3
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans)), spans


def test_a_second_pipeline_run_waits_for_the_first_and_touches_nothing(
    scored, prefect_server, ecom_settings, figures
):
    from flows.pipeline import PIPELINE_LOCK, churn_pipeline

    with private_database(ecom_settings, "pipeline_lock") as (settings, endpoints):
        env = connection_env(endpoints.database_url, endpoints.redis_url, settings)
        with temporary_environ(env):
            config.get_settings.cache_clear()
            try:
                # The "first run" holds the lock; the second gives up after 3 s, before loading.
                with session_lock(endpoints.database_url, PIPELINE_LOCK, timeout_seconds=5):
                    started = time.monotonic()
                    with pytest.raises(LockBusy, match="held by PostgreSQL backend"):
                        churn_pipeline(
                            data_dir=str(ROOT / "tests" / "fixtures" / "thelook_tiny"),
                            lock_timeout_seconds=3,
                        )
                    waited = time.monotonic() - started
            finally:
                config.get_settings.cache_clear()
        assert waited >= 3
        assert not table_exists(endpoints.database_url, "raw", "users")  # nothing was loaded
    figures.add("pipeline runs started while another held the lock, kept out", 1)
