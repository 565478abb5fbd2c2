"""The load report's arithmetic and rendering."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from ecom.ingest.report import LoadReport, TableLoad


def _report() -> LoadReport:
    return LoadReport(
        tables=(
            TableLoad("users", Path("d/users.csv"), 100, 0, 0.5, 4096),
            TableLoad("events", Path("d/events.csv"), 2_000, 3, 2.0, 65536),
            TableLoad("experiment_assignments", None, 0, 0, 0.1, 0),
        ),
        seconds=4.2,
        swap_seconds=0.3,
        views_recreated=2,
    )


def test_totals_and_rates():
    report = _report()
    assert report.total_rows == 2_100
    assert report.duplicates_dropped == 3
    assert report.rows_per_second == pytest.approx(500.0)
    assert report.table("events").rows_per_second == pytest.approx(1_000.0)
    assert report.rows_by_table() == {"users": 100, "events": 2_000, "experiment_assignments": 0}
    with pytest.raises(KeyError, match="orders"):
        report.table("orders")
    assert report.summary_line() == (
        "2,100 rows into 3 raw tables in 4.2 s (500 rows/s, 3 exact duplicates dropped)"
    )


def test_rich_table_shows_every_table_and_the_total():
    console = Console(width=160, record=True)
    console.print(_report().as_rich_table())
    text = console.export_text()
    for expected in ("users", "events", "2,000", "no CSV: empty", "total", "2,100", "2 dependent"):
        assert expected in text
