"""`ecom generate` and `ecom load`: TheLook data, generated or real, into the `raw` schema."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import psycopg2
import typer
from rich.table import Table

from ecom.cli.common import console, fail, failing_on, runtime
from ecom.config import get_settings

if TYPE_CHECKING:
    from ecom.synth.generate import GenerationSummary

# Help text for every --data/--out: the default itself is Settings.data_dir, read at run time.
DATA_DIR_HELP = "(default: $ECOM_DATA_DIR, else data/thelook in the project)"

# The folder `load` and `pipeline` read, and generate into when it holds no CSVs (or with
# --generate), with what generating needs: shared by both commands.
DataToLoad = Annotated[
    Path | None,
    typer.Option(
        help=f"Folder holding (or receiving) the TheLook CSVs {DATA_DIR_HELP}.", show_default=False
    ),
]
UsersToGenerate = Annotated[
    int, typer.Option(help="Users to generate when the folder holds no CSVs.")
]
SeedToGenerate = Annotated[int, typer.Option(help="Seed used when generating.")]


# The options of `ecom generate` that say what world to plant, as types of their own so the
# command's signature reads as a list of names.
DriftWeeks = Annotated[
    int,
    typer.Option(
        min=0,
        help="Plant drift in the last N weeks (shifted traffic sources, fewer purchases).",
    ),
]
Profile = Annotated[
    str,
    typer.Option(
        help="default: the demo world, with a planted churn process, an A/B test and "
        "_truth/. thelook: the process of TheLook's own generator (fake.py): anonymous "
        "browsing, purchase-only registered sessions, orders uniform after sign-up, rows "
        "up to 8 days past its clock (the day before --end-date); no truth, no experiment.",
    ),
]
CsvFormat = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="export: BigQuery's export (zoned timestamps, geometry, empty NULLs). thelook: "
        'as TheLook\'s generator writes (QUOTE_NONNUMERIC, NULL as "", product numbers '
        "as text, naive timestamps, CRLF, no geometry). Default: thelook with --profile "
        "thelook, else export.",
        show_default=False,
    ),
]
PlantCampaign = Annotated[
    bool,
    typer.Option(
        "--campaign",
        help="Plant a randomized retention campaign (campaign_contacts.csv and its truth); "
        "off by default, since the churn truth does not model the campaign's effect.",
    ),
]
CampaignEffect = Annotated[
    float | None,
    typer.Option(
        min=0.0,
        max=1.5,
        help="Scale of the planted campaign's effect (0: contacts change nothing); "
        "implies --campaign. Default with --campaign: 1.0.",
        show_default=False,
    ),
]


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
    drift_weeks: DriftWeeks = 0,
    profile: Profile = "default",
    csv_format: CsvFormat = None,
    campaign: PlantCampaign = False,
    campaign_effect: CampaignEffect = None,
) -> None:
    """Write the seven TheLook tables as CSV; the default profile adds A/B assignments and _truth/."""
    from ecom.synth import generate_dataset
    from ecom.synth.campaign import CampaignPlan
    from ecom.synth.drift import DriftPlan

    planted = campaign or campaign_effect is not None
    effect = 1.0 if campaign_effect is None else campaign_effect
    with failing_on(ValueError):
        summary = generate_dataset(
            users,
            seed,
            get_settings().data_folder(out),
            end_date.date() if end_date else None,
            progress=True,
            drift=DriftPlan(weeks=drift_weeks) if drift_weeks else None,
            profile=profile,
            campaign=CampaignPlan(effect_scale=effect) if planted else None,
            csv_format=csv_format,
        )
    _print_generated(summary)


def _print_generated(summary: GenerationSummary) -> None:
    """Rows per table, then how long it took and the clock the data runs to."""
    table = Table(title=f"generated into {summary.out_dir}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in summary.rows.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    if summary.profile == "thelook":
        console.print(
            f"{summary.seconds:.1f} s, the generator's clock on the day before "
            f"{summary.end_date}; as TheLook's generator, rows run up to 11 days past it"
        )
    else:
        console.print(f"{summary.seconds:.1f} s, data up to {summary.end_date}")


def load(
    data: DataToLoad = None,
    users: UsersToGenerate = 100_000,
    seed: SeedToGenerate = 42,
    generate: Annotated[
        bool,
        typer.Option(
            "--generate",
            help="Generate a dataset into the folder first (otherwise only into the default "
            "folder, or an empty one, when it holds no CSVs).",
        ),
    ] = False,
) -> None:
    """Load the CSVs into the `raw` schema atomically with COPY.

    A folder that does not exist is an error; data is generated first only with --generate, or
    into the default folder (or an existing empty one) holding no CSVs."""
    from ecom.ingest.files import LoadError
    from ecom.stages import Generation, load_stage

    settings, endpoints = runtime()
    try:
        report = load_stage(
            settings,
            endpoints,
            settings.data_folder(data),
            Generation(users, seed, generate=generate),
            announce=console.print,
        )
    # Bad input or a refused swap (e.g. a foreign key from outside `raw`): either way nothing
    # was committed, and the user needs to hear that as much as what went wrong.
    except (LoadError, psycopg2.Error) as error:
        raise fail(
            f"{str(error).strip()}\nthe load was rolled back and raw is unchanged"
        ) from error
    console.print(report.as_rich_table())
