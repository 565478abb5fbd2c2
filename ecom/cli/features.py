"""`ecom features`: register the Feast repo and fill the Redis online store."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from ecom.cli.common import command_group, console, runtime

app = command_group("Feast feature store: register definitions and fill the online store.")


@app.command("apply")
def features_apply() -> None:
    """Register entities, feature views and the churn_v1 feature service (like `feast apply`)."""
    from ecom.features.store import apply_feature_repo

    settings, endpoints = runtime()
    applied = apply_feature_repo(settings, endpoints)
    console.print(f"applied: {', '.join(applied)}")


@app.command("materialize")
def features_materialize(
    end: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"], help="Materialize up to (default: now)."
        ),
    ] = None,
) -> None:
    """Copy the latest feature values per user into the Redis online store."""
    from ecom.features.store import materialize_features

    settings, endpoints = runtime()
    summary = materialize_features(settings, endpoints, end=end)
    console.print(summary)
