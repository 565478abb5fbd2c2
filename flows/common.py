"""What every flow shares: the runtime (settings + running services) and the retry policy."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from ecom.config import Settings
from ecom.db import is_transient
from ecom.runtime import start_runtime
from ecom.services import Endpoints

Summary = TypeVar("Summary")

# Prefect's run loggers: what a task or flow logs with `get_run_logger()`.
RUN_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")


class _RecentLibraryLines(logging.Handler):
    """Remembers the last lines the `ecom` library logged (it prints nothing itself)."""

    def __init__(self, size: int = 64) -> None:
        super().__init__(logging.DEBUG)
        self.lines: deque[str] = deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class _SaidOnce(logging.Filter):
    """Drops a run-logger line the library has just logged word for word.

    A stage function logs its own result (`ecom load` needs it without Prefect) and the task
    around it logs the same summary line for the run's logs, so every stage result appeared
    twice in `make demo`. With `PREFECT_LOGGING_EXTRA_LOGGERS=ecom` (set for the worker by
    `ecom ui up`) the library's line reaches the run's logs in the UI too."""

    def __init__(self, recent: _RecentLibraryLines) -> None:
        super().__init__()
        self.recent = recent

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.recent.lines


def say_each_result_once() -> None:
    """Install the filter on Prefect's run loggers (idempotent: once per process)."""
    library = logging.getLogger("ecom")
    recent = next((h for h in library.handlers if isinstance(h, _RecentLibraryLines)), None)
    if recent is None:
        recent = _RecentLibraryLines()
        library.addHandler(recent)
    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _SaidOnce) for f in logger.filters):
            logger.addFilter(_SaidOnce(recent))


say_each_result_once()


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
    """Embedded servers start here when no URLs are configured; configured ones are only named.
    The flow run's process edge (`ecom.runtime`)."""
    return start_runtime()


def stage_task(name: str, run: Callable[..., Summary]) -> Task[..., Summary]:
    """A stage function as a database task that logs the stage's own summary line.

    Every flow's stage tasks come from here, so none can drift from the retry policy or run
    without saying what it did. The qualified name is the task's, so Prefect's task keys (which
    it derives from it) stay distinct per stage."""

    def run_stage(settings: Settings, endpoints: Endpoints, **options: Any) -> Summary:
        summary = run(settings, endpoints, **options)
        get_run_logger().info("%s", summary.summary_line())
        return summary

    run_stage.__name__ = run_stage.__qualname__ = name.replace("-", "_")
    run_stage.__doc__ = run.__doc__
    return database_task(name=name)(run_stage)
