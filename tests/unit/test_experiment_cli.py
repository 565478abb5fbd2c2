"""The `ecom experiment` commands are registered and answer --help, and the design command
rejects an unknown metric or a non-positive MDE before touching the database."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ecom.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize("command", [[], ["list"], ["design"], ["analyze"], ["memo"]])
def test_experiment_commands_have_help(command) -> None:
    result = runner.invoke(app, ["experiment", *command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--metric", "bounce_rate"], "unknown metric 'bounce_rate'"),
        (["--mde", "0"], "--mde must be a positive relative lift"),
    ],
)
def test_design_rejects_bad_arguments(arguments, message) -> None:
    result = runner.invoke(app, ["experiment", "design", *arguments])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
