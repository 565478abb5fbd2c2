"""`ecom features`: register the Feast repo and fill the Redis online store."""

from __future__ import annotations

from ecom.cli.common import command_group, console, failing_on, runtime

app = command_group("Feast feature store: register definitions and fill the online store.")


@app.command("apply")
def features_apply() -> None:
    """Register entities, feature views and the churn_v1 feature service (like `feast apply`)."""
    from ecom.features.store import apply_feature_repo

    settings, endpoints = runtime()
    applied = apply_feature_repo(settings, endpoints)
    console.print(f"applied: {', '.join(applied)}")


@app.command("materialize")
def features_materialize() -> None:
    """Make Redis hold exactly the scoring snapshot (mart_churn_scoring); drop users who left it.

    With ECOM_ENGINE=spark the snapshot is read from the Spark marts."""
    from ecom.features.errors import OlderSnapshot
    from ecom.stages import features_stage

    settings, endpoints = runtime()
    with failing_on(OlderSnapshot):
        summary = features_stage(settings, endpoints)
    console.print(summary)
