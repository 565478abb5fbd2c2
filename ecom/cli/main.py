"""The `ecom` command's root: logging, then each stage's commands in the order data flows."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from ecom.cli import (
    analytics,
    churn,
    dashboards,
    data,
    experiments,
    features,
    monitoring,
    pipeline,
    reports,
    services,
    serving,
    targeting,
    ui,
    warehouse,
)
from ecom.cli.common import command_group, plain_output_when_piped, quiet_libraries

app = command_group(
    "Local-first e-commerce analytics and churn MLOps platform on the TheLook schema.",
    pretty_exceptions_show_locals=False,
)
app.add_typer(services.app, name="services")
app.command()(data.generate)
app.command()(data.load)
app.command()(warehouse.transform)
app.command()(warehouse.quality)
app.add_typer(features.app, name="features")
app.command()(churn.train)
app.command()(churn.score)
app.command()(monitoring.drift)
app.command()(monitoring.monitor)
app.command(name="model-card")(monitoring.model_card)
app.command()(pipeline.pipeline)
app.command()(serving.serve)
app.add_typer(experiments.app, name="experiment")
app.add_typer(targeting.app, name="uplift")
app.command()(analytics.funnel)
app.command()(analytics.retention)
app.command()(reports.report)
app.add_typer(dashboards.app, name="dashboards")
app.add_typer(ui.app, name="ui")


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
        "urllib3",
        "httpx",
        "alembic",
        "numba",
        "matplotlib",
        "fontTools",
        "pgserver",
        "great_expectations",
        "feast",
        "mlflow",
        "prefect._internal",
        "shap",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    quiet_libraries()
    plain_output_when_piped()


if __name__ == "__main__":
    app()
