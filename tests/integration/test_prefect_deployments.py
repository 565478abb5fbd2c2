"""prefect.yaml as a user runs it: a real Prefect server, `prefect deploy`, a process worker.

The `ingest` deployment is deployed from prefect.yaml with the Prefect CLI, run by a
`prefect worker start --run-once` subprocess, and must complete with its task runs and their
logs visible through the API, having written the generated dataset into the session's test
database (the worker inherits the ECOM_* variables that the `ecom_settings` fixture exports).
Every step has a deadline and every subprocess is killed afterwards, pass or fail.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest
import yaml

from ecom.config import Settings
from ecom.db import fetch_all

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
DEPLOYMENT = "ingest"
USERS = 500

SERVER_START_SECONDS = 90
CLI_SECONDS = 90
FLOW_RUN_SECONDS = 150


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    home: Path
    log_dir: Path

    def env(self) -> dict[str, str]:
        """Built when a client starts, so it carries the ECOM_* variables exported by then."""
        return _prefect_env(self.home, self.api_url)


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _prefect_env(prefect_home: Path, api_url: str | None) -> dict[str, str]:
    """This test's environment with every inherited PREFECT_* setting replaced, so a user's
    profile or API URL can never leak in; ECOM_* (the test database) passes through."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",  # no telemetry calls from a loopback-only box
        DO_NOT_TRACK="1",
        PREFECT_CLI_PROMPT="false",
        PREFECT_LOGGING_TO_API_ENABLED="true",
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} was never written)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _spawn(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen:
    """A subprocess in its own session, so stopping it also stops what it started."""
    with log.open("wb") as handle:
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after 15 s."""
    if process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_for_health(api_url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"prefect server exited with {server.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"prefect server not healthy after {SERVER_START_SECONDS} s:\n{_tail(log)}")


def _prefect_cli(server: PrefectServer, *args: str) -> str:
    """Run one `prefect` command from the project root as a user would, failing with its output."""
    env = {**server.env(), "PWD": str(ROOT)}  # prefect.yaml's pull step reads {{ $PWD }}
    try:
        result = subprocess.run(
            [PREFECT, *args], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=CLI_SECONDS,
        )  # fmt: skip
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"`prefect {' '.join(args)}` took over {CLI_SECONDS} s: {error.output}")
    assert result.returncode == 0, (
        f"`prefect {' '.join(args)}` failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def _deployment_config(name: str) -> dict:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    matches = [item for item in config["deployments"] if item["name"] == name]
    assert len(matches) == 1, f"prefect.yaml declares {len(matches)} deployments named {name!r}"
    return matches[0]


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """A throwaway `prefect server start` on a free loopback port with its own PREFECT_HOME."""
    base = tmp_path_factory.mktemp("prefect")
    port = _free_loopback_port()
    api_url = f"http://127.0.0.1:{port}/api"
    log = base / "server.log"
    server = _spawn(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        _prefect_env(base / "home", api_url=None),
        log,
        cwd=base,
    )
    try:
        _wait_for_health(api_url, server, log)
        yield PrefectServer(api_url, base / "home", base)
    finally:
        _stop(server)


def _run_to_terminal_state(client, flow_run_id: UUID, worker: subprocess.Popen, log: Path):
    deadline = time.monotonic() + FLOW_RUN_SECONDS
    while time.monotonic() < deadline:
        flow_run = client.read_flow_run(flow_run_id)
        if flow_run.state is not None and flow_run.state.is_final():
            return flow_run
        if worker.poll() is not None:
            # A --run-once worker exits after its run; give the last state update a moment.
            time.sleep(1)
            flow_run = client.read_flow_run(flow_run_id)
            assert flow_run.state is not None and flow_run.state.is_final(), (
                f"worker exited ({worker.returncode}) with the run in {flow_run.state}:\n"
                f"{_tail(log)}"
            )
            return flow_run
        time.sleep(1)
    pytest.fail(f"flow run not finished after {FLOW_RUN_SECONDS} s:\n{_tail(log)}")


def test_ingest_deployment_runs_on_a_process_worker(
    prefect_server: PrefectServer, ecom_settings: Settings, database_url: str, tmp_path: Path
):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.settings import PREFECT_API_URL, temporary_settings

    declared = _deployment_config(DEPLOYMENT)
    pool = declared["work_pool"]["name"]
    assert os.environ["ECOM_DATABASE_URL"] == database_url  # what the worker will inherit

    _prefect_cli(prefect_server, "work-pool", "create", pool, "--type", "process", "--overwrite")
    _prefect_cli(prefect_server, "--no-prompt", "deploy", "--name", DEPLOYMENT)

    data_dir = tmp_path / "thelook"
    worker_log = prefect_server.log_dir / "worker.log"
    with (
        temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}),
        get_client(sync_client=True) as client,
    ):
        deployments = client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[DEPLOYMENT]))
        )
        assert len(deployments) == 1, [item.name for item in deployments]
        deployment = deployments[0]
        assert deployment.entrypoint == declared["entrypoint"]
        assert deployment.work_pool_name == pool
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
        ]

        flow_run = client.create_flow_run_from_deployment(
            deployment.id, parameters={"data_dir": str(data_dir), "users": USERS}
        )
        worker = _spawn(
            [PREFECT, "worker", "start", "--pool", pool, "--run-once", "--limit", "1"],
            prefect_server.env(),
            worker_log,
            cwd=tmp_path,  # the deployment's pull step, not the worker's cwd, finds the code
        )
        try:
            finished = _run_to_terminal_state(client, flow_run.id, worker, worker_log)
            assert finished.state.is_completed(), (
                f"flow run ended {finished.state.type}: {finished.state.message}\n"
                f"{_tail(worker_log)}"
            )
            worker.wait(timeout=30)  # the flow process has exited, so its logs are flushed
        finally:
            _stop(worker)

        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id]))
        )
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id]))
        )

    states = {run.name.rsplit("-", 1)[0]: run.state.type.value for run in task_runs}
    assert states == {"start-services": "COMPLETED", "load-raw-tables": "COMPLETED"}
    load_run = next(run for run in task_runs if run.name.startswith("load-raw-tables"))
    load_logs = [entry.message for entry in logs if entry.task_run_id == load_run.id]
    assert any(message.startswith("loaded ") for message in load_logs), load_logs
    assert any(f"generating {USERS:,} users" in message for message in load_logs), load_logs

    generated_users = sum(1 for _ in (data_dir / "users.csv").open()) - 1
    assert generated_users == USERS
    assert fetch_all(database_url, "select count(*) from raw.users") == [(USERS,)]
