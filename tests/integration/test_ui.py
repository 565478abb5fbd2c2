"""`ecom ui up` starts the Prefect server with every deployment and a worker, and the MLflow UI;
`ecom ui down` stops exactly those processes. Real processes on free loopback ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from ecom.config import Settings
from ecom.stack import answers

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ecom(args: list[str], env: dict[str, str], timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "ecom"), *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_ui_up_deploys_everything_and_down_stops_it(ecom_settings: Settings, tmp_path) -> None:
    ports = {"prefect": free_port(), "mlflow": free_port()}
    env = {
        **os.environ,
        "ECOM_HOME": str(tmp_path / "home"),
        "ECOM_DATABASE_URL": ecom_settings.database_url,
        "ECOM_REDIS_URL": ecom_settings.redis_url,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "COLUMNS": "200",
    }
    env.pop("PREFECT_API_URL", None)
    recorded: dict[str, int] = {}
    args = ["ui", "up", "--detach", "--prefect-port", str(ports["prefect"]),
            "--mlflow-port", str(ports["mlflow"]), "--no-api"]  # fmt: skip
    try:
        started = ecom(args, env, timeout=420)
        assert started.returncode == 0, started.stdout + started.stderr
        prefect_url = f"http://127.0.0.1:{ports['prefect']}"
        assert f"prefect    {prefect_url}" in started.stdout
        assert f"mlflow     http://127.0.0.1:{ports['mlflow']}" in started.stdout
        assert "worker     work pool ecom-local" in started.stdout
        assert "Traceback" not in started.stdout + started.stderr
        assert answers(f"{prefect_url}/api/health")
        assert answers(f"http://127.0.0.1:{ports['mlflow']}/health")

        request = urllib.request.Request(
            f"{prefect_url}/api/deployments/filter", data=b"{}", method="POST",
            headers={"content-type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            deployed = {deployment["name"] for deployment in json.load(response)}
        declared = {
            d["name"] for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
        }
        assert deployed == declared
        recorded = json.loads((tmp_path / "home" / "ui" / "processes.json").read_text())
        assert {"prefect", "worker", "mlflow"} <= set(recorded)
    finally:
        stopped = ecom(["ui", "down"], env, timeout=120)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "prefect" in stopped.stdout
    assert not answers(f"http://127.0.0.1:{ports['prefect']}/api/health")
    assert not answers(f"http://127.0.0.1:{ports['mlflow']}/health")
    for pid in recorded.values():
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    assert "nothing was running" in ecom(["ui", "down"], env, timeout=60).stdout
