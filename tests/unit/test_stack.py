"""The local stack's start-up verdicts and port check, on real processes and sockets."""

from __future__ import annotations

import socket
import subprocess

from ecom.config import Settings
from ecom.stack import StackStatus, describe, port_in_use, wait_until_ready


def test_a_process_alive_past_its_budget_is_still_starting_not_failed():
    slow = subprocess.Popen(["sleep", "30"])
    try:
        assert wait_until_ready(lambda: False, slow, timeout=1) == "starting"
        assert wait_until_ready(lambda: True, slow, timeout=1) == "ready"
    finally:
        slow.kill()
        slow.wait()
    ended = subprocess.Popen(["true"])
    ended.wait()
    assert wait_until_ready(lambda: False, ended, timeout=5) == "exited"


def test_describe_says_still_starting(tmp_path):
    status = StackStatus(
        started={"prefect": "http://127.0.0.1:4200"},
        starting={"churn-api": "still starting at http://127.0.0.1:8000; watch x.log"},
    )
    lines = describe(status, Settings(_env_file=None).with_overrides(home=tmp_path))
    assert "churn-api  still starting at http://127.0.0.1:8000; watch x.log" in lines
    assert not any("did not start" in line for line in lines)


def test_port_in_use_sees_a_listener_and_a_freed_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
    assert not port_in_use("127.0.0.1", port)
