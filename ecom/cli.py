"""The `ecom` command: a thin layer over the stage functions in this package.

Heavy libraries (dbt, Feast, MLflow, XGBoost) are imported inside each command so that
`ecom --help` and `ecom services status` answer instantly.
"""

from __future__ import annotations

import logging
import shlex
from datetime import datetime
from pathlib import Path
from typing import Annotated

import psycopg2
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from ecom.config import Settings, get_settings
from ecom.services import Endpoints, ensure_services, services_status, stop_services

console = Console()
app = typer.Typer(
    help="Local-first e-commerce analytics and churn MLOps platform on the TheLook schema.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
services_app = typer.Typer(
    help="Start, stop and inspect the embedded PostgreSQL and Redis.", no_args_is_help=True
)
features_app = typer.Typer(
    help="Feast feature store: register definitions and fill the online store.",
    no_args_is_help=True,
)
app.add_typer(services_app, name="services")
app.add_typer(features_app, name="features")

DEFAULT_DATA_DIR = Path("data/thelook")


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=True)],
        force=True,
    )
    for noisy in (
        "urllib3", "httpx", "alembic", "numba", "matplotlib", "fontTools", "pgserver",
        "great_expectations", "feast", "mlflow", "prefect._internal", "shap",
    ):  # fmt: skip
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _runtime() -> tuple[Settings, Endpoints]:
    """Settings plus running services; exports the connection variables dbt and Feast read."""
    settings = get_settings()
    endpoints = ensure_services(settings)
    endpoints.export(settings)
    return settings, endpoints


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=1)


# --------------------------------------------------------------------------- services


@services_app.command("up")
def services_up() -> None:
    """Start the embedded PostgreSQL and Redis (or check the configured ones) and print their URLs."""
    settings, endpoints = _runtime()
    _print_status(settings)
    if endpoints.embedded:
        console.print(
            '\nTo use dbt, Feast or psql from this shell:  [bold]eval "$(ecom services env)"[/]'
        )


@services_app.command("status")
def services_status_command() -> None:
    """Show whether each service is running and where."""
    _print_status(get_settings())


@services_app.command("down")
def services_down(
    purge: Annotated[bool, typer.Option(help="Also delete the embedded servers' data.")] = False,
) -> None:
    """Stop the embedded servers (configured servers are never touched)."""
    stopped = stop_services(get_settings(), purge=purge)
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@services_app.command("env")
def services_env() -> None:
    """Print `export` lines for dbt's profile, Feast's YAML and MLflow: eval "$(ecom services env)"."""
    settings = get_settings()
    endpoints = ensure_services(settings)
    for key, value in endpoints.env(settings).items():
        typer.echo(f"export {key}={shlex.quote(value)}")


def _print_status(settings: Settings) -> None:
    table = Table(title="services")
    for column in ("service", "running", "url", "detail"):
        table.add_column(column)
    for status in services_status(settings):
        table.add_row(
            status.name, "yes" if status.running else "no", status.url or "-", status.detail
        )
    table.add_row("mlflow", "-", settings.tracking_uri, "tracking store")
    console.print(table)


# --------------------------------------------------------------------------- data


@app.command()
def generate(
    users: Annotated[int, typer.Option(min=10, help="Number of users to generate.")] = 100_000,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives the same files.")
    ] = 42,
    out: Annotated[Path, typer.Option(help="Folder for the CSVs.")] = DEFAULT_DATA_DIR,
    end_date: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Last day of data (default: today, UTC)."),
    ] = None,
) -> None:
    """Write the seven TheLook tables as CSV, plus A/B assignments and the planted truth in _truth/."""
    from ecom.synth import generate_dataset

    summary = generate_dataset(
        users, seed, out, end_date.date() if end_date else None, progress=True
    )
    _print_generation(summary)


def _print_generation(summary) -> None:
    table = Table(title=f"generated into {summary.out_dir}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in summary.rows.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    console.print(f"{summary.seconds:.1f} s, data up to {summary.end_date}")


@app.command()
def load(
    data: Annotated[Path, typer.Option(help="Folder holding the TheLook CSVs.")] = DEFAULT_DATA_DIR,
    users: Annotated[
        int, typer.Option(help="Users to generate when the folder holds no CSVs.")
    ] = 100_000,
    seed: Annotated[int, typer.Option(help="Seed used when generating.")] = 42,
) -> None:
    """Load the CSVs into the `raw` schema atomically with COPY (generating them first if absent)."""
    from ecom.ingest import LoadError
    from ecom.stages import load_stage

    settings, endpoints = _runtime()
    try:
        report = load_stage(
            settings, endpoints, data, users=users, seed=seed, announce=console.print
        )
    except LoadError as error:
        raise _fail(str(error)) from error
    except psycopg2.Error as error:  # e.g. a foreign key from outside `raw` blocks the swap
        raise _fail(f"the load was rolled back and raw is unchanged: {error}".strip()) from error
    console.print(report.as_rich_table())


# --------------------------------------------------------------------------- warehouse


@app.command()
def transform(
    select: Annotated[
        str | None, typer.Option(help="dbt selector, e.g. 'marts' or '+mart_funnel'.")
    ] = None,
    docs: Annotated[bool, typer.Option(help="Also run `dbt docs generate`.")] = False,
) -> None:
    """Build the dbt project (staging views, intermediate models, marts) and run its tests."""
    from ecom.transform import build_warehouse, generate_docs

    settings, endpoints = _runtime()
    try:
        summary = build_warehouse(settings, endpoints, select=select)
    except RuntimeError as error:
        raise _fail(str(error)) from error
    console.print(summary.as_rich_table())
    if docs:
        console.print(f"dbt docs: {generate_docs(settings, endpoints)}")


@app.command()
def quality(
    raw_only: Annotated[
        bool, typer.Option(help="Check only the raw tables, not the marts.")
    ] = False,
) -> None:
    """Run the Great Expectations gate; exits non-zero when an expectation fails."""
    from ecom.quality import render_report, run_quality_gate

    settings, endpoints = _runtime()
    report = run_quality_gate(settings, endpoints, include_marts=not raw_only)
    render_report(report, console)
    if not report.passed:
        raise typer.Exit(code=1)


# --------------------------------------------------------------------------- features and models


@features_app.command("apply")
def features_apply() -> None:
    """Register entities, feature views and the churn_v1 feature service (like `feast apply`)."""
    from ecom.features import apply_feature_repo

    settings, endpoints = _runtime()
    applied = apply_feature_repo(settings, endpoints)
    console.print(f"applied: {', '.join(applied)}")


@features_app.command("materialize")
def features_materialize(
    end: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"], help="Materialize up to (default: now)."
        ),
    ] = None,
) -> None:
    """Copy the latest feature values per user into the Redis online store."""
    from ecom.features import materialize_features

    settings, endpoints = _runtime()
    summary = materialize_features(settings, endpoints, end=end)
    console.print(summary)


@app.command()
def train(
    truth: Annotated[
        Path | None, typer.Option(help="Generated data folder whose _truth/ gives the oracle AUC.")
    ] = None,
) -> None:
    """Train the baseline and XGBoost candidates on a Feast training set; log to MLflow; move `champion` if better."""
    from ecom.training import train_churn_models

    settings, endpoints = _runtime()
    result = train_churn_models(settings, endpoints, truth_dir=truth)
    console.print(result.as_rich_table())


@app.command()
def score(
    scoring_date: Annotated[
        datetime | None,
        typer.Option("--date", formats=["%Y-%m-%d"], help="Scoring date (default: today)."),
    ] = None,
) -> None:
    """Score every active user with the champion; write churn_scores and retention_targets."""
    from ecom.scoring import score_users

    settings, endpoints = _runtime()
    summary = score_users(
        settings, endpoints, scoring_date=scoring_date.date() if scoring_date else None
    )
    console.print(summary.as_rich_table())


# --------------------------------------------------------------------------- orchestration


@app.command()
def pipeline(
    data: Annotated[
        Path, typer.Option(help="Folder holding (or receiving) the TheLook CSVs.")
    ] = DEFAULT_DATA_DIR,
    users: Annotated[
        int, typer.Option(help="Users to generate when the folder holds no CSVs.")
    ] = 100_000,
    seed: Annotated[int, typer.Option(help="Seed used when generating.")] = 42,
) -> None:
    """Run the whole Prefect pipeline: load, transform, quality gate, features, train, score."""
    from flows.pipeline import churn_pipeline

    _runtime()
    summary = churn_pipeline(data_dir=str(data), users=users, seed=seed)
    from ecom.stages import render_pipeline_summary

    render_pipeline_summary(summary, console)


if __name__ == "__main__":
    app()
