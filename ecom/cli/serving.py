"""`ecom serve`: the BentoML churn service in `services/churn_api/`, in the foreground."""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated

import typer

from ecom.cli.common import runtime
from ecom.config import project_root

SERVICE_DIR = project_root() / "services" / "churn_api"


def serve(
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Serve churn predictions over HTTP from Redis features and the MLflow champion."""
    runtime()  # start (or find) the services and export their URLs for the server process
    command = [
        sys.executable, "-m", "bentoml", "serve", "service:ChurnService",
        "--working-dir", str(SERVICE_DIR), "--host", host, "--port", str(port),
    ]  # fmt: skip
    raise typer.Exit(subprocess.call(command))
