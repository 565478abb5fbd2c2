"""`ecom uplift train|targets`: whom a contact moves, learned from randomized campaigns."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ecom.cli.common import command_group, console, failing_on, runtime

app = command_group("Uplift: learn whom a retention contact moves, and list whom to contact.")


@app.command()
def train(
    truth: Annotated[
        Path | None,
        typer.Option(help="Generated data folder whose _truth/ gives the oracle's Qini."),
    ] = None,
) -> None:
    """Fit the uplift learners on the campaign users; log to MLflow; move `champion` if better."""
    from ecom.churn.predict import Economics
    from ecom.targeting.data import NoCampaignData
    from ecom.targeting.memo import write_memo
    from ecom.targeting.training import train_uplift

    settings, endpoints = runtime()
    with failing_on(NoCampaignData, FileNotFoundError):
        result = train_uplift(settings, endpoints, truth_dir=truth)
    table = Table(title=result.summary_line())
    for column in ("policy", "budget", "contacts", "incremental (IPW, 95% CI)", "truth"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for row in result.policies.itertuples(index=False):
        truth_value = getattr(row, "incremental_conversions_truth", None)
        table.add_row(
            row.policy,
            f"{row.budget_share:.0%}",
            f"{row.contacts:,.0f}",
            f"{row.incremental_conversions_ipw:.1f} [{row.incremental_conversions_ipw_low:.1f}, "
            f"{row.incremental_conversions_ipw_high:.1f}]",
            "" if truth_value is None else f"{truth_value:.1f}",
        )
    console.print(table)
    console.print(f"trained in {result.seconds:.1f} s on {result.rows}")
    economics = Economics(settings.customer_ltv, settings.win_back_rate, settings.contact_cost)
    console.print(f"wrote {write_memo(result, economics, settings.docs_dir)}")
    console.print("`ecom uplift targets` (or `ecom score`) rewrites the retention list with it")


@app.command()
def targets(
    budget: Annotated[
        float | None, typer.Option(min=0, help="Spend at most this many dollars on contacts.")
    ] = None,
    max_contacts: Annotated[
        int | None, typer.Option(min=0, help="Contact at most this many users.")
    ] = None,
) -> None:
    """Rewrite analytics.retention_targets (as `ecom score` does): users by estimated
    incremental value, or the labelled churn-risk fallback without campaign data."""
    from ecom.churn.scoring import NoChampionModel
    from ecom.stages import retention_targets_stage

    settings, endpoints = runtime()
    with failing_on(NoChampionModel, FileNotFoundError):
        summary = retention_targets_stage(
            settings, endpoints, budget=budget, max_contacts=max_contacts
        )
    console.print(summary.as_rich_table())
    console.print(summary.summary_line())
