"""What every command group shares: the console, the runtime and the way a command fails."""

from __future__ import annotations

import typer
from rich.console import Console

from ecom.config import Settings, get_settings
from ecom.services import Endpoints, ensure_services

console = Console()


def runtime() -> tuple[Settings, Endpoints]:
    """Settings plus running services; exports the connection variables dbt and Feast read."""
    settings = get_settings()
    endpoints = ensure_services(settings)
    endpoints.export(settings)
    return settings, endpoints


def fail(message: str) -> typer.Exit:
    """Print `message` as an error and return the exit to raise (code 1)."""
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=1)
