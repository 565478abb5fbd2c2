"""Score flow: the champion scores every active user; the one retention list is rebuilt on them."""

from __future__ import annotations

from prefect import flow

from ecom.stages import ScoredList, churn_scores_stage, retention_targets_stage
from flows.common import stage_task, start_services

score_task = stage_task("score-users", churn_scores_stage)  # honours ECOM_ENGINE
retention_targets_task = stage_task("build-retention-targets", retention_targets_stage)


@flow(name="score")
def score_flow(budget: float | None = None, max_contacts: int | None = None) -> ScoredList:
    settings, endpoints = start_services()
    scores = score_task(settings, endpoints)
    targets = retention_targets_task(settings, endpoints, budget=budget, max_contacts=max_contacts)
    return ScoredList(scores, targets)


if __name__ == "__main__":
    score_flow()
