"""Score flow: the champion scores every active user; the best win-back targets are listed."""

from __future__ import annotations

from prefect import flow

from ecom.stages import score_stage
from flows.common import stage_task, start_services

score_task = stage_task("score-users", score_stage)  # honours ECOM_ENGINE


@flow(name="score")
def score_flow():
    settings, endpoints = start_services()
    return score_task(settings, endpoints)


if __name__ == "__main__":
    score_flow()
