"""The `feast` and `dbt` commands on the project's own config files, as a user runs them from a
fresh shell: with only ECOM_DATABASE_URL and ECOM_REDIS_URL set; with nothing set while the
embedded servers run; and with nothing reachable, where they must fail with a message that
says what to do instead of a traceback.

Each command runs as a subprocess in an empty folder (no `.env`) with every ECOM_*, PG*,
MLFLOW_* and DBT_* variable removed first, so nothing from the test session leaks in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecom.config import Settings
from ecom.services import ensure_services, services_status, stop_services

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FIX = 'eval "$(ecom services env)"'


def _clean_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ECOM_", "PG", "MLFLOW_", "DBT_", "FEAST_"))
    }
    env |= {
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_TARGET_PATH": str(tmp_path / "dbt_target"),
        "DBT_LOG_PATH": str(tmp_path / "dbt_logs"),
    }
    return env | values


def _feast_plan(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "feast"), "-c", str(ROOT / "feature_repo"), "plan", "--skip-source-validation"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _dbt_debug(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    dbt_dir = str(ROOT / "dbt")
    return subprocess.run(
        [str(BIN / "dbt"), "debug", "--project-dir", dbt_dir, "--profiles-dir", dbt_dir],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def embedded_home(ecom_settings, tmp_path_factory):
    """An ECOM_HOME whose embedded servers run: the session's own when it runs embedded,
    else a pair started here (and stopped after)."""
    session = ecom_settings.with_overrides(database_url=None, redis_url=None)
    if all(status.running for status in services_status(session)):
        yield session.resolved_home
        return
    home = tmp_path_factory.mktemp("embedded_home")
    settings = Settings(_env_file=None).with_overrides(home=home, database_url=None, redis_url=None)
    ensure_services(settings)
    try:
        yield home
    finally:
        stop_services(settings, purge=True)


def test_feast_and_dbt_work_with_only_the_two_urls(database_url, redis_url, tmp_path):
    env = _clean_env(
        tmp_path,
        ECOM_DATABASE_URL=database_url,
        ECOM_REDIS_URL=redis_url,
        ECOM_HOME=str(tmp_path / "no_servers_here"),
    )
    feast = _feast_plan(env, tmp_path)
    assert feast.returncode == 0, feast.stdout + feast.stderr
    assert "No changes to infrastructure" in feast.stdout

    dbt = _dbt_debug(env, tmp_path)
    assert dbt.returncode == 0, dbt.stdout + dbt.stderr
    assert "All checks passed!" in dbt.stdout


def test_feast_and_dbt_find_the_running_embedded_servers(embedded_home, tmp_path):
    env = _clean_env(tmp_path, ECOM_HOME=str(embedded_home))
    feast = _feast_plan(env, tmp_path)
    assert feast.returncode == 0, feast.stdout + feast.stderr
    assert "No changes to infrastructure" in feast.stdout

    dbt = _dbt_debug(env, tmp_path)
    assert dbt.returncode == 0, dbt.stdout + dbt.stderr
    assert f"host: {embedded_home}/pg" in dbt.stdout


def test_with_nothing_reachable_they_say_what_to_run(tmp_path):
    home = tmp_path / "nothing_running"
    env = _clean_env(tmp_path, ECOM_HOME=str(home))

    feast = _feast_plan(env, tmp_path)
    output = feast.stdout + feast.stderr
    assert feast.returncode == 1, output
    assert FIX in output and str(home) in output
    assert "Traceback" not in output and "${" not in output
    assert len(output.strip().splitlines()) <= 3, output

    dbt = _dbt_debug(env, tmp_path)
    assert dbt.returncode != 0, dbt.stdout
    assert f"{home}/pg/.s.PGSQL.5432" in dbt.stdout  # the embedded server's socket, not found
    assert FIX in dbt.stdout  # and what to run instead
    assert "Traceback" not in dbt.stdout + dbt.stderr


def test_in_process_feast_config_takes_the_exported_urls(database_url, redis_url):
    """`ecom.features.store` exports the URLs and lets Feast read the same YAML: the online
    store's connection string and the registry's engine follow them."""
    from feast.repo_config import load_repo_config
    from sqlalchemy import create_engine

    from ecom.config import PostgresParts, RedisParts

    repo = ROOT / "feature_repo"
    config = load_repo_config(repo, repo / "feature_store.yaml")
    redis = RedisParts(redis_url)
    assert config.online_store.connection_string == f"{redis.host}:{redis.port},db={redis.db}"
    assert config.offline_store.database == PostgresParts(database_url).dbname
    assert config.offline_store.db_schema == "analytics"

    registry = config.registry
    engine = create_engine(registry.path, **registry.sqlalchemy_config_kwargs)
    try:
        assert engine.url.database == PostgresParts(database_url).dbname
    finally:
        engine.dispose()
