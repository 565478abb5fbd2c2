"""Transform flow: `dbt build` of staging views, intermediate models and marts, with dbt's tests."""

from __future__ import annotations

from prefect import flow

from ecom.stages import transform_stage
from flows.common import stage_task, start_services

dbt_build_task = stage_task("dbt-build", transform_stage)  # honours ECOM_ENGINE


@flow(name="transform")
def transform_flow(select: str | None = None):
    """Rebuild the warehouse; fails (naming the node) when a model or a dbt test fails."""
    settings, endpoints = start_services()
    return dbt_build_task(settings, endpoints, select=select)


if __name__ == "__main__":
    transform_flow()
