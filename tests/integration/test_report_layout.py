"""The report lays out in a plain browser at any width from 1000 px: no chart is wider than its
card before anything resizes it (what `chromium --headless --screenshot` captures). With the
old `auto-fit` grid the first chart of each section was drawn across the whole row and then
clipped to half of it."""

from __future__ import annotations

from datetime import UTC, datetime

import plotly.graph_objects as go
import pytest

from ecom.reports.browser import check_page
from ecom.reports.page import _Page, render_page

pytestmark = pytest.mark.integration


def _section(page: _Page, slug: str, charts: int) -> str:
    cards = "".join(
        page.chart(
            go.Figure(go.Bar(x=[f"band {i}" for i in range(10)], y=list(range(10)))),
            f"{slug}_{index}",
            None,
        )
        for index in range(charts)
    )
    return f'<section id="{slug}"><h2>{slug}</h2><div class="grid">{cards}</div></section>'


@pytest.mark.parametrize("width", [1000, 1400, 1920])
def test_no_chart_is_wider_than_its_card(tmp_path, width):
    page = _Page(tmp_path / "img")
    sections = [_section(page, "funnel", 3), _section(page, "churn_risk", 4)]
    path = tmp_path / "index.html"
    path.write_text(render_page(sections, datetime.now(UTC), "2026-12-01 00:00 UTC"))
    check = check_page(path, width=width)
    assert set(check.charts) == set(page.chart_ids) and all(check.charts.values())
    assert check.problems == []
