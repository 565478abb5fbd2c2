"""Features flow: register the Feast repo and materialize the latest features into Redis
(from PostgreSQL's marts, or Spark's with ECOM_ENGINE=spark)."""

from __future__ import annotations

from prefect import flow, get_run_logger

from ecom.features.store import apply_feature_repo
from ecom.stages import features_stage
from flows.common import database_task, stage_task, start_services


@database_task(name="feast-apply")
def feast_apply_task(settings, endpoints):
    applied = apply_feature_repo(settings, endpoints)
    get_run_logger().info("feast apply: %s", ", ".join(applied))
    return applied


feast_materialize_task = stage_task("feast-materialize", features_stage)


@flow(name="features")
def features_flow():
    settings, endpoints = start_services()
    feast_apply_task(settings, endpoints)
    return feast_materialize_task(settings, endpoints)


if __name__ == "__main__":
    features_flow()
