"""Uplift flow: campaign users -> uplift learners -> MLflow champion gate -> memo -> the one
retention list (`analytics.retention_targets`).

Without campaign data (real TheLook) there is nothing to learn a contact's effect from: the
flow says so, skips training, and the target list falls back to churn risk, labelled. The
pipeline runs it with `write_list=False`, because its score stage writes the list next."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from ecom.churn.predict import Economics
from ecom.targeting.data import campaign_users
from ecom.targeting.memo import write_fallback_memo, write_memo
from ecom.targeting.targets import build_retention_targets
from ecom.targeting.training import train_uplift
from flows.common import stage_task, start_services

train_uplift_task = stage_task("train-uplift-model", train_uplift)
retention_targets_task = stage_task("build-retention-targets", build_retention_targets)


@flow(name="uplift")
def uplift_flow(
    truth_dir: str | None = None,
    budget: float | None = None,
    max_contacts: int | None = None,
    write_list: bool = True,
):
    settings, endpoints = start_services()
    result = None
    if campaign_users(endpoints.database_url) > 0:
        result = train_uplift_task(
            settings, endpoints, truth_dir=Path(truth_dir) if truth_dir else None
        )
        economics = Economics(settings.customer_ltv, settings.win_back_rate, settings.contact_cost)
        get_run_logger().info("wrote %s", write_memo(result, economics, settings.docs_dir))
    else:
        get_run_logger().warning(
            "no campaign data (analytics.mart_campaign_outcomes is empty): no uplift model; "
            "the target list falls back to churn risk and says so; wrote %s",
            write_fallback_memo(settings.docs_dir),
        )
    if not write_list:
        return result
    return retention_targets_task(settings, endpoints, budget=budget, max_contacts=max_contacts)


if __name__ == "__main__":
    uplift_flow()
