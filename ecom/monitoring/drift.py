"""Input drift: today's scoring snapshot against the latest rows the champion was built on.

The reference is the feature rows of the champion's latest cutoffs (its test split), recorded
with its MLflow run, so the comparison is with what the model was trained and judged on, not
with whatever the marts hold today, and with the rows closest in time to the snapshot. Its
training cutoffs end five months or more before the snapshot (validation, test and two 30-day
embargoes lie between), and over that gap the shopping calendar alone moves the engagement
features: on the 100k-user demo (no planted drift, data ending 2026-12-01, just after Black
Friday) 12 of 20 features drifted against the training rows, 6 against the test rows, while
planted drift moves 12 against the test rows. The test rows keep most of a seasonal swing from
reading as drift; a change in the last weeks still does (the reference's cutoffs are at least a
label horizon old). `tests/integration/test_drift_generated.py` compares the same pair.
The champion's predicted churn probability is compared the same way (its scores on the
reference rows against its scores today): a shift there is what the retention team feels.

Evidently's metrics carry the score, method and threshold but no drift flag; each column's
verdict is read from its test (`FAIL` = drifted), so the report always runs with tests. A
`DataDefinition` says which columns are numbers, or Evidently would treat low-cardinality
integers (cart adds, orders) as categories.

Evidently's default method changes with size: p-values up to 1,000 rows, distances above. A
p-value answers "is there any difference" and flags a trivial one on big data and misses a large
one on small data; a distance measures how big the difference is. So every column is judged by
a distance with one threshold (normed Wasserstein for numbers, Jensen-Shannon for categories,
`COLUMN_THRESHOLD`), and the verdict means the same on a 300-user test world and on 100k users.
Both sides are sampled to at most `MAX_ROWS_PER_SIDE` rows, which keeps the run to seconds.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from ecom.churn import models as churn_models
from ecom.churn.scoring import read_scoring_features
from ecom.config import Settings
from ecom.services import Endpoints

log = logging.getLogger(__name__)

PREDICTION_COLUMN = "churn_probability"
MAX_ROWS_PER_SIDE = 20_000
NUMERICAL_METHOD = "wasserstein"
CATEGORICAL_METHOD = "jensenshannon"
COLUMN_THRESHOLD = 0.1
REPORT_HTML = "drift_report.html"
SUMMARY_JSON = "drift_summary.json"


class DriftDetected(RuntimeError):
    """More features drifted than the threshold allows (the Prefect flow fails with this)."""

    def __init__(self, summary: DriftSummary) -> None:
        super().__init__(summary.summary_line())
        self.summary = summary


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: str  # numerical | categorical
    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass
class DriftSummary:
    """What `reports/drift_summary.json` holds."""

    model_version: str
    reference_rows: int
    current_rows: int
    share_threshold: float
    features: list[ColumnDrift]
    prediction: ColumnDrift | None
    reference_window: tuple[str, str] = ("", "")
    current_cutoff: str = ""
    html: str = ""
    snapshot: object | None = field(default=None, repr=False)  # Evidently's, for the HTML

    @property
    def drifted_features(self) -> list[str]:
        return [c.column for c in self.features if c.drifted]

    @property
    def drift_share(self) -> float:
        return len(self.drifted_features) / len(self.features) if self.features else 0.0

    @property
    def alarm(self) -> bool:
        return self.drift_share > self.share_threshold

    def summary_line(self) -> str:
        prediction = (
            f"; prediction {'drifted' if self.prediction.drifted else 'stable'} "
            f"({self.prediction.method} {self.prediction.score:.3f})"
            if self.prediction
            else ""
        )
        drifted = ", ".join(self.drifted_features) or "none"
        verdict = "ALARM" if self.alarm else "ok"
        return (
            f"drift {verdict}: {len(self.drifted_features)}/{len(self.features)} features "
            f"drifted (share {self.drift_share:.2f}, threshold {self.share_threshold:.2f}: "
            f"{drifted}){prediction} vs champion v{self.model_version}'s latest cutoffs"
        )

    def as_dict(self) -> dict:
        return {
            "model_version": self.model_version,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "reference_window": list(self.reference_window),
            "current_cutoff": self.current_cutoff,
            "drift_share": self.drift_share,
            "share_threshold": self.share_threshold,
            "alarm": self.alarm,
            "drifted_features": self.drifted_features,
            "features": [asdict(c) for c in self.features],
            "prediction": asdict(self.prediction) if self.prediction else None,
            "html": self.html,
        }


def column_kinds(frame: pd.DataFrame, feature_columns: list[str]) -> tuple[list[str], list[str]]:
    """(numerical, categorical) by the model's own rule, so drift and training agree."""
    return churn_models.split_columns(frame, feature_columns)


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return frame.sample(n=rows, random_state=seed) if len(frame) > rows else frame


def compare_distributions(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    feature_columns: list[str],
    *,
    prediction_column: str | None = PREDICTION_COLUMN,
    max_rows: int = MAX_ROWS_PER_SIDE,
    seed: int = 0,
):
    """Run Evidently's drift preset with tests; returns (snapshot, per-column verdicts)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = list(feature_columns)
    if prediction_column:
        columns.append(prediction_column)
    missing = [
        f"{side} lacks {column!r}"
        for side, frame in (("reference", reference), ("current", current))
        for column in columns
        if column not in frame
    ]
    if missing:
        raise ValueError(f"drift comparison: {'; '.join(missing)}")
    numerical, categorical = column_kinds(reference, columns)
    prepared = []
    for frame in (reference, current):
        part = _sample(frame[columns], max_rows, seed).copy()
        for column in numerical:
            part[column] = pd.to_numeric(part[column], errors="coerce").astype("float64")
        for column in categorical:
            part[column] = part[column].astype("object").where(part[column].notna(), "unknown")
        prepared.append(part.reset_index(drop=True))
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    preset = DataDriftPreset(
        num_method=NUMERICAL_METHOD, cat_method=CATEGORICAL_METHOD, threshold=COLUMN_THRESHOLD
    )
    snapshot = Report([preset], include_tests=True).run(
        current_data=Dataset.from_pandas(prepared[1], data_definition=definition),
        reference_data=Dataset.from_pandas(prepared[0], data_definition=definition),
    )
    return snapshot, column_verdicts(snapshot.dict(), set(categorical)), prepared


def column_verdicts(report: dict, categorical: set[str]) -> dict[str, ColumnDrift]:
    """Each column's method, score and threshold from its ValueDrift metric, and its verdict
    from the test bound to that metric (Evidently's metrics carry no drift flag)."""
    statuses = {
        test["metric_config"]["metric_id"]: test["status"]
        for test in report["tests"]
        if "metric_id" in test.get("metric_config", {})
    }
    verdicts = {}
    for metric in report["metrics"]:
        config = metric.get("config", {})
        if not config.get("type", "").endswith("ValueDrift"):
            continue
        column = config["column"]
        if metric["id"] not in statuses:
            raise ValueError(f"Evidently returned no drift test for column {column!r}")
        verdicts[column] = ColumnDrift(
            column=column,
            kind="categorical" if column in categorical else "numerical",
            method=str(config["method"]),
            score=float(metric["value"]),
            threshold=float(config["threshold"]),
            drifted=statuses[metric["id"]] == "FAIL",
        )
    return verdicts


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    feature_columns: list[str],
    *,
    share_threshold: float,
    model_version: str = "",
    prediction_column: str | None = PREDICTION_COLUMN,
) -> DriftSummary:
    """Compare two feature frames (and the prediction column when given). Pure: nothing is
    written until `write_drift_report`."""
    snapshot, verdicts, prepared = compare_distributions(
        reference, current, feature_columns, prediction_column=prediction_column
    )
    return DriftSummary(
        model_version=model_version,
        reference_rows=len(prepared[0]),
        current_rows=len(prepared[1]),
        share_threshold=share_threshold,
        features=[verdicts[column] for column in feature_columns],
        prediction=verdicts.get(prediction_column) if prediction_column else None,
        snapshot=snapshot,
    )


def write_drift_report(summary: DriftSummary, out_dir: Path) -> DriftSummary:
    """`drift_report.html` (Evidently's, self-contained) and `drift_summary.json` in `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if summary.snapshot is not None:
        summary.snapshot.save_html(str(out_dir / REPORT_HTML))
        summary.html = str(out_dir / REPORT_HTML)
        summary.snapshot = None  # written; the summary stays small enough to pass around
    (out_dir / SUMMARY_JSON).write_text(json.dumps(summary.as_dict(), indent=2) + "\n")
    return summary


def run_drift_check(
    settings: Settings, endpoints: Endpoints, *, out_dir: Path | None = None
) -> DriftSummary:
    """The champion's latest cutoffs (its test rows) against today's scoring snapshot, with the
    champion's predicted churn probability on both; writes the report and the summary."""
    from ecom.monitoring.champion import load_champion_run

    champion = load_champion_run(settings)
    reference = champion.drift_reference_features()
    current = read_scoring_features(endpoints.database_url)
    numeric, categorical = churn_models.model_input_columns(champion.model)
    feature_columns = [*numeric, *categorical]
    reference = reference.assign(
        **{PREDICTION_COLUMN: churn_models.predict_churn(champion.model, reference)}
    )
    current = current.assign(
        **{PREDICTION_COLUMN: churn_models.predict_churn(champion.model, current)}
    )
    summary = detect_drift(
        reference, current, feature_columns,
        share_threshold=settings.drift_share_threshold, model_version=champion.version,
    )  # fmt: skip
    stamps = pd.to_datetime(reference["event_timestamp"], utc=True)
    summary.reference_window = (stamps.min().date().isoformat(), stamps.max().date().isoformat())
    summary.current_cutoff = str(pd.to_datetime(current["cutoff_date"]).max().date())
    write_drift_report(summary, out_dir or settings.reports_dir)
    log.info("%s", summary.summary_line())
    return summary
