"""Load from outside the Python process: `wrk` (Debian's package) against `/predict`.

The aiohttp client in bench_serving.py shares the machine's two cores with the server and
measures its own event loop too; `wrk` is C, one thread, and what the issue's numbers were
measured with. Each window is one `wrk` run of `seconds` on keep-alive connections, each
request a random user of the snapshot; consecutive windows show whether the tail is steady
(a p99 that spikes in one window of five is a stall, not noise).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SCRIPT = """
local ids = {%s}
local headers = {["Content-Type"] = "application/json"}
request = function()
  return wrk.format("POST", nil, headers, '{"user_id":' .. ids[math.random(#ids)] .. '}')
end
"""
_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass(frozen=True)
class WrkWindow:
    connections: int
    seconds: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def available() -> bool:
    return shutil.which("wrk") is not None


def _milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS_MS[unit]


def parse(output: str, connections: int, seconds: int) -> WrkWindow:
    """One window's numbers from `wrk --latency` output; raises naming what is missing."""

    def find(pattern: str) -> str:
        match = re.search(pattern, output)
        if match is None:
            raise ValueError(f"wrk output has no {pattern!r}:\n{output}")
        return match.group(1)

    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = (sum(map(int, socket_errors.groups())) if socket_errors else 0) + (
        int(non_2xx.group(1)) if non_2xx else 0
    )
    return WrkWindow(
        connections=connections,
        seconds=seconds,
        requests_per_second=float(find(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=_milliseconds(find(r"\n\s+50%\s+(\S+)")),
        p99_ms=_milliseconds(find(r"\n\s+99%\s+(\S+)")),
        errors=errors,
    )


def windows(
    url: str, user_ids: list[int], connections: int, count: int, seconds: int
) -> list[WrkWindow]:
    """`count` consecutive `wrk` windows of `seconds` each at `connections` connections."""
    with tempfile.TemporaryDirectory(prefix="wrk-") as folder:
        script = Path(folder) / "predict.lua"
        script.write_text(SCRIPT % ",".join(str(int(user)) for user in user_ids))
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s"]
        results = []
        for _ in range(count):
            done = subprocess.run([*command, str(script), url], capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"wrk against {url} failed: {done.stdout}{done.stderr}")
            window = parse(done.stdout, connections, seconds)
            print(
                f"wrk {connections:>2} connections, {seconds} s: "
                f"{window.requests_per_second:8.1f} req/s, p50 {window.p50_ms:6.2f} ms, "
                f"p99 {window.p99_ms:7.2f} ms, {window.errors} errors"
            )
            results.append(window)
        return results


def render(
    results: list[WrkWindow], target: str = "/predict", p99_target_ms: float = 25.0
) -> list[str]:
    """The markdown section on `target` (the server's /predict, named): every window, then the
    two targets."""
    lines = [
        f"## wrk against {target} (one thread, keep-alive, consecutive windows)",
        "",
        "| connections | window s | req/s | p50 ms | p99 ms | errors |",
        "|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {w.connections} | {w.seconds} | {w.requests_per_second:,.1f} | {w.p50_ms:.2f} | "
            f"{w.p99_ms:.2f} | {w.errors} |"
            for w in results
        ),
        "",
    ]
    eight = [w for w in results if w.connections == 8]
    many = [w for w in results if w.connections == 32]
    if eight:
        worst = max(w.p99_ms for w in eight)
        lines.append(
            f"- p99 at 8 connections, worst of {len(eight)} windows: {worst:.1f} ms "
            f"(target < {p99_target_ms:g} ms in each: {'met' if worst < p99_target_ms else 'missed'})"
        )
    if eight and many:
        base = sum(w.requests_per_second for w in eight) / len(eight)
        loaded = sum(w.requests_per_second for w in many) / len(many)
        lines.append(
            f"- throughput at 32 connections {loaded:,.0f} req/s = {loaded / base:.0%} of that at "
            f"8 ({base:,.0f}) (target >= 90%: {'met' if loaded >= 0.9 * base else 'missed'})"
        )
    return [*lines, ""]
