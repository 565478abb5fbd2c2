"""`ecom ui up` starts the Prefect server with every deployment and a worker, and the MLflow UI,
and (with ECOM_ALERT_WEBHOOK_URL set) the alert block and automations, idempotently;
`ecom ui down` stops exactly those processes. Real processes on free loopback ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from ecom.alerts import BLOCK_NAME, read_automations
from ecom.config import Settings
from ecom.stack import answers, port_in_use

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ecom(args: list[str], env: dict[str, str], timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "ecom"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def api_post(url: str, body: dict) -> object:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _ui_env(ecom_settings: Settings, tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "ECOM_HOME": str(tmp_path / "home"),
        "ECOM_DATABASE_URL": ecom_settings.database_url,
        "ECOM_REDIS_URL": ecom_settings.redis_url,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "COLUMNS": "200",
    }
    env.pop("PREFECT_API_URL", None)  # `ui up` points its children at its own server
    env.pop("ECOM_ALERT_WEBHOOK_URL", None)
    return env


def test_ui_up_deploys_everything_and_down_stops_it(ecom_settings: Settings, tmp_path) -> None:
    ports = {"prefect": free_port(), "mlflow": free_port()}
    # Nothing listens there: this test checks what is set up, the deployment test sends alerts.
    hook_port = free_port()
    webhook = f"http://127.0.0.1:{hook_port}/hooks/secret-part"
    env = {**_ui_env(ecom_settings, tmp_path), "ECOM_ALERT_WEBHOOK_URL": webhook}
    recorded: dict[str, int] = {}
    args = [
        "ui",
        "up",
        "--detach",
        "--prefect-port",
        str(ports["prefect"]),
        "--mlflow-port",
        str(ports["mlflow"]),
        "--no-api",
    ]
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

        deployed = {item["name"] for item in api_post(f"{prefect_url}/api/deployments/filter", {})}
        declared = {
            d["name"] for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
        }
        assert deployed == declared

        # Alerts: the block and every automation of automations.yaml, once each however often
        # it runs; the webhook's path (a Slack URL's secret) is never printed.
        names = sorted(automation["name"] for automation in read_automations())
        line = f"alerts     {', '.join(names)} -> custom-webhook/{BLOCK_NAME} -> "
        assert f"{line}http://127.0.0.1:{hook_port}/…" in started.stdout
        assert "secret-part" not in started.stdout
        again = ecom(["ui", "alerts", "--api-url", f"{prefect_url}/api"], env, timeout=120)
        assert again.returncode == 0 and line in again.stdout, again.stdout + again.stderr
        automations = api_post(f"{prefect_url}/api/automations/filter", {})
        assert sorted(item["name"] for item in automations) == names
        blocks = api_post(f"{prefect_url}/api/block_documents/filter", {"include_secrets": True})
        (block,) = [item for item in blocks if item["name"] == BLOCK_NAME]
        assert block["data"]["secrets"] == {"webhook_url": webhook}
        assert all(
            action["block_document_id"] == block["id"]
            for automation in automations
            for action in automation["actions"]
        )
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


def test_ui_serve_runs_one_ui_in_the_foreground_as_ui_up_does(ecom_settings, tmp_path) -> None:
    """`make mlflow-ui` runs this: the MLflow UI on the project's tracking store, stopped by
    Ctrl-C (SIGINT) with nothing left behind; an unknown name is refused, naming the choices."""
    import signal
    import time

    port = free_port()
    env = {
        **os.environ,
        "ECOM_HOME": str(tmp_path / "home"),
        "ECOM_DATABASE_URL": ecom_settings.database_url,
        "ECOM_REDIS_URL": ecom_settings.redis_url,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    refused = ecom(["ui", "serve", "mlflow-ui"], env, timeout=120)
    assert refused.returncode == 1
    assert "one of prefect, worker, mlflow, churn-api" in refused.stdout + refused.stderr
    child = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "ecom"),
            "ui",
            "serve",
            "mlflow",
            "--mlflow-port",
            str(port),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not answers(f"http://127.0.0.1:{port}/health") and time.monotonic() < deadline:
            assert child.poll() is None, "ecom ui serve mlflow exited early"
            time.sleep(1)
        assert answers(f"http://127.0.0.1:{port}/health")
        os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's group
        child.wait(timeout=60)
        assert not answers(f"http://127.0.0.1:{port}/health")
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)


def _ui_up(env: dict[str, str], ports: dict[str, int]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "ecom"), "ui", "up", "--no-api",
         "--prefect-port", str(ports["prefect"]), "--mlflow-port", str(ports["mlflow"])],
        env={**env, "PYTHONUNBUFFERED": "1"}, cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def _read_until(process: subprocess.Popen, text: str) -> str:
    seen = ""
    for line in process.stdout:
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"`ecom ui up` ended before {text!r}:\n{seen}")


def test_sigterm_to_ui_up_while_it_starts_stops_what_it_started(ecom_settings, tmp_path):
    """A supervisor's SIGTERM to `ecom ui up` (its PID only) while the server starts leaves no
    child in its own session behind and frees the port."""
    ports = {"prefect": free_port(), "mlflow": free_port()}
    env = _ui_env(ecom_settings, tmp_path)
    up = _ui_up(env, ports)
    try:
        _read_until(up, "starting prefect")
        recorded = json.loads((tmp_path / "home" / "ui" / "processes.json").read_text())
        os.kill(up.pid, signal.SIGTERM)
        assert up.wait(timeout=60) != 0
        for pid in recorded.values():
            with pytest.raises(ProcessLookupError):
                os.killpg(pid, 0)
        assert not port_in_use("127.0.0.1", ports["prefect"])
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
        ecom(["ui", "down"], env, timeout=120)


def test_ui_down_from_another_terminal_ends_the_ui_up_process(ecom_settings, tmp_path):
    """`make ui-down` said "stopped" while the `make ui` process stayed alive: now `up` returns
    once `down` has stopped what it started."""
    ports = {"prefect": free_port(), "mlflow": free_port()}
    env = _ui_env(ecom_settings, tmp_path)
    up = _ui_up(env, ports)
    try:
        _read_until(up, "Ctrl-C stops everything above.")
        stopped = ecom(["ui", "down"], env, timeout=120)
        assert "prefect" in stopped.stdout, stopped.stdout + stopped.stderr
        assert up.wait(timeout=30) == 0
        assert "stopped by `ecom ui down`" in up.stdout.read()
        assert not port_in_use("127.0.0.1", ports["mlflow"])
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            ecom(["ui", "down"], env, timeout=120)
