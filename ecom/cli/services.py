"""`ecom services`: the embedded PostgreSQL and Redis, or the configured servers."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer
from rich.table import Table

from ecom.cli.common import console, runtime
from ecom.config import Settings, get_settings, redact_url
from ecom.services import ensure_services, services_status, stop_services

app = typer.Typer(
    help="Start, stop and inspect the embedded PostgreSQL and Redis.", no_args_is_help=True
)


@app.command("up")
def services_up() -> None:
    """Start the embedded PostgreSQL and Redis (or check the configured ones) and print their URLs."""
    settings, endpoints = runtime()
    print_status(settings)
    if endpoints.embedded:
        console.print(
            '\nTo use dbt, Feast or psql from this shell:  [bold]eval "$(ecom services env)"[/]'
        )


@app.command("status")
def services_status_command() -> None:
    """Show whether each service is running and where."""
    print_status(get_settings())


@app.command("down")
def services_down(
    purge: Annotated[bool, typer.Option(help="Also delete the embedded servers' data.")] = False,
) -> None:
    """Stop the embedded servers (configured servers are never touched)."""
    stopped = stop_services(get_settings(), purge=purge)
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command("env")
def services_env() -> None:
    """Print `export` lines for dbt's profile, Feast's YAML and MLflow: eval "$(ecom services env)"."""
    settings = get_settings()
    endpoints = ensure_services(settings)
    for key, value in endpoints.env(settings).items():
        typer.echo(f"export {key}={shlex.quote(value)}")


def print_status(settings: Settings) -> None:
    table = Table(title="services")
    for column in ("service", "running", "url", "detail"):
        table.add_column(column)
    for status in services_status(settings):
        table.add_row(
            status.name,
            "yes" if status.running else "no",
            redact_url(status.url) if status.url else "-",
            status.detail,
        )
    table.add_row("mlflow", "-", redact_url(settings.tracking_uri), "tracking store")
    console.print(table)
