"""`ecom ui up|down`: the Prefect UI with every deployment and a worker, the MLflow UI and the
churn service, started together (what `make ui` runs)."""

from __future__ import annotations

import signal
import time
from typing import Annotated

import typer

from ecom.cli.common import command_group, console, fail, failing_on, runtime
from ecom.config import Settings, get_settings

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
    """Start the stack, deploy prefect.yaml, print the URLs; Ctrl-C, SIGTERM or `ecom ui down`
    stops it."""
    from ecom.alerts import AlertConfigError
    from ecom.stack import Ports, busy_ports, describe, start_stack, stop_stack

    ports = Ports(prefect=prefect_port, mlflow=mlflow_port, churn_api=api_port)
    busy = busy_ports(ports, with_api=api)
    if busy:  # before anything starts: a taken port fails a server only after it loaded
        raise fail(f"already in use: {', '.join(busy)}; stop what holds it or pass another port")
    settings, endpoints = runtime()
    # The children run in their own sessions (so `down` can stop each group): a SIGTERM that
    # ended only this process would leave them running. From here on it is Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        status = start_stack(
            settings,
            endpoints,
            ports,
            announce=lambda line: console.print(line, style="dim"),
            with_api=api,
        )
    except (RuntimeError, OSError, AlertConfigError, KeyboardInterrupt) as error:
        stop_stack(settings)
        if isinstance(error, KeyboardInterrupt):
            raise typer.Exit(130) from None
        raise fail(str(error)) from error
    for line in describe(status, settings):
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    if "prefect" not in status.started:
        stop_stack(settings)
        raise fail("the Prefect server did not answer; nothing is left running")
    if detach:
        return
    console.print("Ctrl-C stops everything above.")
    try:
        _wait_while_recorded(settings)
    except KeyboardInterrupt:
        console.print(f"stopped: {', '.join(stop_stack(settings)) or 'nothing'}")
        return
    console.print("stopped by `ecom ui down`")


def _wait_while_recorded(settings: Settings, poll_seconds: float = 1.0) -> None:
    """Return once `ecom ui down` (from another terminal) has stopped the stack, so this
    process does not outlive what it started."""
    from ecom.stack import stack_home

    record = stack_home(settings) / "processes.json"
    while record.exists():
        time.sleep(poll_seconds)


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
    with failing_on(ValueError):
        run_one(settings, endpoints, name, ports)


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
    with failing_on(AlertConfigError):
        setup = configure_alerts(target, url)
    console.print(f"alerts     {describe_alerts(setup, url)}", soft_wrap=True, markup=False)
