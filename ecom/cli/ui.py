"""`ecom ui up|down`: the Prefect UI with every deployment and a worker, the MLflow UI and the
churn service, started together (what `make ui` runs)."""

from __future__ import annotations

import signal
import time
from typing import Annotated

import typer

from ecom.cli.common import command_group, console, fail, runtime
from ecom.config import get_settings

app = command_group(
    "The local UIs: Prefect (with deployments and a worker), MLflow, the churn API."
)


@app.command("up")
def ui_up(
    prefect_port: Annotated[int, typer.Option(help="Prefect server and UI port.")] = 4200,
    mlflow_port: Annotated[int, typer.Option(help="MLflow UI port.")] = 5000,
    api_port: Annotated[int, typer.Option(help="Churn service port.")] = 8000,
    api: Annotated[
        bool, typer.Option(help="Also serve the churn API (needs a champion: run `make demo`).")
    ] = True,
    detach: Annotated[
        bool, typer.Option(help="Return once everything answers; stop with `ecom ui down`.")
    ] = False,
) -> None:
    """Start the stack, deploy prefect.yaml, print the URLs; Ctrl-C (or `ecom ui down`) stops it."""
    from ecom.alerts import AlertConfigError
    from ecom.stack import Ports, describe, start_stack, stop_stack

    settings, endpoints = runtime()
    try:
        status = start_stack(
            settings,
            endpoints,
            Ports(prefect=prefect_port, mlflow=mlflow_port, churn_api=api_port),
            announce=lambda line: console.print(line, style="dim"),
            with_api=api,
        )
    except (RuntimeError, OSError, AlertConfigError) as error:
        stop_stack(settings)
        raise fail(str(error)) from error
    for line in describe(status, settings):
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    if "prefect" not in status.started:
        stop_stack(settings)
        raise fail("the Prefect server did not start; nothing is left running")
    if detach:
        return
    console.print("Ctrl-C stops everything above.")
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print(f"stopped: {', '.join(stop_stack(settings)) or 'nothing'}")


@app.command("down")
def ui_down() -> None:
    """Stop what `ecom ui up` started (and nothing else)."""
    from ecom.stack import stop_stack

    stopped = stop_stack(get_settings())
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command("serve")
def ui_serve(
    name: Annotated[
        str, typer.Argument(help="prefect, worker, mlflow or churn-api", show_default=False)
    ],
    prefect_port: Annotated[int, typer.Option(help="Prefect server and UI port.")] = 4200,
    mlflow_port: Annotated[int, typer.Option(help="MLflow UI port.")] = 5000,
    api_port: Annotated[int, typer.Option(help="Churn service port.")] = 8000,
) -> None:
    """Run one UI in the foreground, exactly as `ecom ui up` starts it (`make mlflow-ui`,
    `make prefect-server`); Ctrl-C stops it."""
    from ecom.stack import Ports, run_one

    settings, endpoints = runtime()
    ports = Ports(prefect=prefect_port, mlflow=mlflow_port, churn_api=api_port)
    try:
        code = run_one(settings, endpoints, name, ports)
    except ValueError as error:
        raise fail(str(error)) from error
    raise typer.Exit(code)


@app.command("alerts")
def ui_alerts(
    api_url: Annotated[
        str | None,
        typer.Option(help="Prefect API, e.g. http://127.0.0.1:4200/api (else PREFECT_API_URL)."),
    ] = None,
) -> None:
    """Save the webhook block and the automations in automations.yaml on a running server
    (what `ecom ui up` does), when ECOM_ALERT_WEBHOOK_URL is set; idempotent."""
    from prefect.settings import PREFECT_API_URL

    from ecom.alerts import AlertConfigError, configure_alerts, describe_alerts

    url = get_settings().alert_webhook_url
    if not url:
        console.print(f"alerts     {describe_alerts(None, url)}", soft_wrap=True, markup=False)
        return
    target = api_url or PREFECT_API_URL.value()
    if not target:
        raise fail("no Prefect server: pass --api-url or set PREFECT_API_URL")
    try:
        setup = configure_alerts(target, url)
    except AlertConfigError as error:
        raise fail(str(error)) from error
    console.print(f"alerts     {describe_alerts(setup, url)}", soft_wrap=True, markup=False)
