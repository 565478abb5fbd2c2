"""`ecom pipeline`: every stage in order, as the Prefect flow the nightly deployment runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecom.cli.common import console, runtime
from ecom.cli.data import DEFAULT_DATA_DIR


def pipeline(
    data: Annotated[
        Path, typer.Option(help="Folder holding (or receiving) the TheLook CSVs.")
    ] = DEFAULT_DATA_DIR,
    users: Annotated[
        int, typer.Option(help="Users to generate when the folder holds no CSVs.")
    ] = 100_000,
    seed: Annotated[int, typer.Option(help="Seed used when generating.")] = 42,
) -> None:
    """Run the whole Prefect pipeline: load, transform, quality gate, features, train, score, monitor."""
    from ecom.stages import render_pipeline_summary
    from flows.pipeline import churn_pipeline

    runtime()
    summary = churn_pipeline(data_dir=str(data), users=users, seed=seed)
    render_pipeline_summary(summary, console)
