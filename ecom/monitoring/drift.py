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
`COLUMN_THRESHOLD`), and counts as drifted only when a two-sample test also says the difference
is not sampling noise (`column_drift`: on a few hundred users a side, two draws of one process
sit at distances up to 0.28), so the verdict means the same on a 3,000-user world and on 100k.
Both sides are sampled to at most `MAX_ROWS_PER_SIDE` rows, which keeps the run to seconds.

How many drifted features make an alarm is not one fixed share, and a feature whose history
moves more than 0.1 at this lag has a higher bar than 0.1: `ecom.monitoring.drift_history`
calibrates both on the data's own history of change at the same lag, and new users (a sign-up
burst) are compared apart. The summary, its JSON and the top of the HTML report say how.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ecom.churn import models as churn_models
from ecom.churn.scoring import read_scoring_features
from ecom.config import Settings
from ecom.library_warnings import library_warnings_ignored
from ecom.monitoring.column_drift import (
    CATEGORICAL_METHOD,
    COLUMN_THRESHOLD,
    NUMERICAL_METHOD,
    SIGNIFICANCE,
    ColumnScore,
    column_scores,
    comparable,
    is_drifted,
    over_threshold,
    p_value,
)
from ecom.monitoring.drift_history import DriftCalibration
from ecom.services import Endpoints

log = logging.getLogger(__name__)

PREDICTION_COLUMN = "churn_probability"
MAX_ROWS_PER_SIDE = 20_000
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
    drifted: bool  # the distance over its threshold and the two-sample test significant
    p_value: float | None = None
    significance: float = SIGNIFICANCE


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
    calibration: DriftCalibration | None = None
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
            + (f"; {self.calibration.describe()}" if self.calibration else "")
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
            "calibration": self.calibration.as_dict() if self.calibration else None,
        }


def column_kinds(frame: pd.DataFrame, feature_columns: list[str]) -> tuple[list[str], list[str]]:
    """(numerical, categorical) by the model's own rule, so drift and training agree."""
    return churn_models.split_columns(frame, feature_columns)


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return frame.sample(n=rows, random_state=seed) if len(frame) > rows else frame


def prepare_sides(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    max_rows: int = MAX_ROWS_PER_SIDE,
    seed: int = 0,
) -> tuple[list[pd.DataFrame], list[str], list[str]]:
    """Both sides sampled and typed as the drift check reads them: numbers as floats, a
    missing category as "unknown". Returns ([reference, current], numerical, categorical)."""
    numerical, categorical = column_kinds(reference, columns)
    prepared = []
    for frame in (reference, current):
        part = _sample(frame[columns], max_rows, seed).copy()
        for column in numerical:
            part[column] = pd.to_numeric(part[column], errors="coerce").astype("float64")
        for column in categorical:
            part[column] = part[column].astype("object").where(part[column].notna(), "unknown")
        prepared.append(part.reset_index(drop=True))
    return prepared, numerical, categorical


def fast_column_verdicts(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    feature_columns: list[str],
    significance: float = SIGNIFICANCE,
) -> dict[str, ColumnScore]:
    """Each feature's score, p-value and verdict as the live check judges it, without building
    a report: Evidently's stat tests on the same prepared sides (for the history's many pairs)."""
    prepared, numerical, categorical = prepare_sides(reference, current, feature_columns)
    return column_scores(*prepared, numerical, categorical, COLUMN_THRESHOLD, significance)


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
    with library_warnings_ignored():
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
    prepared, numerical, categorical = prepare_sides(reference, current, columns, max_rows, seed)
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


def confirm_with_tests(
    verdicts: dict[str, ColumnDrift], prepared: list[pd.DataFrame], significance: float
) -> dict[str, ColumnDrift]:
    """Each distance verdict with its column's two-sample p-value on the same sampled rows; a
    column stays drifted only when the test is significant too."""
    confirmed = {}
    for column, verdict in verdicts.items():
        p = p_value(verdict.kind, *(comparable(frame[column]) for frame in prepared))
        confirmed[column] = replace(
            verdict,
            p_value=p,
            significance=significance,
            drifted=is_drifted(verdict.drifted, p, significance),
        )
    return confirmed


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    feature_columns: list[str],
    *,
    share_threshold: float,
    model_version: str = "",
    prediction_column: str | None = PREDICTION_COLUMN,
    significance: float = SIGNIFICANCE,
    column_thresholds: dict[str, float] | None = None,
) -> DriftSummary:
    """Compare two feature frames (and the prediction column when given): Evidently's distance
    verdicts, each confirmed by its two-sample test (`column_drift`), and judged against the
    feature's own calibrated threshold where `column_thresholds` gives one. Pure: nothing is
    written until `write_drift_report`."""
    snapshot, verdicts, prepared = compare_distributions(
        reference, current, feature_columns, prediction_column=prediction_column
    )
    verdicts = confirm_with_tests(verdicts, prepared, significance)
    for column, threshold in (column_thresholds or {}).items():
        verdict = verdicts[column]
        verdicts[column] = replace(
            verdict,
            threshold=threshold,
            drifted=over_threshold(verdict, threshold, significance),
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
        _prepend_verdict(out_dir / REPORT_HTML, summary)
        summary.html = str(out_dir / REPORT_HTML)
        summary.snapshot = None  # written; the summary stays small enough to pass around
    (out_dir / SUMMARY_JSON).write_text(json.dumps(summary.as_dict(), indent=2) + "\n")
    return summary


def _shares_text(shares: list[tuple[str, float]]) -> str:
    """Historical shares as the report lists them ("cutoff share, ..."), escaped, or "none"."""
    import html

    return html.escape(", ".join(f"{cutoff} {share:.2f}" for cutoff, share in shares)) or "none"


def _prepend_verdict(path: Path, summary: DriftSummary) -> None:
    """Put the verdict and how its threshold was set at the top of Evidently's page."""
    import html

    calibration = summary.calibration
    significance = summary.features[0].significance if summary.features else SIGNIFICANCE
    noise = ", ".join(
        c.column for c in summary.features if c.score >= c.threshold and not c.drifted
    )
    # Evidently's own verdicts below judge every column at its one distance threshold; these
    # passed it but not the bar their history gave them, so the page says which and why.
    within_history = ", ".join(
        f"{c.column} {c.score:.3f} (bar {c.threshold:.3f})"
        for c in summary.features
        if COLUMN_THRESHOLD <= c.score < c.threshold
    )
    block = (
        '<div style="font-family:sans-serif;padding:12px;border-bottom:1px solid #ccc">'
        f"<h2>{html.escape(summary.summary_line())}</h2>"
        + (
            f"<p>A column counts as drifted when its distance reaches its threshold (Evidently's "
            f"verdicts below use {COLUMN_THRESHOLD:g}; each feature's own, calibrated on its "
            f"history, is in drift_summary.json) and its two-sample test (Kolmogorov-Smirnov, chi-square) gives "
            f"p &lt; {significance:g}: a distance within sampling noise is not "
            f"drift (over the distance threshold but within noise: {html.escape(noise) or 'none'})."
            f" Over {COLUMN_THRESHOLD:g} but within what their history moved at this lag (so "
            f"Evidently counts them below, this check does not): "
            f"{html.escape(within_history) or 'none'}."
            f" How the threshold was set: {html.escape(calibration.describe())}. Historical "
            f"shares (cutoff: share drifted against its window at the same lag): "
            f"{_shares_text(calibration.history_shares)}; the same season in earlier years: "
            f"{_shares_text(calibration.seasonal_shares)}. New users (tenure under "
            f"{calibration.established_tenure_days} days) compared apart: "
            f"{html.escape(str(calibration.new_users_set_aside))}.</p>"
            if calibration
            else ""
        )
        + "</div>"
    )
    page = path.read_text(encoding="utf-8")
    at = page.find(">", page.find("<body")) + 1 if "<body" in page else 0
    path.write_text(page[:at] + block + page[at:], encoding="utf-8")


def calibrate(
    settings: Settings,
    database_url: str,
    feature_columns: list[str],
    reference_window: tuple[date, date],
    current_cutoff: date,
    *,
    threshold: float | None = None,
) -> DriftCalibration:
    """The alarm threshold: `threshold`, else ECOM_DRIFT_SHARE_THRESHOLD, else calibrated on
    the features mart's history at the live check's lag and on the same season a year back
    (see `drift_history`)."""
    from ecom.monitoring import drift_history

    explicit = threshold if threshold is not None else settings.drift_share_threshold
    common = {
        "floor": settings.drift_share_floor,
        "quantile": settings.drift_history_quantile,
        "margin": settings.drift_history_margin,
    }
    if explicit is not None:
        return DriftCalibration(method="override", threshold=float(explicit), **common)

    def compare(reference: pd.DataFrame, current: pd.DataFrame) -> dict:
        return fast_column_verdicts(
            reference, current, feature_columns, settings.drift_column_significance
        )

    scored = {}
    for table, analogs_at in (
        (drift_history.FEATURES_TABLE, drift_history.same_lag_analogs),
        (drift_history.SEASONAL_TABLE, drift_history.seasonal_analogs),
    ):
        cutoffs = drift_history.history_cutoffs(database_url, table)
        analogs = analogs_at(cutoffs, reference_window, current_cutoff)
        scored[table] = []
        if analogs:
            history = drift_history.read_history(
                database_url, min(a[1] for a in analogs), analogs[-1][0], table
            )
            scored[table] = drift_history.history_scores(history, analogs, compare)
    thresholds = drift_history.column_thresholds(
        [*scored[drift_history.FEATURES_TABLE], *scored[drift_history.SEASONAL_TABLE]],
        feature_columns,
        quantile=common["quantile"],
        margin=settings.drift_column_margin,
    )
    histories = {}
    for table, table_scored in scored.items():
        shares = drift_history.history_shares(
            table_scored, feature_columns, thresholds, settings.drift_column_significance
        )
        histories[table] = shares, drift_history.calibrated_threshold(
            [share for _, share in shares],
            quantile=common["quantile"], margin=common["margin"], floor=common["floor"],
        )  # fmt: skip
    recent, (recent_threshold, recent_high) = histories[drift_history.FEATURES_TABLE]
    seasonal, (seasonal_threshold, seasonal_high) = histories[drift_history.SEASONAL_TABLE]
    return DriftCalibration(
        method="history",
        threshold=max(recent_threshold, seasonal_threshold),
        history_quantile_share=recent_high,
        history_shares=recent,
        seasonal_quantile_share=seasonal_high,
        seasonal_shares=seasonal,
        column_margin=settings.drift_column_margin,
        column_thresholds=thresholds,
        **common,
    )


def check_snapshot(
    settings: Settings,
    database_url: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    feature_columns: list[str],
    *,
    threshold: float | None = None,
    model_version: str = "",
    predict: Callable[[pd.DataFrame], np.ndarray] | None = None,
) -> DriftSummary:
    """Reference rows (with `event_timestamp`) against the scoring snapshot (`cutoff_date`),
    new users set aside on both sides, `predict`'s churn probability compared too when given;
    the alarm threshold is `threshold` if given, else calibrated (`calibrate`). Pure apart from
    reading the features mart's history: nothing is written."""
    from ecom.monitoring.drift_history import established

    stamps = pd.to_datetime(reference["event_timestamp"], utc=True)
    window = (stamps.min().date(), stamps.max().date())
    current_cutoff = pd.to_datetime(current["cutoff_date"]).max().date()
    calibration = calibrate(
        settings, database_url, feature_columns, window, current_cutoff, threshold=threshold
    )
    kept = established(reference), established(current)
    calibration.new_users_set_aside = {
        "reference": len(reference) - len(kept[0]),
        "current": len(current) - len(kept[1]),
    }
    if predict is not None:
        kept = tuple(frame.assign(**{PREDICTION_COLUMN: predict(frame)}) for frame in kept)
    summary = detect_drift(
        kept[0], kept[1], feature_columns, share_threshold=calibration.threshold,
        model_version=model_version, prediction_column=PREDICTION_COLUMN if predict else None,
        significance=settings.drift_column_significance,
        column_thresholds=calibration.column_thresholds,
    )  # fmt: skip
    summary.calibration = calibration
    summary.reference_window = (window[0].isoformat(), window[1].isoformat())
    summary.current_cutoff = current_cutoff.isoformat()
    return summary


def run_drift_check(
    settings: Settings,
    endpoints: Endpoints,
    *,
    out_dir: Path | None = None,
    threshold: float | None = None,
) -> DriftSummary:
    """The champion's latest cutoffs (its test rows) against today's scoring snapshot, with the
    champion's predicted churn probability on both (`check_snapshot`); writes the report and
    the summary."""
    from ecom.monitoring.champion import load_champion_run

    champion = load_champion_run(settings)
    numeric, categorical = churn_models.model_input_columns(champion.model)
    summary = check_snapshot(
        settings,
        endpoints.database_url,
        champion.drift_reference_features(),
        read_scoring_features(endpoints.database_url),
        [*numeric, *categorical],
        threshold=threshold,
        model_version=champion.version,
        predict=lambda frame: churn_models.predict_churn(champion.model, frame),
    )
    write_drift_report(summary, out_dir or settings.reports_dir)
    log.info("%s", summary.summary_line())
    return summary
