"""The local stack behind `make ui`: Prefect's server and a worker with every deployment, the
MLflow UI and the churn service, as child processes of one command.

Each process writes its output to a log file under `ECOM_HOME/ui/`, so the terminal shows only
the URLs once everything answers (no wall of deprecation warnings or offline telemetry errors).
The PIDs go to `ECOM_HOME/ui/processes.json`, so `ecom ui down` stops exactly what `up` started
and nothing else. Prefect's state (`PREFECT_HOME`) lives under `ECOM_HOME` too, so removing
the home removes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from ecom.config import Settings, project_root, redact_url
from ecom.services import Endpoints

BIN = Path(sys.executable).parent
WORK_POOL = "ecom-local"
# How long each process may take to answer before `up` says it is still starting. The churn
# service loads the champion from MLflow before it answers: 62 s was seen on a busy 2-core
# machine, where 120 s left no margin and reported a service that then answered as failed.
READY_TIMEOUT_SECONDS = {"prefect": 180, "mlflow": 120, "churn-api": 300}
# A process without a health URL (the worker) only has to stay alive this long.
ALIVE_SECONDS = 3


@dataclass(frozen=True)
class Ports:
    prefect: int = 4200
    mlflow: int = 5000
    churn_api: int = 8000


@dataclass
class StackProcess:
    """One long-running child: how to start it and how to tell it answers."""

    name: str
    argv: list[str]
    url: str
    health_url: str | None
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = field(default_factory=project_root)


@dataclass
class StackStatus:
    started: dict[str, str] = field(default_factory=dict)  # name -> URL, answering
    failed: dict[str, str] = field(default_factory=dict)  # name -> why, with the log's path
    starting: dict[str, str] = field(default_factory=dict)  # name -> alive, not answering yet
    alerts: str = ""  # what alerting was set up, or how to turn it on


def stack_home(settings: Settings) -> Path:
    return settings.resolved_home / "ui"


def prefect_environment(settings: Settings, ports: Ports) -> dict[str, str]:
    """Prefect's settings for the local server and every client of it."""
    home = settings.resolved_home
    return {
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{ports.prefect}/api",
        # The UI is copied here rather than into the locked environment.
        "PREFECT_SERVER_UI_STATIC_DIRECTORY": str(home / "prefect-ui"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # Streams run logs to `prefect deployment run ... --watch`.
        "PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED": "true",
        "PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED": "true",
        "PYTHONWARNINGS": "ignore",
        # The library's own lines (each stage's result) in the run's logs in the UI.
        "PREFECT_LOGGING_EXTRA_LOGGERS": "ecom",
    }


def stack_processes(settings: Settings, endpoints: Endpoints, ports: Ports) -> list[StackProcess]:
    """The processes in the order they start: the server before anything that talks to it."""
    connection = endpoints.env(settings)
    prefect = prefect_environment(settings, ports)
    clients = {**connection, **prefect}
    return [
        StackProcess(
            "prefect",
            [
                str(BIN / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(ports.prefect),
            ],
            f"http://127.0.0.1:{ports.prefect}",
            f"http://127.0.0.1:{ports.prefect}/api/health",
            prefect,
        ),
        StackProcess(
            "worker",
            [str(BIN / "prefect"), "worker", "start", "--pool", WORK_POOL, "--type", "process"],
            f"work pool {WORK_POOL}",
            None,
            clients,
        ),
        StackProcess(
            "mlflow",
            [
                str(BIN / "mlflow"),
                "ui",
                "--backend-store-uri",
                settings.tracking_uri,
                "--host",
                "127.0.0.1",
                "--port",
                str(ports.mlflow),
                # One person's UI: one worker, not the default four, each of which imports
                # MLflow's server (on a busy two-core machine four missed the readiness deadline).
                "--workers",
                "1",
            ],
            f"http://127.0.0.1:{ports.mlflow}",
            f"http://127.0.0.1:{ports.mlflow}/health",
            connection,
        ),
        StackProcess(
            "churn-api",
            [
                str(BIN / "bentoml"),
                "serve",
                "service:ChurnService",
                "--working-dir",
                str(project_root() / "services" / "churn_api"),
                "--host",
                "127.0.0.1",
                "--port",
                str(ports.churn_api),
            ],
            f"http://127.0.0.1:{ports.churn_api}",
            f"http://127.0.0.1:{ports.churn_api}/healthz",
            connection,
        ),
    ]


def port_in_use(host: str, port: int) -> bool:
    """Whether `host:port` cannot be bound, checked in a millisecond before a server that would
    fail on it only after loading everything (SO_REUSEADDR, as uvicorn and gunicorn bind, so a
    port in TIME_WAIT after a stop counts as free)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def busy_ports(ports: Ports, *, with_api: bool = True) -> list[str]:
    """`name port` for each of the stack's ports something already listens on."""
    named = {"prefect": ports.prefect, "mlflow": ports.mlflow}
    if with_api:
        named["churn-api"] = ports.churn_api
    return [f"{name} :{port}" for name, port in named.items() if port_in_use("127.0.0.1", port)]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 500
    except (urllib.error.URLError, OSError):
        return False


def run_one(settings: Settings, endpoints: Endpoints, name: str, ports: Ports) -> NoReturn:
    """Become one of the stack's processes, in the foreground, as `ecom ui up` would start it
    (same command, environment and folder). The exec, not a child, so a SIGTERM or Ctrl-C to
    this PID reaches the server itself and nothing is left holding the port."""
    processes = {process.name: process for process in stack_processes(settings, endpoints, ports)}
    if name not in processes:
        raise ValueError(f"no stack process {name!r}: one of {', '.join(processes)}")
    process = processes[name]
    os.chdir(process.cwd)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(process.argv[0], process.argv, {**os.environ, **process.env, "PWD": str(process.cwd)})


def _start(process: StackProcess, logs: Path) -> subprocess.Popen:
    logs.mkdir(parents=True, exist_ok=True)
    log_file = (logs / f"{process.name}.log").open("ab")
    return subprocess.Popen(
        process.argv,
        cwd=process.cwd,
        env={**os.environ, **process.env, "PWD": str(process.cwd)},
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: `down` stops it and its children
    )


def wait_until_ready(check: Callable[[], bool], child: subprocess.Popen, timeout: float) -> str:
    """ "ready" once `check` passes, "exited" if the child ends first, else "starting": a child
    still alive at the deadline may yet answer, so it is never called failed."""
    deadline = time.monotonic() + timeout
    while True:
        if child.poll() is not None:
            return "exited"
        if check():
            return "ready"
        if time.monotonic() >= deadline:
            return "starting"
        time.sleep(0.5)


def _deploy_everything(env: dict[str, str], logs: Path) -> None:
    """The work pool, then every deployment in prefect.yaml (what `prefect deploy --all` does)."""
    root = project_root()
    with (logs / "deploy.log").open("ab") as log_file:
        for argv in (
            [
                str(BIN / "prefect"),
                "work-pool",
                "create",
                WORK_POOL,
                "--type",
                "process",
                "--overwrite",
            ],
            [str(BIN / "prefect"), "--no-prompt", "deploy", "--all"],
        ):
            subprocess.run(
                argv,
                cwd=root,
                env={**os.environ, **env, "PWD": str(root)},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=300,
            )


def _record(settings: Settings, pids: dict[str, int]) -> None:
    path = stack_home(settings) / "processes.json"
    path.write_text(json.dumps(pids, indent=2))


def start_stack(
    settings: Settings,
    endpoints: Endpoints,
    ports: Ports = Ports(),
    announce: Callable[[str], object] = print,
    *,
    with_api: bool = True,
) -> StackStatus:
    """Start every process, deploy, and return once each answers (or has said why not).
    Without `with_api` the churn service is left out (before the first champion exists)."""
    if running_stack(settings):
        raise RuntimeError("the stack is already running: `ecom ui down` stops it")
    logs = stack_home(settings) / "logs"
    status = StackStatus()
    pids: dict[str, int] = {}
    for process in stack_processes(settings, endpoints, ports):
        if process.name == "churn-api" and not with_api:
            continue
        child = _start(process, logs)
        pids[process.name] = child.pid
        _record(settings, pids)
        announce(f"starting {process.name} …")
        log_path = logs / f"{process.name}.log"
        if process.health_url:
            state = wait_until_ready(
                lambda url=process.health_url: answers(url),
                child,
                READY_TIMEOUT_SECONDS.get(process.name, 120),
            )
        else:  # the worker: alive after a few seconds is all it can show
            time.sleep(ALIVE_SECONDS)
            state = "exited" if child.poll() is not None else "ready"
        if state == "exited":
            status.failed[process.name] = f"exited while starting; see {log_path}"
            continue
        if state == "starting":
            status.starting[process.name] = (
                f"still starting at {process.url} (no answer in "
                f"{READY_TIMEOUT_SECONDS.get(process.name, 120)} s); watch {log_path}"
            )
            continue
        status.started[process.name] = process.url
        if process.name == "prefect":
            _deploy_everything(process.env, logs)
            status.alerts = _set_up_alerts(settings, process.env["PREFECT_API_URL"])
    return status


def _set_up_alerts(settings: Settings, api_url: str) -> str:
    """The webhook block and automations.yaml on the server when ECOM_ALERT_WEBHOOK_URL is set
    (idempotent); otherwise the line that says how to turn alerts on."""
    from ecom.alerts import configure_alerts, describe_alerts

    url = settings.alert_webhook_url
    return describe_alerts(configure_alerts(api_url, url) if url else None, url)


def running_stack(settings: Settings) -> dict[str, int]:
    """The recorded processes that still run."""
    path = stack_home(settings) / "processes.json"
    if not path.exists():
        return {}
    alive = {}
    for name, pid in json.loads(path.read_text()).items():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, 0)
            alive[name] = pid
    return alive


# After SIGKILL, how long the kernel may take to end the group (a busy machine, a large heap).
KILL_WAIT_SECONDS = 10.0


def _group_gone(pid: int, deadline: float) -> bool:
    """Whether process group `pid` is gone by `deadline` (checked at least once)."""
    while True:
        try:
            os.killpg(pid, 0)
        except (ProcessLookupError, PermissionError):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def stop_stack(settings: Settings, grace_seconds: float = 15) -> list[str]:
    """Stop what `start_stack` recorded (process groups: their children too), nothing else.

    Returns only when every group is gone: SIGTERM, then SIGKILL for a group still there after
    the grace period, then a wait for the kill to take effect (on a busy machine Prefect's
    server outlived the grace, and `ui down` returned while its processes still existed)."""
    stopped = []
    recorded = running_stack(settings)
    for name, pid in reversed(list(recorded.items())):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
            stopped.append(name)
    deadline = time.monotonic() + grace_seconds
    for pid in recorded.values():
        if _group_gone(pid, deadline):
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        _group_gone(pid, time.monotonic() + KILL_WAIT_SECONDS)
    with contextlib.suppress(FileNotFoundError):
        (stack_home(settings) / "processes.json").unlink()
    return stopped


def describe(status: StackStatus, settings: Settings) -> list[str]:
    """The lines `ecom ui up` prints: one URL per answering service, then what did not start."""
    lines = [f"{name:<10} {url}" for name, url in status.started.items()]
    lines += [f"{name:<10} {why}" for name, why in status.starting.items()]
    lines += [f"{name:<10} {why}" for name, why in status.failed.items()]
    if status.alerts:
        lines.append(f"{'alerts':<10} {status.alerts}")
    lines.append(f"{'tracking':<10} {redact_url(settings.tracking_uri)}")
    return lines
