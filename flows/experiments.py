"""Experiments flow: analyse the newest (or a named) A/B test, write its JSON, chart, design doc
and decision memo. With no experiment in the warehouse it reports that and succeeds."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from ecom.experiments.reporting import ExperimentReport, write_analysis_report, write_docs
from flows.common import database_task, start_services


@database_task(name="analyze-experiment")
def analyze_task(database_url: str, experiment_id: str | None, reports_dir: Path):
    report = write_analysis_report(database_url, experiment_id, reports_dir)
    get_run_logger().info("experiment %s: %s", report.experiment_id or "none", report.message)
    return report


@database_task(name="write-experiment-docs")
def docs_task(database_url: str, experiment_id: str | None, docs_dir: Path):
    design_path, memo_path = write_docs(database_url, experiment_id, docs_dir)
    get_run_logger().info("wrote %s and %s", design_path, memo_path)
    return memo_path


@flow(name="experiments")
def experiments_flow(experiment_id: str | None = None) -> ExperimentReport:
    settings, endpoints = start_services()
    report = analyze_task(endpoints.database_url, experiment_id, settings.reports_dir)
    docs_task(endpoints.database_url, experiment_id, settings.docs_dir)
    return report


if __name__ == "__main__":
    experiments_flow()
