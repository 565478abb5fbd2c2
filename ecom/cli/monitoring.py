"""`ecom drift`, `ecom monitor` and `ecom model-card`: is the input changing, is the champion
still right, and what the champion is."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecom.cli.common import console, fail, failing_on, runtime


def drift(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for drift_report.html and drift_summary.json (ECOM_REPORTS_DIR)."
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Alarm above this share of drifted features (default: calibrated on the "
            "data's history; ECOM_DRIFT_SHARE_THRESHOLD fixes it too)."
        ),
    ] = None,
) -> None:
    """Compare today's scoring snapshot with the champion's latest cutoffs (Evidently); exit 1
    when the share of drifted features passes the threshold, calibrated on the data's own
    snapshot-to-snapshot history unless --threshold gives it."""
    from rich.table import Table

    from ecom.churn.scoring import NoChampionModel
    from ecom.monitoring.drift import run_drift_check

    settings, endpoints = runtime()
    with failing_on(NoChampionModel):  # says why: never trained, or the gate refused the load
        summary = run_drift_check(settings, endpoints, out_dir=out, threshold=threshold)
    table = Table(title=f"drift vs champion v{summary.model_version}'s latest cutoffs")
    for column in ("column", "method", "score", "threshold", "drifted"):
        table.add_column(column)
    for column in [*summary.features, *([summary.prediction] if summary.prediction else [])]:
        table.add_row(
            column.column,
            column.method,
            f"{column.score:.3f}",
            f"{column.threshold:.3f}",
            "[red]yes[/]" if column.drifted else "no",
        )
    console.print(table)
    if summary.calibration is not None:
        console.print(f"alarm threshold: {summary.calibration.describe()}")
    console.print(f"report: {summary.html}")
    if summary.alarm:
        raise fail(summary.summary_line())
    console.print(summary.summary_line())


def monitor() -> None:
    """Fill analytics.model_performance: realised AUC, Brier and precision@k per matured cutoff."""
    from ecom.churn.scoring import NoChampionModel
    from ecom.monitoring.performance import update_model_performance

    settings, endpoints = runtime()
    with failing_on(NoChampionModel):
        summary = update_model_performance(settings, endpoints)
    console.print(summary.as_rich_table())
    console.print(summary.summary_line())


def model_card(
    out: Annotated[
        Path | None, typer.Option(help="Where to write the card (default: ECOM_MODEL_CARD).")
    ] = None,
) -> None:
    """Write the model card (ECOM_MODEL_CARD, default reports/model_card.md) from the champion's
    MLflow run and its performance rows; `make docs` writes the committed docs/model_card.md."""
    from ecom.monitoring.model_card import write_model_card

    settings, endpoints = runtime()
    console.print(f"wrote {write_model_card(settings, endpoints, path=out)}")
