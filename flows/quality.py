"""Quality flow: the Great Expectations gate over raw tables and marts."""

from __future__ import annotations

from prefect import flow

from ecom.stages import quality_stage
from flows.common import stage_task, start_services

quality_gate_task = stage_task("quality-gate", quality_stage)


@flow(name="quality")
def quality_flow(include_marts: bool = True):
    """Raises QualityGateFailed, naming each failed expectation and its table, when data is bad."""
    settings, endpoints = start_services()
    return quality_gate_task(settings, endpoints, include_marts=include_marts)


if __name__ == "__main__":
    quality_flow()
