"""The runtime bootstrap: settings, running services, and their connection exported once.

Called at the process edges only (the `ecom` command, a Prefect flow run, the churn service's
`__init__`, a benchmark script): library code gets its connections as arguments and never
writes the environment. The export is for what reads only the environment: dbt's profile,
the `feast` CLI reading `feature_store.yaml`, and child processes (BentoML's workers, a
Prefect worker's flow runs), which then find the same servers.
"""

from __future__ import annotations

import os

from ecom.config import Settings, get_settings
from ecom.services import Endpoints, ensure_services


def start_runtime() -> tuple[Settings, Endpoints]:
    """Settings from the environment, the services they name (embedded ones started on
    demand), and their connection exported into this process's environment."""
    settings = get_settings()
    endpoints = ensure_services(settings)
    export_connection(settings, endpoints)
    return settings, endpoints


def export_connection(settings: Settings, endpoints: Endpoints) -> dict[str, str]:
    """Write `endpoints`' connection variables into this process's environment; the only
    place the project writes its connection there."""
    env = endpoints.env(settings)
    os.environ.update(env)
    return env
