"""`ecom train` and `ecom score`: the churn model and the scores it gives every active user."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from ecom.cli.common import console, fail, runtime


def train(
    truth: Annotated[
        Path | None, typer.Option(help="Generated data folder whose _truth/ gives the oracle AUC.")
    ] = None,
) -> None:
    """Train the baseline and XGBoost candidates on a Feast training set; log to MLflow; move `champion` if better."""
    from ecom.churn.training import train_churn_models

    settings, endpoints = runtime()
    result = train_churn_models(settings, endpoints, truth_dir=truth)
    console.print(result.as_rich_table())


def score(
    scoring_date: Annotated[
        datetime | None,
        typer.Option(
            "--date",
            formats=["%Y-%m-%d"],
            help="Scoring date; only the snapshot's own as-of date is accepted (the default).",
        ),
    ] = None,
) -> None:
    """Score every active user with the champion; write churn_scores and retention_targets."""
    from ecom.churn.scoring import NoChampionModel, ScoringDateMismatch, score_users

    settings, endpoints = runtime()
    try:
        summary = score_users(
            settings, endpoints, scoring_date=scoring_date.date() if scoring_date else None
        )
    except (ScoringDateMismatch, NoChampionModel) as error:
        raise fail(str(error)) from error
    console.print(summary.as_rich_table())
