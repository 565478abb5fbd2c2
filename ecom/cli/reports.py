"""`ecom report`: the dashboards, experiment lift and the champion's SHAP summary as one HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecom.cli.common import console, fail, runtime


def report(
    out: Annotated[Path, typer.Option(help="Folder for index.html.")] = Path("reports"),
    images: Annotated[
        Path | None,
        typer.Option(help="Folder for the PNG of each chart (default: <out>/img), e.g. docs/img."),
    ] = None,
    screenshot: Annotated[
        Path | None,
        typer.Option(
            help="Open the page in headless Chromium, fail on any console error or chart that "
            "did not render, and save a full-page screenshot here."
        ),
    ] = None,
) -> None:
    """Render the Funnel, Retention, Churn risk and Experiments dashboards to a self-contained page."""
    from ecom.reports.page import write_report

    settings, endpoints = runtime()
    summary = write_report(settings, endpoints, out, images)
    for missing in summary.missing:
        console.print(f"[yellow]not yet:[/] {missing}")
    console.print(f"report: {summary.summary_line()}")
    console.print(f"open {summary.page.resolve()}")
    if screenshot is not None:
        from ecom.reports.browser import check_page

        check = check_page(summary.page, screenshot)
        if check.problems:
            raise fail("the report does not render cleanly:\n  " + "\n  ".join(check.problems))
        console.print(
            f"checked in Chromium ({len(check.charts)} charts drew); screenshot {screenshot}"
        )
