"""The experiment stage as plain functions over the warehouse: analyse, write the JSON and the
chart under reports/, write the design doc and the decision memo under docs/. With no
experiment in the marts each says so in its output instead of failing."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ecom.experiments.analysis import ALPHA, ExperimentAnalysis, analyze_experiment, choose_arms
from ecom.experiments.data import (
    NoExperimentError,
    funnel_rates,
    load_results,
    resolve_experiment_id,
)
from ecom.experiments.design import (
    DESIGN_METRICS,
    POWER,
    Baseline,
    funnel_baselines,
    minimum_detectable_effect,
    revenue_baseline,
    sample_size,
)
from ecom.experiments.memo import (
    DesignSummary,
    decision_memo,
    design_document,
    no_experiment_memo,
)
from ecom.experiments.plot import plot_lifts

DESIGN_MDES = (0.02, 0.05, 0.10)
DESIGN_DOC = "ab_test_design.md"
DECISION_MEMO = "decision_memo.md"


@dataclass(frozen=True)
class ExperimentReport:
    experiment_id: str | None
    analysis: ExperimentAnalysis | None
    message: str
    json_path: Path
    plot_path: Path | None

    def summary_line(self) -> str:
        """The pipeline summary's line: the verdict and its reason, or why there is none."""
        if self.analysis is None:
            return f"no experiment analysed: {self.message}"
        verdict = self.analysis.verdict
        return f"{self.experiment_id}: {verdict.decision} ({verdict.reason}); {self.json_path}"


def analyze_from_warehouse(database_url: str, experiment_id: str | None) -> ExperimentAnalysis:
    """Analyse `experiment_id` (default: the newest); raises NoExperimentError when absent."""
    experiment_id = resolve_experiment_id(database_url, experiment_id)
    return analyze_experiment(load_results(database_url, experiment_id), experiment_id)


def _json_safe(value: object) -> object:
    """NaN and infinity as null: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def write_analysis_report(
    database_url: str, experiment_id: str | None, reports_dir: Path
) -> ExperimentReport:
    """reports/experiment_<id>.json and .png, or reports/experiment_none.json saying why not."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    try:
        analysis = analyze_from_warehouse(database_url, experiment_id)
    except NoExperimentError as error:
        path = reports_dir / "experiment_none.json"
        payload = {"status": "no experiment", "reason": str(error)}
        path.write_text(json.dumps(payload, indent=2) + "\n")
        return ExperimentReport(None, None, str(error), path, None)
    stem = f"experiment_{analysis.experiment_id}"
    path = reports_dir / f"{stem}.json"
    payload = {"status": "analysed", **analysis.to_dict()}
    path.write_text(json.dumps(_json_safe(payload), indent=2, allow_nan=False) + "\n")
    plot = plot_lifts(analysis, reports_dir / f"{stem}.png")
    return ExperimentReport(analysis.experiment_id, analysis, analysis.verdict.reason, path, plot)


def design_baselines(
    database_url: str, experiment_id: str | None
) -> tuple[dict[str, Baseline], pd.DataFrame | None, str | None]:
    """The design metrics' baselines; revenue per user only when an experiment exists."""
    baselines = funnel_baselines(funnel_rates(database_url))
    try:
        experiment_id = resolve_experiment_id(database_url, experiment_id)
    except NoExperimentError:
        return baselines, None, None
    frame = load_results(database_url, experiment_id)
    control, _ = choose_arms(sorted(frame["variant"].unique()))
    baselines["revenue_per_user"] = revenue_baseline(frame, control, experiment_id)
    return baselines, frame, experiment_id


def design_summary(
    database_url: str,
    experiment_id: str | None = None,
    *,
    alpha: float = ALPHA,
    power: float = POWER,
    mdes: tuple[float, ...] = DESIGN_MDES,
) -> DesignSummary:
    """Baselines, the sample sizes for each MDE, and what the running test can detect."""
    baselines, frame, experiment_id = design_baselines(database_url, experiment_id)
    plans = [
        sample_size(baselines[metric], mde, alpha=alpha, power=power)
        for metric in DESIGN_METRICS
        if metric in baselines and baselines[metric].variance > 0
        for mde in mdes
    ]
    if frame is None:
        return DesignSummary(alpha, power, list(baselines.values()), plans)
    units = {
        "checkout_conversion": int(frame["reached_cart"].sum()),
        "add_to_cart_rate": len(frame),
        "revenue_per_user": len(frame),
    }
    exposed = pd.to_datetime(frame["first_exposed_at"], utc=True)
    ends = pd.to_datetime(frame["analysis_window_ended_at"], utc=True)
    return DesignSummary(
        alpha,
        power,
        list(baselines.values()),
        plans,
        experiment_id=experiment_id,
        experiment_units=units,
        experiment_mde={
            metric: minimum_detectable_effect(baselines[metric], count, alpha=alpha, power=power)
            for metric, count in units.items()
            if baselines[metric].variance > 0
        },
        experiment_days=int((ends.max() - exposed.min()).ceil("D").days),
    )


def write_docs(database_url: str, experiment_id: str | None, docs_dir: Path) -> tuple[Path, Path]:
    """docs/ab_test_design.md and docs/decision_memo.md from the design and the analysis."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    design_path = docs_dir / DESIGN_DOC
    design_path.write_text(design_document(design_summary(database_url, experiment_id)))
    memo_path = docs_dir / DECISION_MEMO
    try:
        analysis = analyze_from_warehouse(database_url, experiment_id)
    except NoExperimentError as error:
        memo_path.write_text(no_experiment_memo(str(error)))
    else:
        memo_path.write_text(decision_memo(analysis))
    return design_path, memo_path
