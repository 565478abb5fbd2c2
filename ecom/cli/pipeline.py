"""`ecom pipeline`: every stage in order, as the Prefect flow the nightly deployment runs."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Annotated

import typer

from ecom.cli.churn import training_table
from ecom.cli.common import console, fail, runtime
from ecom.cli.data import DataToLoad, SeedToGenerate, UsersToGenerate
from ecom.config import Settings
from ecom.services import Endpoints


def pipeline(
    data: DataToLoad = None,
    users: UsersToGenerate = 100_000,
    seed: SeedToGenerate = 42,
    campaign: Annotated[
        bool,
        typer.Option(
            "--campaign",
            help="When the pipeline generates the data, plant a randomized retention campaign "
            "(as `ecom generate --campaign`) so the uplift stage runs; `make demo` sets it.",
        ),
    ] = False,
) -> None:
    """Run the whole Prefect pipeline: load, transform, quality gate, features, train, uplift
    (with campaign data), score and the retention list, monitor."""
    # Without PREFECT_API_URL the flow starts Prefect's ephemeral server, which on a fresh
    # PREFECT_HOME or a busy machine takes longer than Prefect's default 20 s to answer.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # Its telemetry heartbeat has nowhere to go offline and races the run for the SQLite
    # database ("database is locked" tracebacks in the middle of the demo's output).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    server = _start_temporary_prefect_server()
    from ecom.quality.report import QualityGateFailed
    from ecom.stages import StageInputMissing, render_pipeline_summary
    from flows.pipeline import churn_pipeline

    settings, endpoints = runtime()
    if server is not None:
        _generate_while_the_server_starts(settings, endpoints, data, users, seed, campaign)
        server.join()
    try:
        summary = churn_pipeline(
            data_dir=str(settings.data_folder(data)), users=users, seed=seed, campaign=campaign
        )
    except StageInputMissing as stopped:
        raise fail(str(stopped)) from stopped
    except QualityGateFailed as refused:
        raise fail(
            "the pipeline stopped at the quality gate: nothing was trained, scored or "
            f"monitored on this load.\n{refused}"
        ) from refused
    if "train" in summary.details:
        console.print(training_table(summary.details["train"]))
    render_pipeline_summary(summary, console)


def _generate_while_the_server_starts(
    settings: Settings,
    endpoints: Endpoints,
    data: Path | None,
    users: int,
    seed: int,
    campaign: bool,
) -> None:
    """A first demo generates its data before loading it; doing that here, while the temporary
    server runs its migrations (15-30 s on a fresh PREFECT_HOME), takes the generation off the
    critical path. Under the pipeline's lock, as in the flow: a pipeline already running
    finishes first, and then the folder holds its data and nothing is generated."""
    from ecom.db import session_lock
    from ecom.stages import Generation, generate_if_due
    from flows.pipeline import PIPELINE_LOCK, PIPELINE_LOCK_TIMEOUT_SECONDS

    with session_lock(
        endpoints.database_url,
        PIPELINE_LOCK,
        timeout_seconds=PIPELINE_LOCK_TIMEOUT_SECONDS,
        waiting=console.print,
    ):
        generate_if_due(
            settings,
            settings.data_folder(data),
            Generation(users, seed, campaign=campaign),
            announce=lambda notice: console.print(notice, soft_wrap=True),
        )


def _start_temporary_prefect_server() -> threading.Thread | None:
    """Start Prefect's temporary server now, in a thread, when the run will need one (no
    PREFECT_API_URL): it takes 25-35 s to answer, and it can boot while the stages import and
    the embedded databases start instead of after them. The flow's client finds it running.

    The thread only launches the server process and polls it (the import happens here, in the
    caller's thread); an error there is raised again by the flow's own start."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return None
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()

    def start() -> None:
        with contextlib.suppress(Exception):
            server.start()

    thread = threading.Thread(target=start, name="prefect-temporary-server", daemon=True)
    thread.start()
    return thread
