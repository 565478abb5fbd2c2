"""`ecom transform` and `ecom quality`: the dbt warehouse and the gate on it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from ecom.cli.common import console, failing_on, runtime


def transform(
    select: Annotated[
        str | None, typer.Option(help="dbt selector, e.g. 'marts' or '+mart_funnel'.")
    ] = None,
    docs: Annotated[bool, typer.Option(help="Also run `dbt docs generate`.")] = False,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%d"],
            help="The data clock's scoring date: rows on or after it are after the clock "
            "(default: $ECOM_DATA_AS_OF, else the day after the last order or session).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Build the dbt project (staging views, intermediate models, marts) and run its tests
    (on Spark with ECOM_ENGINE=spark)."""
    from ecom.stages import transform_stage
    from ecom.transform import generate_docs

    settings, endpoints = runtime()
    if as_of is not None:
        settings = settings.with_overrides(data_as_of=as_of.date())
    with failing_on(RuntimeError):
        summary = transform_stage(settings, endpoints, select=select)
    console.print(summary.as_rich_table())
    if docs:
        console.print(f"dbt docs: {generate_docs(settings, endpoints)}")


def quality(
    raw_only: Annotated[
        bool, typer.Option(help="Check only the raw tables, not the marts.")
    ] = False,
) -> None:
    """Run the Great Expectations gate; exits non-zero when an expectation fails."""
    from ecom.quality.gate import render_report, run_quality_gate

    settings, endpoints = runtime()
    report = run_quality_gate(settings, endpoints, include_marts=not raw_only)
    render_report(report, console)
    if not report.passed:
        raise typer.Exit(code=1)
