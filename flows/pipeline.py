"""The whole pipeline: load -> transform -> quality gate -> features -> train -> uplift (when
campaign data is loaded) -> score and the retention list -> monitor -> experiment analysis.

With ECOM_ENGINE=spark, load, transform, the online features, train, score and the list run on
Spark's tables; the stages that read PostgreSQL's marts only are skipped, each with one line in
the summary saying why (`ecom.spark.coverage`), rather than reporting on an earlier load or an
empty database.

Each stage is its own flow, so the Prefect UI shows one nested run per stage with its logs,
and any stage can also be deployed or run alone. A failed quality gate raises, so features
and training never see data that failed its expectations.

Two runs at once would load, build and score over each other: a run holds a PostgreSQL
advisory lock on its database from start to end, so a second one waits for the first (at
most `lock_timeout_seconds`, then fails saying who holds it). prefect.yaml's concurrency
limit does the same for deployed runs; the lock also covers `ecom pipeline` and direct calls.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from ecom.config import Settings, get_settings
from ecom.db import session_lock
from ecom.stages import PipelineSummary, check_feature_inputs, skipped_on_engine
from ecom.targeting.data import campaign_users
from ecom.targeting.memo import write_fallback_memo
from flows.common import start_services
from flows.experiments import experiments_flow
from flows.features import features_flow
from flows.ingest import ingest_flow
from flows.monitor import monitor_flow
from flows.quality import quality_flow
from flows.score import score_flow
from flows.train import train_flow
from flows.transform import transform_flow
from flows.uplift import uplift_flow

PIPELINE_LOCK = "ecom churn-pipeline"
# A second pipeline waits this long for the first (a nightly run on real data takes hours).
PIPELINE_LOCK_TIMEOUT_SECONDS = 6 * 3600


@flow(name="churn-pipeline")
def churn_pipeline(
    data_dir: str | None = None,
    users: int = 100_000,
    seed: int = 42,
    lock_timeout_seconds: float = PIPELINE_LOCK_TIMEOUT_SECONDS,
    campaign: bool = False,
) -> PipelineSummary:
    """`data_dir` defaults to Settings.data_dir (ECOM_DATA_DIR, else data/thelook); `campaign`
    plants a retention campaign in data the pipeline generates (`make demo` does)."""
    logger = get_run_logger()
    _, endpoints = start_services()
    with session_lock(
        endpoints.database_url,
        PIPELINE_LOCK,
        timeout_seconds=lock_timeout_seconds,
        waiting=logger.warning,
    ):
        return _run_stages(data_dir, users, seed, campaign)


def _skipped(summary: PipelineSummary, settings: Settings, *stages: str) -> bool:
    """Whether the engine skips these stages; if so, one summary line each says why."""
    reasons = [skipped_on_engine(settings, stage) for stage in stages]
    if not all(reasons):
        return False
    for stage, reason in zip(stages, reasons, strict=True):
        summary.add(stage, f"skipped on {settings.engine}: {reason}")
    return True


def _run_stages(data_dir: str | None, users: int, seed: int, campaign: bool) -> PipelineSummary:
    logger = get_run_logger()
    summary = PipelineSummary()
    settings = get_settings()
    folder = settings.data_folder(data_dir)

    load_report = ingest_flow(data_dir=str(folder), users=users, seed=seed, campaign=campaign)
    summary.add("load", load_report.summary_line(), load_report)

    dbt_summary = transform_flow()
    summary.add("transform", dbt_summary.summary_line(), dbt_summary)

    if not _skipped(summary, settings, "quality"):
        quality_report = quality_flow()
        summary.add("quality", quality_report.summary_line(), quality_report)
    _, endpoints = start_services()
    # A partial folder stops here, in one message.
    check_feature_inputs(settings, endpoints, str(folder))

    if not _skipped(summary, settings, "features"):
        materialized = features_flow()
        summary.add("features", materialized.summary_line(), materialized)

    truth_dir = folder if (folder / "_truth").is_dir() else None
    training = train_flow(truth_dir=str(truth_dir) if truth_dir else None)
    summary.add("train", training.summary_line(), training)

    # The uplift model must exist before the list is written, so it trains before scoring; it
    # uses the churn champion trained just above as the churn risk it compares against.
    if _skipped(summary, settings, "uplift"):
        pass
    elif campaign_users(endpoints.database_url) > 0:
        uplift = uplift_flow(truth_dir=str(truth_dir) if truth_dir else None, write_list=False)
        summary.add("uplift", uplift.summary_line(), uplift)
    else:
        memo = write_fallback_memo(get_settings().docs_dir)
        summary.add(
            "uplift",
            f"skipped: no campaign data, the retention list is the churn-risk fallback ({memo})",
        )

    scored = score_flow()
    summary.add("score", scored.scores.summary_line(), scored.scores)
    summary.add("targets", scored.targets.summary_line(), scored.targets)

    # The pipeline reports drift; the daily monitor deployment is the one that fails on it.
    if not _skipped(summary, settings, "drift", "monitor"):
        drift, performance = monitor_flow(fail_on_drift=False)
        summary.add("drift", drift.summary_line(), drift)
        summary.add("monitor", performance.summary_line(), performance)

    # The experiment analysis reads the experiment marts only; it writes the JSON and docs
    # that the report's lift panel reads.
    if not _skipped(summary, settings, "experiment"):
        experiment = experiments_flow()
        summary.add("experiment", experiment.summary_line(), experiment)

    for stage, line in summary.lines:
        logger.info("%-9s %s", stage, line)
    return summary


if __name__ == "__main__":
    churn_pipeline()
