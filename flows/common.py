"""What every flow shares: the runtime (settings + running services) and the retry policy."""

from __future__ import annotations

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from ecom.config import Settings, get_settings
from ecom.db import is_transient
from ecom.services import Endpoints, ensure_services


def retry_on_transient_database_error(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry only what a retry can fix: a dropped connection or a lost lock, not bad data."""
    try:
        state.result()
    except Exception as error:
        return is_transient(error)
    return False


# Stage tasks write to the database, so their results must never be served from a cache.
database_task = task(
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_on_transient_database_error,
    cache_policy=NO_CACHE,
)


@task(name="start-services", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def start_services() -> tuple[Settings, Endpoints]:
    """Embedded servers start here when no URLs are configured; configured ones are only named."""
    settings = get_settings()
    endpoints = ensure_services(settings)
    endpoints.export(settings)
    return settings, endpoints
