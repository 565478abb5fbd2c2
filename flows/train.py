"""Train flow: Feast training set -> baseline and XGBoost candidates -> MLflow, champion alias."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from ecom.churn.training import train_churn_models
from flows.common import database_task, start_services


@database_task(name="train-churn-models")
def train_task(settings, endpoints, truth_dir: str | None = None):
    result = train_churn_models(
        settings, endpoints, truth_dir=Path(truth_dir) if truth_dir else None
    )
    get_run_logger().info("training: %s", result.summary_line())
    return result


@flow(name="train")
def train_flow(truth_dir: str | None = None):
    settings, endpoints = start_services()
    return train_task(settings, endpoints, truth_dir)


if __name__ == "__main__":
    train_flow()
