"""`ecom serve`: the BentoML churn service in `services/churn_api/`, in the foreground.

The command becomes `bentoml serve` (`os.execv`) rather than starting it as a child: a child
outlives a SIGTERM to its parent and keeps the port, so `kill <pid>` from a shell or a
supervisor would leave the server running. After the exec, the PID the caller holds is the
server's own, and SIGTERM or Ctrl-C stop it and its workers.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from ecom.cli.common import console, fail, runtime
from ecom.config import project_root

SERVICE_DIR = project_root() / "services" / "churn_api"
SAMPLE_USERS = 3


def scored_users(database_url: str, count: int = SAMPLE_USERS) -> list[int]:
    """A few users of the latest batch scores: ids a first `curl /predict` can ask about (the
    generated worlds' active ids start far from 1, so a guessed id is usually a 404)."""
    import psycopg2

    from ecom.db import fetch_all

    try:
        rows = fetch_all(
            database_url,
            "select user_id from analytics.churn_scores"
            " where scoring_date = (select max(scoring_date) from analytics.churn_scores)"
            " order by user_id limit %s",
            (count,),
        )
    except psycopg2.errors.UndefinedTable:
        return []
    return [int(user_id) for (user_id,) in rows]


def serve(
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Serve churn predictions over HTTP from Redis features and the MLflow champion."""
    from ecom.stack import port_in_use

    # Before anything slow: loading the model takes a minute on a busy machine, and BentoML
    # would only then fail on the port with a long traceback.
    if port_in_use(host, port):
        raise fail(f"port {port} on {host} is already in use: stop what holds it or pass --port")
    _, endpoints = runtime()  # start (or find) the services and export their URLs for the server
    users = scored_users(endpoints.database_url)
    if users:
        console.print(
            f"scored users to try: {', '.join(map(str, users))}"
            f" (curl -s -X POST {host}:{port}/predict -H 'content-type: application/json' -d '{{\"user_id\": {users[0]}}}')",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
    else:
        console.print("no batch scores yet (`ecom score`): /predict answers 404 for every user")
    command = [
        sys.executable, "-m", "bentoml", "serve", "service:ChurnService",
        "--working-dir", str(SERVICE_DIR), "--host", host, "--port", str(port),
    ]  # fmt: skip
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)
