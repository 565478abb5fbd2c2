"""The pipeline's stages as plain functions, shared by the `ecom` command and the Prefect flows.

Each stage wraps one module's function with the project's decisions (generate data when the
folder is empty, stop at a failed quality gate) and returns a small summary; nothing here
knows about Prefect or the terminal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecom.config import Settings
from ecom.relations import FEATURES_MART
from ecom.services import Endpoints

if TYPE_CHECKING:
    from ecom.churn.scoring import ScoringSummary
    from ecom.churn.training import TrainingResult
    from ecom.targeting.targets import TargetsSummary

log = logging.getLogger(__name__)


def will_generate(settings: Settings, data_dir: Path, *, generate: bool = False) -> bool:
    """Whether loading `data_dir` generates a dataset there first.

    Generating replaces `raw` with a world of our own, so it happens only when asked for
    (`generate`), into the default data folder when it holds no TheLook CSVs (the demo's first
    run), or into an existing empty folder (one made to receive data). A mistyped path is none
    of these: it does not exist, and the load stops naming it instead of filling it.
    """
    from ecom.ingest.files import has_thelook_csvs

    data_dir = Path(data_dir)
    if generate:
        return True
    if has_thelook_csvs(data_dir):
        return False
    if data_dir.resolve() == Path(settings.data_dir).resolve():
        return True
    return data_dir.is_dir() and not any(data_dir.iterdir())


@dataclass(frozen=True)
class Generation:
    """The dataset a load stage generates when `will_generate` says so: `users` and `seed`;
    `generate` asks for it whatever the folder holds (`--generate`); `campaign` plants the
    retention campaign (`ecom generate --campaign`). One value, so the notice, the generation
    and the load cannot be handed different requests."""

    users: int
    seed: int
    generate: bool = False
    campaign: bool = False


def generation_notice(
    data_dir: Path, generation: Generation, settings: Settings | None = None
) -> str | None:
    """What `load_stage` says before it generates data, or None when it loads what is there.
    Generating replaces `raw` with a new dataset, so callers show it where the user looks (the
    terminal, the flow run's logs and final state)."""
    from ecom.config import get_settings

    if not will_generate(settings or get_settings(), Path(data_dir), generate=generation.generate):
        return None
    where = "" if generation.generate else f"{data_dir} holds no TheLook CSVs: "
    planted = " with a planted retention campaign" if generation.campaign else ""
    return (
        f"{where}generating {generation.users:,} users (seed {generation.seed}){planted} "
        f"into {data_dir} first, instead of loading"
    )


def generate_if_due(
    settings: Settings,
    data_dir: Path,
    generation: Generation,
    announce: Callable[[str], object] = log.warning,
) -> bool:
    """Generate a TheLook dataset into `data_dir` when `will_generate` says so (saying so
    through `announce`); whether it did. `ecom pipeline` calls it while Prefect's temporary
    server boots, so a first demo's generation and the server's migrations overlap."""
    notice = generation_notice(data_dir, generation, settings)
    if not notice:
        return False
    from ecom.synth import generate_dataset
    from ecom.synth.campaign import CampaignPlan

    announce(notice)
    plan = CampaignPlan() if generation.campaign else None
    generate_dataset(
        generation.users, generation.seed, Path(data_dir), None, progress=True, campaign=plan
    )
    return True


def load_stage(
    settings: Settings,
    endpoints: Endpoints,
    data_dir: Path,
    generation: Generation,
    announce: Callable[[str], object] = log.warning,
):
    """Load `data_dir` into `raw`; generate a TheLook dataset there first when `will_generate`
    says so, as the original platform did, and say so through `announce`.

    A folder that does not exist (and is not to be generated) is a `LoadError` naming it,
    raised before the database is touched: `raw` stays as it was. Generated data carries the
    planted retention campaign when `generation.campaign` asks for it, and the uplift stage
    learns from it; loaded data is loaded as it is.
    """
    from ecom.ingest.files import LoadError

    data_dir = Path(data_dir)
    generated = generate_if_due(settings, data_dir, generation, announce)
    if not generated and not data_dir.exists():
        raise LoadError(
            data_dir,
            "no such folder; nothing was generated (data is generated only into the default "
            f"data folder {settings.data_dir} or with --generate)",
        )
    return load_raw(settings, endpoints, data_dir)


def load_raw(settings: Settings, endpoints: Endpoints, data_dir: Path):
    """The raw load on the configured engine (ECOM_ENGINE): PostgreSQL's `raw` schema, or
    Spark's `raw` database as Parquet tables; one contract, one set of checks, one report."""
    if settings.engine == "spark":
        from ecom.spark.raw import load_raw_tables_on_spark
        from ecom.spark.session import spark_session

        return load_raw_tables_on_spark(spark_session(settings), Path(data_dir))
    from ecom.ingest.load import load_raw_tables

    return load_raw_tables(endpoints.database_url, data_dir, progress=True)


def transform_stage(settings: Settings, endpoints: Endpoints, *, select: str | None = None):
    """`dbt build` on the configured engine (ECOM_ENGINE): dbt-postgres, or dbt-spark in this
    process's Spark session."""
    if settings.engine == "spark":
        from ecom.spark.session import spark_session
        from ecom.spark.transform import build_warehouse_on_spark

        return build_warehouse_on_spark(settings, spark_session(settings), select=select)
    from ecom.transform import build_warehouse

    return build_warehouse(settings, endpoints, select=select)


def features_stage(settings: Settings, endpoints: Endpoints):
    """Fill the online store with the scoring snapshot on the configured engine (ECOM_ENGINE):
    Feast's materialization from PostgreSQL's marts, or the same rows from Spark's marts
    written through the repo's engine; the service reads the same Redis either way."""
    if settings.engine == "spark":
        from ecom.spark.online import materialize_features_on_spark
        from ecom.spark.session import spark_session

        return materialize_features_on_spark(settings, endpoints, spark_session(settings))
    from ecom.features.store import materialize_features

    return materialize_features(settings, endpoints)


def train_stage(
    settings: Settings, endpoints: Endpoints, *, truth_dir: Path | None = None
) -> TrainingResult:
    """Churn training on the configured engine (ECOM_ENGINE): the training set from Feast's
    PostgreSQL offline store, or from its Spark offline store over the Spark marts; MLflow,
    the champion gate and registration are the same either way."""
    truth_dir = Path(truth_dir) if truth_dir else None
    if settings.engine == "spark":
        from ecom.spark.session import spark_session
        from ecom.spark.training import train_churn_models_on_spark

        return train_churn_models_on_spark(settings, spark_session(settings), truth_dir=truth_dir)
    from ecom.churn.training import train_churn_models

    return train_churn_models(settings, endpoints, truth_dir=truth_dir)


def churn_scores_stage(
    settings: Settings, endpoints: Endpoints, *, scoring_date=None
) -> ScoringSummary:
    """Batch scoring on the configured engine (ECOM_ENGINE); the scores land in PostgreSQL
    either way, for the service, the reports and the retention list."""
    if settings.engine == "spark":
        from ecom.spark.scoring import score_users_on_spark
        from ecom.spark.session import spark_session

        return score_users_on_spark(
            settings, endpoints, spark_session(settings), scoring_date=scoring_date
        )
    from ecom.churn.scoring import score_users

    return score_users(settings, endpoints, scoring_date=scoring_date)


def retention_targets_stage(
    settings: Settings,
    endpoints: Endpoints,
    *,
    budget: float | None = None,
    max_contacts: int | None = None,
) -> TargetsSummary:
    """The retention list from the configured engine's scoring snapshot: PostgreSQL's mart, or
    Spark's (then always the churn-risk fallback, `ecom.spark.coverage` says why). Either way
    it cites the scores stored in PostgreSQL and is written there, for the service."""
    from ecom.targeting.targets import build_retention_targets

    if settings.engine == "spark":
        from ecom.spark.coverage import skipped_on_spark
        from ecom.spark.scoring import scoring_snapshot_on_spark
        from ecom.spark.session import spark_session

        return build_retention_targets(
            settings,
            endpoints,
            budget=budget,
            max_contacts=max_contacts,
            features=scoring_snapshot_on_spark(spark_session(settings)),
            without_uplift=skipped_on_spark("uplift"),
        )
    return build_retention_targets(settings, endpoints, budget=budget, max_contacts=max_contacts)


def skipped_on_engine(settings: Settings, stage: str) -> str | None:
    """Why `ecom pipeline` skips `stage` on the configured engine, or None when it runs."""
    if settings.engine == "spark":
        from ecom.spark.coverage import skipped_on_spark

        return skipped_on_spark(stage)
    return None


def quality_stage(settings: Settings, endpoints: Endpoints, *, include_marts: bool = True):
    """Run the gate and raise `QualityGateFailed` (naming table and expectation) when it fails,
    so nothing downstream trains on bad data."""
    from ecom.quality.gate import QualityGateFailed, run_quality_gate

    report = run_quality_gate(settings, endpoints, include_marts=include_marts)
    if not report.passed:
        raise QualityGateFailed(report)
    return report


@dataclass
class ScoredList:
    """What `ecom score` produces: the churn scores, then the one retention list built on them."""

    scores: ScoringSummary
    targets: TargetsSummary


def score_stage(
    settings: Settings,
    endpoints: Endpoints,
    *,
    scoring_date=None,
    budget: float | None = None,
    max_contacts: int | None = None,
) -> ScoredList:
    """Score every active user, then write `analytics.retention_targets` from those scores (by
    uplift when a campaign's uplift champion exists, else the labelled churn-risk fallback)."""
    scores = churn_scores_stage(settings, endpoints, scoring_date=scoring_date)
    targets = retention_targets_stage(settings, endpoints, budget=budget, max_contacts=max_contacts)
    return ScoredList(scores, targets)


class StageInputMissing(RuntimeError):
    """The next stage has nothing to work on; the one message says what it needs and why."""


def check_feature_inputs(settings: Settings, endpoints: Endpoints, data_dir: Path | str) -> None:
    """`require_feature_inputs` on the configured engine: on Spark, the Spark features mart
    must exist and hold rows (PostgreSQL's, from some earlier load, says nothing about it)."""
    if settings.engine != "spark":
        require_feature_inputs(endpoints, data_dir)
        return
    from ecom.spark.features import missing_feature_rows_on_spark
    from ecom.spark.session import spark_session

    problem = missing_feature_rows_on_spark(spark_session(settings))
    if problem:
        raise StageInputMissing(f"the pipeline stops before training ({data_dir}): {problem}")


def require_feature_inputs(endpoints: Endpoints, data_dir: Path | str) -> None:
    """Stop the pipeline before the features when the churn features mart is empty.

    A partial folder (no events.csv, say) loads, builds and passes the gate with that mart
    empty by design; Feast, training and scoring would each fail on it in their own words.
    This raises one `StageInputMissing` naming the mart, the raw tables it is built from that
    the load had no file for, and the files to add.
    """
    from ecom.db import fetch_all, table_exists
    from ecom.ingest.presence import absent_tables
    from ecom.quality.suites import MART_NEEDS

    if not table_exists(endpoints.database_url, *FEATURES_MART):
        raise StageInputMissing(
            f"the pipeline stops before the features: they need {FEATURES_MART}, which does "
            "not exist; build the marts with `ecom transform`."
        )
    if fetch_all(endpoints.database_url, f"select exists (select 1 from {FEATURES_MART})")[0][0]:
        return
    absent = {f"raw.{name}" for name in absent_tables(endpoints.database_url)}
    needed = [name for name in MART_NEEDS[FEATURES_MART.name] if name in absent]
    if needed:
        files = " and ".join(f"{name.removeprefix('raw.')}.csv" for name in needed)
        raise StageInputMissing(
            f"the pipeline stops before the features: they need rows in {FEATURES_MART}, which "
            f"is empty because it is built from {', '.join(needed)} and {data_dir} has no "
            f"{files}. Load, transform and the quality gate ran on what is there; add {files} "
            "(or .csv.gz) to that folder and run `ecom pipeline` again."
        )
    raise StageInputMissing(
        f"the pipeline stops before the features: they need rows in {FEATURES_MART}, which is "
        f"empty: no user of the data in {data_dir} had an event or an order in the feature "
        "window before any weekly cutoff."
    )


@dataclass
class PipelineSummary:
    """What `make demo` prints at the end: one line per stage, from the stage's own report."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, stage: str, text: str, detail: Any = None) -> None:
        self.lines.append((stage, text))
        if detail is not None:
            self.details[stage] = detail


def render_pipeline_summary(summary: PipelineSummary, console) -> None:
    """One line per stage, then the model comparison and the top retention targets."""
    from rich.table import Table

    table = Table(title="pipeline summary")
    table.add_column("stage")
    table.add_column("result")
    for stage, text in summary.lines:
        table.add_row(stage, text)
    for stage in ("train", "uplift", "score", "targets", "monitor"):
        detail = summary.details.get(stage)
        if detail is not None and hasattr(detail, "as_rich_table"):
            console.print(detail.as_rich_table())
    console.print(table)
