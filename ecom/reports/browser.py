"""Open a page in headless Chromium and check what a reader would see.

Driven by Playwright, so the check sees what `--dump-dom` cannot: every console error and
uncaught exception, every request that tried to leave the machine (the report must open
offline), and whether each plotly chart actually drew its SVG. It also saves a full-page
screenshot. Playwright's wheel ships its driver but no browser: it launches the system's
Chromium (Debian's `chromium`) by path, so nothing is downloaded; the background-networking
flags keep that browser from calling home on a closed network.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)
# Where a page may load from without leaving the machine.
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")

# Runs in the page after load: for each chart div, did plotly draw into it?
CHART_STATE_JS = """
() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(div => ({
    id: div.id,
    rendered: div.classList.contains('js-plotly-plot')
        && div.querySelectorAll('svg.main-svg').length > 0
        && (div.querySelectorAll('.trace, .hm image, .table').length > 0),
    // Wider than its card: clipped in a plain screenshot (no resize after the layout settles).
    overflows: Array.from(div.querySelectorAll('svg.main-svg')).some(svg =>
        svg.getBoundingClientRect().right > div.closest('.chart, body').getBoundingClientRect().right + 1),
}))
"""
IMAGES_JS = """
() => Array.from(document.images).map(img => ({id: img.id, loaded: img.complete && img.naturalWidth > 0}))
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


def check_page(
    page: Path, screenshot: Path | None = None, *, width: int = 1400, timeout: float = 90
) -> PageCheck:
    """Load `page` (a local file) headless, let its scripts run, and report what went wrong."""
    from playwright.sync_api import sync_playwright

    result = PageCheck(Path(page).resolve().as_uri())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=find_chromium(),
            headless=True,
            chromium_sandbox=False,
            args=list(FLAGS),
            timeout=timeout * 1000,
        )
        try:
            tab = browser.new_page(viewport={"width": width, "height": 900})
            tab.on("console", lambda message: _record_console(result, message))
            tab.on("pageerror", lambda error: result.console_errors.append(str(error)))
            tab.on("request", lambda request: _record_request(result, request.url))
            tab.goto(result.url, wait_until="load", timeout=timeout * 1000)
            tab.wait_for_timeout(1000)  # plotly draws on the next animation frames after load
            charts = tab.evaluate(CHART_STATE_JS)
            result.charts = {c["id"]: bool(c["rendered"]) for c in charts}
            result.overflowing = [c["id"] for c in charts if c["overflows"]]
            result.images = {
                image["id"] or f"image {n}": bool(image["loaded"])
                for n, image in enumerate(tab.evaluate(IMAGES_JS))
            }
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                tab.screenshot(path=screenshot, full_page=True)
                result.screenshot = screenshot
        finally:
            browser.close()
    return result


def _record_console(result: PageCheck, message) -> None:
    if message.type in ("error", "assert"):
        where = message.location.get("url", "")
        result.console_errors.append(f"{message.text} ({where})" if where else message.text)


def _record_request(result: PageCheck, url: str) -> None:
    if not url.startswith(LOCAL_SCHEMES):
        result.network_requests.append(url)
