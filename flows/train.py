"""Train flow: Feast training set -> baseline and XGBoost candidates -> MLflow, champion alias.
The training set comes from the configured engine's offline store (ECOM_ENGINE)."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from ecom.stages import train_stage
from flows.common import stage_task, start_services

train_task = stage_task("train-churn-models", train_stage)  # honours ECOM_ENGINE


@flow(name="train")
def train_flow(truth_dir: str | None = None):
    settings, endpoints = start_services()
    return train_task(settings, endpoints, truth_dir=Path(truth_dir) if truth_dir else None)


if __name__ == "__main__":
    train_flow()
