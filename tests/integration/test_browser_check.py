"""The page check sees what a reader's browser would: errors, requests off the machine, charts
that did not draw and images that did not load (system Chromium through Playwright)."""

from __future__ import annotations

from pathlib import Path

from ecom.reports.browser import check_page

BROKEN_PAGE = """<!doctype html><html><body>
<div id="chart-empty" class="plotly-graph-div"></div>
<img id="logo" src="http://127.0.0.1:9/logo.png">
<script>console.error("boom"); undefinedFunction();</script>
</body></html>"""


def test_a_broken_page_names_each_problem(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(BROKEN_PAGE)
    check = check_page(page, tmp_path / "shot.png", timeout=60)
    problems = "\n".join(check.problems)
    assert "console error: boom" in problems
    assert "undefinedFunction" in problems
    assert "network request from an offline page: http://127.0.0.1:9/logo.png" in problems
    assert "chart did not render: chart-empty" in problems
    assert "image did not load: logo" in problems
    assert check.screenshot is not None and check.screenshot.stat().st_size > 0


def test_a_clean_page_has_no_problems(tmp_path: Path) -> None:
    page = tmp_path / "clean.html"
    page.write_text("<!doctype html><html><body><p>fine</p></body></html>")
    assert check_page(page, timeout=60).problems == []
