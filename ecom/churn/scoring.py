"""Batch scoring: every active user's churn probability from the champion.

Reads `analytics.mart_churn_scoring` (features as of the day after the data ends), scores it
with `models:/churn_prediction_advanced@champion` through `ecom.churn.predict` (the function the
online service calls too), and writes `analytics.churn_scores` for the snapshot's own date in
one transaction: the scoring date is the data's as-of date,
never the wall clock, so re-running replaces that date's rows and older dates stay as they
were. Reading and writing use COPY and scoring is one vectorised call, so 100k users take
seconds.

Every score also carries the user's risk percentile in the scoring population (everyone scored
on that date by that model) and its population band (top 5%, 5-20%, 20-50%, bottom 50%): with
a churn base rate near 0.9 the absolute bands put almost everyone in "high" or "critical",
while the percentile still says who is riskiest. The service computes the same percentile with
the same function from the scores stored here (`read_score_population`), so `/predict` equals
this table. Whom to contact is not decided here: `ecom.targeting.targets` builds the one
retention list from these scores (and the uplift model, when there is one). The summary reports the champion's realised top-decile lift over the base rate on
its test split: the scoring date's own labels do not exist yet.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ecom.churn.predict import (
    POPULATION_BANDS,
    RISK_BANDS,
    ChurnPredictor,
    Economics,
    population_band,
    population_percentile,
)
from ecom.churn.registry import (  # champion_test_lift: read here and by the report
    MODEL_NAME,
    ModelRegistry,
    champion_test_lift,
    configure_tracking,
)
from ecom.config import Settings
from ecom.db import copy_frame, fetch_all, read_query_frame, table_exists, transaction
from ecom.relations import SCORING_MART
from ecom.services import Endpoints

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from ecom.quality.verdicts import GateVerdict

log = logging.getLogger(__name__)

SCORES_TABLE = "analytics.churn_scores"

SCORES_DDL = f"""
create table if not exists {SCORES_TABLE} (
    scoring_date date not null,
    user_id bigint not null,
    churn_probability double precision not null,
    risk_band text not null,
    model_name text not null,
    model_version text not null,
    features_as_of date not null,
    scored_at timestamptz not null,
    risk_percentile double precision,
    population_band text,
    primary key (scoring_date, user_id)
)"""
# Tables created before the population columns existed gain them (NULL on older dates).
POPULATION_COLUMNS_DDL = [
    f"alter table {SCORES_TABLE} add column if not exists risk_percentile double precision",
    f"alter table {SCORES_TABLE} add column if not exists population_band text",
]
SCORE_COLUMNS = [
    "scoring_date",
    "user_id",
    "churn_probability",
    "risk_band",
    "model_name",
    "model_version",
    "features_as_of",
    "scored_at",
    "risk_percentile",
    "population_band",
]
_models: dict[tuple, ChurnPredictor] = {}
_models_lock = threading.Lock()


class NoChampionModel(RuntimeError):
    """No model version carries the `champion` alias; the message says why (`no_champion_reason`)."""


def no_champion_reason(settings: Settings, client: MlflowClient) -> str:
    """Why no version is the champion, and what to do: never trained, or trained on a load the
    quality gate refused (its verdict, kept in the database, says what it refused), or trained
    but not crowned by the champion gate.

    "Run `ecom train`" is wrong advice after a refused load: training ran, and will refuse
    again until the data is fixed or the gate passes.
    """
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{MODEL_NAME}'")
    except MlflowException:
        versions = []
    if not versions:
        return (
            f"no version of {MODEL_NAME} was ever trained in {settings.tracking_uri}: "
            "run `ecom train` (or `ecom pipeline`)"
        )
    verdict = _latest_gate_verdict(settings)
    trained = f"{len(versions)} version(s) of {MODEL_NAME} were trained, none is the champion"
    if verdict is not None and not verdict.passed:
        return (
            f"{trained}: {verdict.refusal()}\nfix the data (see `ecom quality`), load it again "
            "and run `ecom pipeline`; training on this load will not crown a model"
        )
    return (
        f"{trained}: no challenger beat the champion gate; run `ecom train` on the current "
        "load and read its model comparison"
    )


def _latest_gate_verdict(settings: Settings) -> GateVerdict | None:
    """The gate's last verdict on the load now in `raw`, or None when it cannot be read."""
    from ecom.quality.verdicts import latest_verdict
    from ecom.services import ensure_services

    try:
        return latest_verdict(ensure_services(settings).database_url)
    except Exception as error:  # advice only: never hide the missing champion behind this
        log.warning("could not read the quality gate's last verdict: %s", error)
        return None


class ScoringDateMismatch(ValueError):
    """A `--date` other than the snapshot's own as-of date was asked for."""


@dataclass
class ScoringSummary:
    scoring_date: date
    features_as_of: date | None
    users_scored: int
    model_name: str
    model_version: str
    risk_bands: dict[str, int]
    seconds: float = 0.0
    population_bands: dict[str, int] = field(default_factory=dict)
    # The champion's realised top-decile lift and base rate on its test split (MLflow run).
    test_lift_top_decile: float | None = None
    test_base_rate: float | None = None

    def lift_line(self) -> str:
        if self.test_lift_top_decile is None or self.test_base_rate is None:
            return "top-decile lift: not recorded in the champion's run"
        return (
            f"top-decile lift {self.test_lift_top_decile:.2f} over a base rate of "
            f"{self.test_base_rate:.3f} (champion's test split)"
        )

    def summary_line(self) -> str:
        bands = ", ".join(f"{band} {count:,}" for band, count in self.risk_bands.items())
        ranked = ", ".join(f"{band} {count:,}" for band, count in self.population_bands.items())
        return (
            f"scored {self.users_scored:,} users on {self.scoring_date} with {self.model_name} "
            f"v{self.model_version} ({bands}; by percentile: {ranked}); {self.lift_line()}"
        )

    def as_rich_table(self):
        from rich.table import Table

        bands = ", ".join(f"{band} {count:,}" for band, count in self.risk_bands.items())
        table = Table(
            title=f"scored {self.users_scored:,} users on {self.scoring_date} with "
            f"{self.model_name} v{self.model_version} in {self.seconds:.1f} s",
            caption=f"risk bands: {bands}; {self.lift_line()}",
        )
        table.add_column("population band")
        table.add_column("users", justify="right")
        for band, count in self.population_bands.items():
            table.add_row(band, f"{count:,}")
        return table


# --------------------------------------------------------------------------- I/O


def read_scoring_features(database_url: str) -> pd.DataFrame:
    """The scoring mart through COPY (10x faster than row fetches at 100k users); only SQL NULL
    is missing, so text reaches the model as Feast's online read gives it to the service."""
    if not table_exists(database_url, *SCORING_MART):
        raise FileNotFoundError(
            f"{SCORING_MART} does not exist: build the marts (`ecom transform`)"
        )
    frame = read_query_frame(
        database_url,
        f"SELECT * FROM {SCORING_MART}",
        dtype={"traffic_source": "object", "gender": "object", "country": "object"},
        only_sql_null=True,
    )
    for column in ("user_id", "cutoff_date"):
        if column not in frame:
            raise ValueError(f"{SCORING_MART} lacks required column {column!r}")
    return frame


def read_score_population(database_url: str, scoring_date: date, model_version: str) -> np.ndarray:
    """The churn probabilities `model_version` gave everyone on `scoring_date`, sorted: the
    population a percentile is taken in. Empty when that date was not scored by that model."""
    schema, table = SCORES_TABLE.split(".")
    if not table_exists(database_url, schema, table):
        return np.array([], dtype=float)
    rows = fetch_all(
        database_url,
        f"select churn_probability from {SCORES_TABLE} "
        "where scoring_date = %s and model_version = %s order by churn_probability",
        (scoring_date, str(model_version)),
    )
    return np.array([row[0] for row in rows], dtype=float)


def read_scores(database_url: str, scoring_date: date) -> pd.DataFrame:
    """One date's stored scores (user_id, churn_probability, risk_percentile, population_band,
    churn_model_version, scored_at): what the retention list cites. Empty when not scored."""
    columns = [
        "user_id",
        "churn_probability",
        "risk_percentile",
        "population_band",
        "churn_model_version",
        "scored_at",
    ]
    schema, table = SCORES_TABLE.split(".")
    rows = []
    if table_exists(database_url, schema, table):
        rows = fetch_all(
            database_url,
            "select user_id, churn_probability, risk_percentile, population_band, "
            f"model_version, scored_at from {SCORES_TABLE} where scoring_date = %s",
            (scoring_date,),
        )
    return pd.DataFrame(rows, columns=columns).astype(
        {"user_id": "int64", "churn_probability": float, "risk_percentile": float}
    )


def champion_predictor(settings: Settings, version: str | None = None) -> ChurnPredictor:
    """The champion (or `version`) as a `ChurnPredictor`, loaded once per process and version
    and proved against the logged model on its input example (`ChurnPredictor.verify`).

    Loaded by version number, not alias, so a promotion during a run cannot mix models."""
    configure_tracking(settings.tracking_uri, settings.artifact_root.as_uri())
    registry = ModelRegistry.at(settings.tracking_uri)
    version = version or registry.champion_version()
    if version is None:
        raise NoChampionModel(no_champion_reason(settings, registry.client))
    economics = Economics(settings.customer_ltv, settings.win_back_rate, settings.contact_cost)
    key = (settings.tracking_uri, version, economics)
    with _models_lock:
        if key not in _models:
            loaded = registry.load(version)
            predictor = ChurnPredictor(
                loaded.model, model_name=MODEL_NAME, model_version=version, economics=economics
            )
            example = loaded.input_example
            predictor.verify(example if isinstance(example, pd.DataFrame) else None)
            _models[key] = predictor
    return _models[key]


def snapshot_date(features: pd.DataFrame) -> date:
    """The scoring snapshot's as-of date: its one cutoff date (the day after the data ends)."""
    days = pd.to_datetime(features["cutoff_date"]).dt.date.unique()
    if len(days) != 1:
        raise ValueError(
            f"{SCORING_MART} must hold one cutoff_date, found {len(days)}: "
            f"{', '.join(str(day) for day in sorted(days)[:5])}"
        )
    return days[0]


def write_scores(database_url: str, scoring_date: date, scores: pd.DataFrame) -> None:
    """Replace one scoring date's scores atomically; other dates are untouched.

    An advisory lock on the date makes two concurrent runs for the same date queue up
    instead of colliding on the primary key; it is taken before the DDL, because two
    concurrent `create table if not exists` of a new table can still collide in the catalog."""
    with transaction(database_url) as cursor:
        cursor.execute(
            "select pg_advisory_xact_lock(hashtext('churn_scores'), %s)",
            (scoring_date.toordinal(),),
        )
        cursor.execute("create schema if not exists analytics")
        cursor.execute(SCORES_DDL)
        for statement in POPULATION_COLUMNS_DDL:
            cursor.execute(statement)
        cursor.execute(f"delete from {SCORES_TABLE} where scoring_date = %s", (scoring_date,))
        copy_frame(cursor, SCORES_TABLE, scores)


def check_scoring_date(scoring_date: date | None, as_of: date) -> None:
    """Refuse a `--date` that is not the snapshot's own as-of date rather than filing today's
    features under another date."""
    if scoring_date is not None and scoring_date != as_of:
        raise ScoringDateMismatch(
            f"--date {scoring_date} is not the scoring snapshot's date: {SCORING_MART} holds "
            f"features as of {as_of}; score that date (omit --date) or rebuild the marts "
            "(`ecom transform`) on data that ends the day before"
        )


def population_scores(predictions: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """The rows of `analytics.churn_scores` from the champion's predictions
    (`Predictions.frame()`, any row order): the percentile and band in the whole scored
    population. Both engines (this module, ecom/spark/scoring.py) finish their predictions
    here."""
    scored_at = datetime.now(UTC)
    probabilities = predictions["churn_probability"].to_numpy()
    percentiles = population_percentile(probabilities, np.sort(probabilities))
    return predictions.assign(
        scoring_date=as_of,
        scored_at=scored_at.isoformat(),
        risk_percentile=percentiles,
        population_band=population_band(percentiles),
    )[SCORE_COLUMNS]


def scoring_summary(
    settings: Settings, scores: pd.DataFrame, version: str, as_of: date, started: float
) -> ScoringSummary:
    """What a scoring run did, for the CLI, the flows and the log."""
    counts = scores["risk_band"].value_counts()
    ranked = scores["population_band"].value_counts()
    lift, base_rate = champion_test_lift(settings, version)
    summary = ScoringSummary(
        scoring_date=as_of,
        features_as_of=as_of,
        users_scored=len(scores),
        model_name=MODEL_NAME,
        model_version=version,
        risk_bands={name: int(counts.get(name, 0)) for name, _ in RISK_BANDS},
        population_bands={name: int(ranked.get(name, 0)) for name, _ in reversed(POPULATION_BANDS)},
        test_lift_top_decile=lift,
        test_base_rate=base_rate,
        seconds=time.perf_counter() - started,
    )
    log.info(
        "scored %d users with %s v%s in %.1f s",
        summary.users_scored,
        MODEL_NAME,
        version,
        summary.seconds,
    )
    return summary


def score_users(
    settings: Settings, endpoints: Endpoints, *, scoring_date: date | None = None
) -> ScoringSummary:
    """Score every user in the scoring mart with the champion and store the scores.

    The rows are stamped with the snapshot's own as-of date; a `scoring_date` that is not it
    is refused rather than filing today's features under another date."""
    started = time.perf_counter()
    features = read_scoring_features(endpoints.database_url)
    if len(features) == 0:
        raise ValueError(f"{SCORING_MART} is empty: no user is active as of the data's end")
    as_of = snapshot_date(features)
    check_scoring_date(scoring_date, as_of)
    predictor = champion_predictor(settings)
    version = predictor.model_version
    try:
        predictions = predictor.predict(features, features_as_of=as_of, explain=False).frame()
    except ValueError as error:
        raise ValueError(
            f"{SCORING_MART} cannot be scored by champion v{version}: {error}"
        ) from error
    scores = population_scores(predictions, as_of)
    write_scores(endpoints.database_url, as_of, scores)
    return scoring_summary(settings, scores, version, as_of, started)
