"""A taken port is refused at once, in one line, before anything loads: `ecom serve` used to
load the model for a minute and then die with a 57-line `OSError` traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.parametrize(
    "args",
    [["serve", "--port", "{port}"], ["ui", "up", "--no-api", "--mlflow-port", "{port}"]],
    ids=["serve", "ui-up"],
)
def test_a_taken_port_is_one_line_and_fast(args, taken_port, tmp_path):
    env = {**os.environ, "ECOM_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    started = time.monotonic()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ecom"), *(a.format(port=taken_port) for a in args)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 1, output
    assert len(output.splitlines()) == 1, output
    assert "already in use" in output and str(taken_port) in output
    # Nothing was started: no embedded server under the home, no model loaded.
    assert not (tmp_path / "home").exists()
    assert time.monotonic() - started < 60
