"""`ecom services`: the embedded PostgreSQL and Redis, or the configured servers."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer
from rich.table import Table

from ecom.cli.common import command_group, console, runtime
from ecom.config import Settings, get_settings, redact_url
from ecom.services import ensure_services, services_status, stop_services

app = command_group("Start, stop and inspect the embedded PostgreSQL and Redis.")


@app.command("up")
def services_up() -> None:
    """Start the embedded PostgreSQL and Redis (or check the configured ones) and print their URLs."""
    settings, endpoints = runtime()
    print_status(settings)
    if endpoints.embedded:
        console.print(
            "\ndbt and feast find these servers themselves; to export their connection (PG* for"
            ' psql, MLFLOW_TRACKING_URI) into this shell:  [bold]eval "$(ecom services env)"[/]'
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
    """Print `export` lines for dbt, Feast, MLflow and psql: eval "$(ecom services env)"."""
    settings = get_settings()
    endpoints = ensure_services(settings)
    for key, value in endpoints.shell_env(settings).items():
        typer.echo(f"export {key}={shlex.quote(value)}")


def print_status(settings: Settings) -> None:
    """A table of what runs, then each URL on a line of its own: a table cell would cut or
    wrap a URL at 80 columns, and these are what a user copies."""
    statuses = services_status(settings)
    table = Table(title="services")
    for column in ("service", "running", "detail"):
        table.add_column(column)
    for status in statuses:
        table.add_row(status.name, "yes" if status.running else "no", status.detail)
    table.add_row("mlflow", "-", "tracking store")
    console.print(table)
    urls = [(status.name, redact_url(status.url) if status.url else "-") for status in statuses]
    urls.append(("mlflow", redact_url(settings.tracking_uri)))
    for name, url in urls:
        console.print(f"{name:<9} {url}", soft_wrap=True, markup=False, highlight=False)
