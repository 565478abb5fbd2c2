"""Monitor flow: drift report, realised performance over time, and the model card.

Drift fails the flow (raising `DriftDetected`) when too many features drifted, so a Prefect
automation on failed runs can alert; performance and the card are written first, so an alarm
never leaves them stale.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from ecom.monitoring.drift import DriftDetected, run_drift_check
from ecom.monitoring.model_card import write_model_card
from ecom.monitoring.performance import update_model_performance
from flows.common import database_task, stage_task, start_services

performance_task = stage_task("model-performance", update_model_performance)
drift_task = stage_task("drift-report", run_drift_check)


@database_task(name="model-card")
def model_card_task(settings, endpoints):
    path = write_model_card(settings, endpoints)
    get_run_logger().info("model card written to %s", path)
    return str(path)


@flow(name="monitor")
def monitor_flow(fail_on_drift: bool = True, drift_threshold: float | None = None):
    """Returns (drift summary, performance summary); raises DriftDetected on an alarm when
    `fail_on_drift`. The drift threshold is calibrated on the data's history unless
    `drift_threshold` (or ECOM_DRIFT_SHARE_THRESHOLD) fixes it."""
    settings, endpoints = start_services()
    performance = performance_task(settings, endpoints)
    model_card_task(settings, endpoints)
    drift = drift_task(settings, endpoints, threshold=drift_threshold)
    if drift.alarm and fail_on_drift:
        raise DriftDetected(drift)
    return drift, performance


if __name__ == "__main__":
    monitor_flow()
