"""Quality flow: the Great Expectations gate over raw tables and marts."""

from __future__ import annotations

from prefect import flow, get_run_logger

from ecom.stages import quality_stage
from flows.common import database_task, start_services


@database_task(name="quality-gate")
def quality_gate_task(settings, endpoints, include_marts: bool = True):
    report = quality_stage(settings, endpoints, include_marts=include_marts)
    get_run_logger().info("%s", report.summary_line())
    return report


@flow(name="quality")
def quality_flow(include_marts: bool = True):
    """Raises QualityGateFailed, naming each failed expectation and its table, when data is bad."""
    settings, endpoints = start_services()
    return quality_gate_task(settings, endpoints, include_marts)


if __name__ == "__main__":
    quality_flow()
