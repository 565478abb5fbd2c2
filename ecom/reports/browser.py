"""Open a page in headless Chromium and check what a reader would see.

Driven over the Chrome DevTools Protocol, so the check sees what `--dump-dom` cannot: every
console error and uncaught exception, every request that tried to leave the machine (the report
must open offline), and whether each plotly chart actually drew its SVG. It also saves a
full-page screenshot. Uses Debian's `chromium`; the background-networking flags keep it from
calling home on a closed network.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)

# Runs in the page after load: for each chart div, did plotly draw into it?
CHART_STATE_JS = """
(() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(div => ({
    id: div.id,
    rendered: div.classList.contains('js-plotly-plot')
        && div.querySelectorAll('svg.main-svg').length > 0
        && (div.querySelectorAll('.trace, .hm image, .table').length > 0),
    height: div.getBoundingClientRect().height,
    // Wider than its card: clipped in a plain screenshot (no resize after the layout settles).
    overflows: Array.from(div.querySelectorAll('svg.main-svg')).some(svg =>
        svg.getBoundingClientRect().right > div.closest('.chart, body').getBoundingClientRect().right + 1),
})))()
"""
IMAGES_JS = """
(() => Array.from(document.images).map(img => ({id: img.id, loaded: img.complete && img.naturalWidth > 0})))()
"""


class BrowserNotFound(RuntimeError):
    """No Chromium on PATH; Debian: `apt-get install -y chromium`."""


@dataclass
class PageCheck:
    """What the browser saw on the page."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    network_requests: list[str] = field(default_factory=list)
    charts: dict[str, bool] = field(default_factory=dict)
    overflowing: list[str] = field(default_factory=list)  # charts wider than their card
    images: dict[str, bool] = field(default_factory=dict)
    screenshot: Path | None = None

    @property
    def unrendered_charts(self) -> list[str]:
        return [chart for chart, rendered in self.charts.items() if not rendered]

    @property
    def problems(self) -> list[str]:
        out = [f"console error: {message}" for message in self.console_errors]
        out += [f"network request from an offline page: {url}" for url in self.network_requests]
        out += [f"chart did not render: {chart}" for chart in self.unrendered_charts]
        out += [f"chart wider than its card (clipped): {chart}" for chart in self.overflowing]
        out += [f"image did not load: {image}" for image, ok in self.images.items() if not ok]
        return out


def find_chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise BrowserNotFound(
        f"none of {', '.join(BROWSERS)} is on PATH: install Debian's chromium "
        "(`apt-get update && apt-get install -y chromium`)"
    )


class _DevTools:
    """A minimal CDP session: numbered commands, events buffered until asked for."""

    def __init__(self, websocket_url: str) -> None:
        self.socket = connect(websocket_url, max_size=None, open_timeout=30)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, timeout: float = 60, **params: Any) -> dict[str, Any]:
        command_id = next(self.ids)
        self.socket.send(json.dumps({"id": command_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            if message.get("id") == command_id:
                if "error" in message:
                    raise RuntimeError(f"CDP {method} failed: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(event["method"] == method for event in self.events):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {method} within {timeout:.0f} s")
            self.events.append(json.loads(self.socket.recv(timeout=remaining)))

    def close(self) -> None:
        self.socket.close()


def _devtools_port(profile: Path, process: subprocess.Popen, timeout: float) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with code {process.returncode} before listening")
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().split()[0])
        time.sleep(0.1)
    raise TimeoutError(f"chromium did not open its DevTools port within {timeout:.0f} s")


def _console_errors(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        params = event.get("params", {})
        if event["method"] == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append(
                details.get("exception", {}).get("description") or details.get("text", "")
            )
        elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") in (
            "error",
            "assert",
        ):
            errors.append(
                " ".join(
                    str(arg.get("value", arg.get("description", "")))
                    for arg in params.get("args", [])
                )
            )
        elif (
            event["method"] == "Log.entryAdded" and params.get("entry", {}).get("level") == "error"
        ):
            entry = params["entry"]
            errors.append(f"{entry.get('text', '')} ({entry.get('url', '')})")
    return errors


def _network_requests(events: list[dict[str, Any]]) -> list[str]:
    urls = (
        event["params"]["request"]["url"]
        for event in events
        if event["method"] == "Network.requestWillBeSent"
    )
    return [url for url in urls if not url.startswith(("file:", "data:", "about:", "blob:"))]


def check_page(
    page: Path, screenshot: Path | None = None, *, width: int = 1400, timeout: float = 90
) -> PageCheck:
    """Load `page` (a local file) headless, let its scripts run, and report what went wrong."""
    url = Path(page).resolve().as_uri()
    result = PageCheck(url)
    # Chromium's helpers (zygote, renderers, crash handler) can still write into the profile
    # just after the browser exits: the whole process group is stopped before the profile is
    # removed, and a straggler's file never fails the check.
    with tempfile.TemporaryDirectory(
        prefix="ecom-chromium-", ignore_cleanup_errors=True
    ) as profile:
        process = subprocess.Popen(
            [
                find_chromium(),
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},900",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, helpers included
        )
        try:
            port = _devtools_port(Path(profile), process, timeout)
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
            target = next(t for t in targets if t.get("type") == "page")
            tools = _DevTools(target["webSocketDebuggerUrl"])
            try:
                for domain in ("Runtime", "Log", "Network", "Page"):
                    tools.call(f"{domain}.enable")
                tools.call("Page.navigate", url=url)
                tools.wait_for("Page.loadEventFired", timeout)
                time.sleep(1.0)  # plotly draws on the next animation frames after load
                charts = tools.call(
                    "Runtime.evaluate", expression=CHART_STATE_JS, returnByValue=True
                )
                result.charts = {c["id"]: bool(c["rendered"]) for c in charts["result"]["value"]}
                result.overflowing = [c["id"] for c in charts["result"]["value"] if c["overflows"]]
                images = tools.call("Runtime.evaluate", expression=IMAGES_JS, returnByValue=True)
                result.images = {
                    i["id"] or f"image {n}": bool(i["loaded"])
                    for n, i in enumerate(images["result"]["value"])
                }
                if screenshot is not None:
                    metrics = tools.call("Page.getLayoutMetrics")
                    height = int(metrics["cssContentSize"]["height"])
                    tools.call(
                        "Emulation.setDeviceMetricsOverride",
                        width=width, height=height, deviceScaleFactor=1, mobile=False,
                    )  # fmt: skip
                    time.sleep(0.5)
                    shot = tools.call(
                        "Page.captureScreenshot", format="png", captureBeyondViewport=True
                    )
                    screenshot.parent.mkdir(parents=True, exist_ok=True)
                    screenshot.write_bytes(base64.b64decode(shot["data"]))
                    result.screenshot = screenshot
                result.console_errors = _console_errors(tools.events)
                result.network_requests = _network_requests(tools.events)
            finally:
                tools.close()
        finally:
            _stop_group(process)
    return result


def _stop_group(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM to the browser's process group, SIGKILL to what is left after `grace`."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)  # anyone left in the group?
        except ProcessLookupError:
            break
        process.poll()  # reap the browser itself so its pid leaves the group
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()
