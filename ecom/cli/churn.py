"""`ecom train` and `ecom score`: the churn model and the scores it gives every active user."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ecom.cli.common import console, failing_on, runtime

if TYPE_CHECKING:
    from ecom.churn.training import TrainingResult


def train(
    truth: Annotated[
        Path | None, typer.Option(help="Generated data folder whose _truth/ gives the oracle AUC.")
    ] = None,
) -> None:
    """Train the baseline and XGBoost candidates on a Feast training set (from Spark with ECOM_ENGINE=spark); log to MLflow; move `champion` if better."""
    from ecom.stages import train_stage

    settings, endpoints = runtime()
    result = train_stage(settings, endpoints, truth_dir=truth)  # honours ECOM_ENGINE
    console.print(training_table(result))


def training_table(result: TrainingResult) -> Table:
    """Every candidate's validation and test metrics, the chosen one starred, and the gate's
    intervals (and the oracle's ceiling, when known) underneath."""
    kept = f"champion stays v{result.champion_version}"
    table = Table(
        title=f"{result.model_name} v{result.model_version} "
        f"({'now champion' if result.promoted else kept})"
    )
    for column in ("candidate", "val AUC", "test AUC", "PR-AUC", "Brier", "top-10% lift"):
        table.add_column(column, justify="left" if column == "candidate" else "right")
    for name, candidate in result.candidates.items():
        table.add_row(
            name + (" *" if name == result.selected else ""),
            f"{candidate.validation['roc_auc']:.4f}",
            f"{candidate.test['roc_auc']:.4f}",
            f"{candidate.test['pr_auc']:.4f}",
            f"{candidate.test['brier']:.4f}",
            f"{candidate.test['lift_top_decile']:.2f}",
        )
    caption = result.decision.gate_line()  # without a comparison it is the reason already
    if result.decision.comparison is not None:
        caption += f". {result.decision.reason}"
    if result.oracle_auc is not None:
        caption = (
            f"oracle AUC {result.oracle_auc:.4f}; AUC/oracle {result.oracle_ratio:.3f}, "
            f"(AUC-0.5)/(oracle-0.5) {result.oracle_lift_ratio:.3f}. {caption}"
        )
    table.caption = caption
    return table


def score(
    scoring_date: Annotated[
        datetime | None,
        typer.Option(
            "--date",
            formats=["%Y-%m-%d"],
            help="Scoring date; only the snapshot's own as-of date is accepted (the default).",
        ),
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option(min=0, help="Spend at most this many dollars on retention contacts."),
    ] = None,
    max_contacts: Annotated[
        int | None,
        typer.Option(
            min=0, help="Contact at most this many users (default ECOM_RETENTION_TARGETS)."
        ),
    ] = None,
) -> None:
    """Score every active user with the champion; write churn_scores and the one retention list
    (analytics.retention_targets: by uplift, or the labelled churn-risk fallback)."""
    from ecom.churn.scoring import NoChampionModel, ScoringDateMismatch
    from ecom.stages import score_stage

    settings, endpoints = runtime()
    with failing_on(ScoringDateMismatch, NoChampionModel):
        scored = score_stage(
            settings,
            endpoints,
            scoring_date=scoring_date.date() if scoring_date else None,
            budget=budget,
            max_contacts=max_contacts,
        )
    console.print(scored.scores.as_rich_table())
    console.print(scored.targets.as_rich_table())
    console.print(scored.targets.summary_line())
