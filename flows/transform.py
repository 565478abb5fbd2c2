"""Transform flow: `dbt build` of staging views, intermediate models and marts, with dbt's tests."""

from __future__ import annotations

from prefect import flow, get_run_logger

from ecom.transform import build_warehouse
from flows.common import database_task, start_services


@database_task(name="dbt-build")
def dbt_build_task(settings, endpoints, select: str | None = None):
    summary = build_warehouse(settings, endpoints, select=select)
    get_run_logger().info("%s", summary.summary_line())
    return summary


@flow(name="transform")
def transform_flow(select: str | None = None):
    """Rebuild the warehouse; fails (naming the node) when a model or a dbt test fails."""
    settings, endpoints = start_services()
    return dbt_build_task(settings, endpoints, select)


if __name__ == "__main__":
    transform_flow()
