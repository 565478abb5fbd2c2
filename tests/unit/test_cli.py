"""Every `ecom` command answers --help, and services status works without starting anything."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ecom.cli.main import app

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
    ["pipeline"],
    ["serve"],
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
