"""The churn service as `ecom serve` runs it, for the modules that test it over HTTP:
`bentoml serve service:ChurnService` on a free port, in a process group of its own so the
teardown ends its workers too."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DIR = ROOT / "services" / "churn_api"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(client: httpx.Client, path: str, seconds: float) -> None:
    """Until `path` answers 200; a busy 2-core machine has taken over two minutes to start."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if client.get(path).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the churn service did not answer {path} within {seconds} s")


def stop_group(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


def start_churn_api(
    cleanup: contextlib.ExitStack, env: dict[str, str], headers: dict[str, str] | None = None
) -> httpx.Client:
    """Start the service with `env` and return a client of it; `cleanup` stops the group and
    closes the client. Not waited for: starting takes as long as scoring and materializing, so
    callers do those meanwhile, then `wait_for(client, "/readyz", ...)`."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "service:ChurnService",
        "--working-dir",
        str(SERVICE_DIR),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    server = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    cleanup.callback(stop_group, server)
    return cleanup.enter_context(
        httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers or {}, timeout=30)
    )
