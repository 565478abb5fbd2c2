"""Ingest flow: TheLook CSVs (generated when absent) into the `raw` schema."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from ecom.stages import load_stage
from flows.common import database_task, start_services


@database_task(name="load-raw-tables")
def load_raw_tables_task(settings, endpoints, data_dir: str, users: int, seed: int):
    logger = get_run_logger()
    report = load_stage(
        settings, endpoints, Path(data_dir), users=users, seed=seed, announce=logger.info
    )
    logger.info("loaded %s", report.summary_line())
    return report


@flow(name="ingest")
def ingest_flow(data_dir: str = "data/thelook", users: int = 100_000, seed: int = 42):
    """Load every TheLook table atomically; a failed load leaves `raw` as it was."""
    settings, endpoints = start_services()
    return load_raw_tables_task(settings, endpoints, data_dir, users, seed)


if __name__ == "__main__":
    ingest_flow()
