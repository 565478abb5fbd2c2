"""Every `ecom` command answers --help (with no type beside a flag), services status works
without starting anything and prints whole URLs, and `ecom services env` is eval-able."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from ecom.cli.main import app
from ecom.config import redact_url

runner = CliRunner()

COMMANDS = [
    [],
    ["services"],
    ["services", "up"],
    ["services", "down"],
    ["services", "status"],
    ["services", "env"],
    ["generate"],
    ["load"],
    ["transform"],
    ["quality"],
    ["features"],
    ["features", "apply"],
    ["features", "materialize"],
    ["train"],
    ["score"],
    ["uplift"],
    ["uplift", "train"],
    ["uplift", "targets"],
    ["pipeline"],
    ["serve"],
    ["ui"],
    ["ui", "up"],
    ["ui", "down"],
    ["ui", "alerts"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "ecom")
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_status_reports_stopped_services_without_starting_them(tmp_path, monkeypatch):
    monkeypatch.setenv("ECOM_HOME", str(tmp_path))
    monkeypatch.delenv("ECOM_DATABASE_URL", raising=False)
    monkeypatch.delenv("ECOM_REDIS_URL", raising=False)
    from ecom import config

    config.get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["services", "status"])
    finally:
        config.get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "stopped" in result.output
    assert not (tmp_path / "pg").exists()


@pytest.mark.parametrize(
    "command", [[], ["services", "down"], ["transform"]], ids=lambda c: " ".join(c) or "ecom"
)
def test_help_shows_no_type_beside_flags(command):
    """A flag takes no value, so help must not show one (`<bool>`), not even beside --help."""
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    assert "<bool>" not in result.output


def test_help_still_names_the_type_of_options_that_take_a_value():
    result = runner.invoke(app, ["load", "--help"])
    assert "--users <int>" in result.output
    assert "<bool>" not in result.output


def test_status_prints_every_url_whole_at_80_columns(tmp_path):
    """URLs are what a user copies from `ecom services status`: never cut at the terminal width
    (and never with their password: that is `ecom services env`'s job)."""
    home = tmp_path / "a_rather_long_folder_name_for_the_embedded_services_home"
    database_url = "postgresql://analyst:secret@warehouse.internal.example.com:6543/ecom_analytics?sslmode=require"
    redis_url = "redis://cache.internal.example.com:6380/3"
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("ECOM_", "MLFLOW_"))
    }
    env |= {
        "COLUMNS": "80",
        "ECOM_HOME": str(home),
        "ECOM_DATABASE_URL": database_url,
        "ECOM_REDIS_URL": redis_url,
    }
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ecom"), "services", "status"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    shown = redact_url(database_url)
    assert shown == database_url.replace(":secret@", ":***@")
    for url in (shown, redis_url, f"sqlite:///{home / 'mlflow.db'}"):
        assert any(line.split()[-1:] == [url] for line in lines), result.stdout
    assert "secret" not in result.stdout


def test_services_env_prints_exports_a_shell_can_eval(tmp_path):
    """Quoting survives the shell: a password with a space, a quote and an @ comes back as is."""
    password = "p@ss w'rd"
    database_url = f"postgresql://analyst:{quote(password, safe='')}@127.0.0.1:6543/ecom"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ECOM_", "PG"))}
    env |= {
        "ECOM_HOME": str(tmp_path / "home"),
        "ECOM_DATABASE_URL": database_url,
        "ECOM_REDIS_URL": "redis://127.0.0.1:6380/3",
    }
    ecom = Path(sys.executable).parent / "ecom"
    script = (
        f'eval "$({ecom} services env)" && '
        'printf "%s|" "$ECOM_PG_PORT" "$ECOM_PG_PASSWORD" "$PGHOST" "$PGPORT" "$PGUSER" '
        '"$PGDATABASE" "$PGPASSWORD" "$ECOM_DATABASE_URL"'
    )
    result = subprocess.run(
        ["bash", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("|")[:-1] == [
        "6543",
        password,
        "127.0.0.1",
        "6543",
        "analyst",
        "ecom",
        password,
        database_url,
    ]


def _ui_alerts(monkeypatch, webhook_url: str | None):
    from ecom import config

    if webhook_url is None:
        monkeypatch.delenv("ECOM_ALERT_WEBHOOK_URL", raising=False)
    else:
        monkeypatch.setenv("ECOM_ALERT_WEBHOOK_URL", webhook_url)
    config.get_settings.cache_clear()
    try:  # port 9 (discard) on loopback: nothing there, so any request would fail loudly
        return runner.invoke(app, ["ui", "alerts", "--api-url", "http://127.0.0.1:9/api"])
    finally:
        config.get_settings.cache_clear()


def test_ui_alerts_without_a_webhook_says_how_to_turn_alerts_on(monkeypatch):
    result = _ui_alerts(monkeypatch, None)
    assert result.exit_code == 0, result.output
    assert "alerts     off: set ECOM_ALERT_WEBHOOK_URL" in result.output


def test_ui_alerts_rejects_a_webhook_that_is_not_a_url_and_names_the_variable(monkeypatch):
    result = _ui_alerts(monkeypatch, "hooks.slack.com/services/T000/B000/XXXX")
    assert result.exit_code == 1
    assert "ECOM_ALERT_WEBHOOK_URL must be an http(s) URL" in result.output
    assert "XXXX" not in result.output  # the secret part of the URL is never printed
