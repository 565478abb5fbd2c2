"""`ecom generate` and `ecom load`: TheLook data, generated or real, into the `raw` schema."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import psycopg2
import typer
from rich.table import Table

from ecom.cli.common import console, fail, runtime
from ecom.config import get_settings

# Help text for every --data/--out: the default itself is Settings.data_dir, read at run time.
DATA_DIR_HELP = "(default: $ECOM_DATA_DIR, else data/thelook in the project)"

# What generating needs when a folder holds no CSVs: shared by `load` and `pipeline`.
UsersToGenerate = Annotated[
    int, typer.Option(help="Users to generate when the folder holds no CSVs.")
]
SeedToGenerate = Annotated[int, typer.Option(help="Seed used when generating.")]


def generate(
    users: Annotated[int, typer.Option(min=10, help="Number of users to generate.")] = 100_000,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives the same files.")
    ] = 42,
    out: Annotated[
        Path | None, typer.Option(help=f"Folder for the CSVs {DATA_DIR_HELP}.", show_default=False)
    ] = None,
    end_date: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Last day of data (default: today, UTC)."),
    ] = None,
    drift_weeks: Annotated[
        int,
        typer.Option(
            min=0,
            help="Plant drift in the last N weeks (shifted traffic sources, fewer purchases).",
        ),
    ] = 0,
    campaign_effect: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.5,
            help="Scale of the planted retention campaign's effect (0: contacts change nothing).",
        ),
    ] = 1.0,
    no_campaign: Annotated[
        bool, typer.Option("--no-campaign", help="Plant no retention campaign at all.")
    ] = False,
) -> None:
    """Write the seven TheLook tables as CSV, plus A/B assignments and the planted truth in _truth/."""
    from ecom.synth import generate_dataset
    from ecom.synth.campaign import CampaignPlan
    from ecom.synth.drift import DriftPlan

    summary = generate_dataset(
        users,
        seed,
        get_settings().data_folder(out),
        end_date.date() if end_date else None,
        progress=True,
        drift=DriftPlan(weeks=drift_weeks) if drift_weeks else None,
        campaign=None if no_campaign else CampaignPlan(effect_scale=campaign_effect),
    )
    table = Table(title=f"generated into {summary.out_dir}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in summary.rows.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    console.print(f"{summary.seconds:.1f} s, data up to {summary.end_date}")


def load(
    data: Annotated[
        Path | None,
        typer.Option(help=f"Folder holding the TheLook CSVs {DATA_DIR_HELP}.", show_default=False),
    ] = None,
    users: UsersToGenerate = 100_000,
    seed: SeedToGenerate = 42,
) -> None:
    """Load the CSVs into the `raw` schema atomically with COPY (generating them first if absent)."""
    from ecom.ingest.load import LoadError
    from ecom.stages import load_stage

    settings, endpoints = runtime()
    try:
        report = load_stage(
            settings,
            endpoints,
            settings.data_folder(data),
            users=users,
            seed=seed,
            announce=console.print,
        )
    # Bad input or a refused swap (e.g. a foreign key from outside `raw`): either way nothing
    # was committed, and the user needs to hear that as much as what went wrong.
    except (LoadError, psycopg2.Error) as error:
        raise fail(
            f"{str(error).strip()}\nthe load was rolled back and raw is unchanged"
        ) from error
    console.print(report.as_rich_table())
