"""The `ecom` command beyond --help, against a real PostgreSQL: what it prints and its exit code
when a load fails, when the quality gate passes or fails, and the shell exports of
`ecom services env`.

The commands run in-process (Typer's runner) on a database of this module's own, so the raw
tables other modules load are never replaced behind their back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecom import config
from ecom.cli.main import app
from ecom.config import PostgresParts
from ecom.db import create_database, drop_database, fetch_all

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "thelook_tiny"
ECOM = Path(sys.executable).parent / "ecom"


@pytest.fixture(scope="module")
def cli_database(database_url):
    """A database of this module's own on the session's server."""
    url = create_database(database_url, f"ecom_cli_{uuid.uuid4().hex[:8]}")
    yield url
    drop_database(database_url, PostgresParts(url).dbname)


@pytest.fixture
def ecom_cli(cli_database, monkeypatch):
    """Run `ecom ...` in-process with ECOM_DATABASE_URL naming this module's database."""
    monkeypatch.setenv("ECOM_DATABASE_URL", cli_database)
    config.get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args))

    yield run
    config.get_settings.cache_clear()


def _copy_tiny(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(TINY, folder)
    return folder


def _replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_load_failure_says_rolled_back_and_exits_1(ecom_cli, cli_database, tmp_path):
    loaded = ecom_cli("load", "--data", str(TINY))
    assert loaded.exit_code == 0, loaded.output
    users_before = fetch_all(cli_database, "select count(*) from raw.users")[0][0]

    bad = _copy_tiny(tmp_path, "bad_orders")
    _replace_in(bad / "orders.csv", "\n2,2,Shipped", "\nnot-a-number,2,Shipped")
    failed = ecom_cli("load", "--data", str(bad))

    assert failed.exit_code == 1, failed.output
    assert "the load was rolled back and raw is unchanged" in failed.output
    assert "orders.csv" in failed.output
    assert fetch_all(cli_database, "select count(*) from raw.users")[0][0] == users_before > 0


def test_a_data_folder_that_does_not_exist_is_an_error_and_raw_is_untouched(
    ecom_cli, cli_database, tmp_path
):
    assert ecom_cli("load", "--data", str(TINY)).exit_code == 0
    users_before = fetch_all(cli_database, "select count(*) from raw.users")[0][0]

    mistyped = tmp_path / "does-not-exist"
    result = ecom_cli("load", "--data", str(mistyped), "--users", "50")

    assert result.exit_code == 1, result.output
    assert "does-not-exist" in result.output and "no such folder" in result.output
    assert not mistyped.exists()  # nothing generated there
    assert fetch_all(cli_database, "select count(*) from raw.users")[0][0] == users_before > 0


def test_quality_exit_code_follows_the_gate(ecom_cli, tmp_path):
    passed_load = ecom_cli("load", "--data", str(TINY))
    assert passed_load.exit_code == 0, passed_load.output
    passed = ecom_cli("quality", "--raw-only")
    assert passed.exit_code == 0, passed.output

    future = _copy_tiny(tmp_path, "signup_in_2099")
    _replace_in(
        future / "users.csv",
        "Search,2024-01-01 09:00:00.000000 UTC",
        "Search,2099-01-01 09:00:00.000000 UTC",
    )
    assert ecom_cli("load", "--data", str(future)).exit_code == 0
    failed = ecom_cli("quality", "--raw-only")
    assert failed.exit_code == 1, failed.output
    assert "users" in failed.output and "created_at" in failed.output


def test_services_env_exports_what_dbt_feast_and_libpq_read(cli_database, redis_url, tmp_path):
    """A shell that evals `ecom services env` reaches the same database with plain libpq
    (the PG* variables, as psql uses them) and has the variables dbt's profile reads."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ECOM_", "PG", "MLFLOW_"))
    }
    env |= {
        "ECOM_DATABASE_URL": cli_database,
        "ECOM_REDIS_URL": redis_url,
        "ECOM_HOME": str(tmp_path / "home"),
    }
    probe = (
        "import psycopg2; c = psycopg2.connect(''); "  # an empty DSN: libpq reads PG* only
        "print(c.info.dbname)"
    )
    script = (
        f'eval "$({ECOM} services env)" && '
        'echo "port=$ECOM_PG_PORT host=$ECOM_PG_HOST db=$ECOM_PG_DATABASE" && '
        f'{sys.executable} -c "{probe}"'
    )
    result = subprocess.run(
        ["bash", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    parts = PostgresParts(cli_database)
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"port={parts.port} host={parts.host} db={parts.dbname}"
    assert lines[1] == parts.dbname
