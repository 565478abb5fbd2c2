"""Score flow: the champion scores every active user; the best win-back targets are listed."""

from __future__ import annotations

from prefect import flow, get_run_logger

from ecom.churn.scoring import score_users
from flows.common import database_task, start_services


@database_task(name="score-users")
def score_task(settings, endpoints):
    summary = score_users(settings, endpoints)
    get_run_logger().info("scoring: %s", summary.summary_line())
    return summary


@flow(name="score")
def score_flow():
    settings, endpoints = start_services()
    return score_task(settings, endpoints)


if __name__ == "__main__":
    score_flow()
