"""Train the churn models on a Feast training set and choose the one to register.

One call does the whole job the way a reviewer wants to read it back: the point-in-time
training set from the `churn_v1` feature service, a time-ordered split by cutoff (embargoed at
both boundaries), a baseline and three XGBoost variants (plain, scale_pos_weight, SMOTE)
chosen between on validation, test metrics for all (the test cutoffs only report and gate),
then the champion gate (`gate`), and registration as a new version of
`churn_prediction_advanced` last, after every check passed. What the run records is
`tracking`'s job, the plots `diagnostics`', the ceiling the generator's truth gives `oracle`'s.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from ecom.churn import models as churn_models
from ecom.churn import tracking
from ecom.churn.diagnostics import log_diagnostics
from ecom.churn.evaluation import best_f1_threshold, classification_metrics
from ecom.churn.gate import ChampionDecision, judge_challenger
from ecom.churn.oracle import (
    check_truth_matches,
    loaded_data_fingerprint,
    log_oracle_auc,
    oracle_ratios,
)
from ecom.churn.registry import MODEL_NAME, ModelRegistry, configure_tracking
from ecom.churn.split import SplitData, apply_cutoff_split, plan_cutoff_split
from ecom.config import Settings
from ecom.features.store import (
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    FEATURE_SERVICE,
    LABEL_COLUMN,
    feature_service_columns,
    training_frame,
)
from ecom.quality.verdicts import latest_verdict
from ecom.services import Endpoints

log = logging.getLogger(__name__)

SELECTION_METRIC = "roc_auc"
ALL_CANDIDATES = (churn_models.BASELINE, *churn_models.XGBOOST_VARIANTS)


@dataclass
class CandidateResult:
    name: str
    run_id: str
    validation: dict[str, float]
    test: dict[str, float]
    params: dict = field(default_factory=dict)


@dataclass
class TrainingResult:
    """What one training run produced and decided."""

    run_id: str
    experiment_id: str
    feature_service: str
    features: list[str]
    rows: dict[str, int]
    windows: dict[str, tuple[str, str]]
    candidates: dict[str, CandidateResult]
    selected: str
    model_name: str
    model_version: str
    decision: ChampionDecision
    champion_version: str
    oracle_auc: float | None = None
    seconds: float = 0.0

    @property
    def promoted(self) -> bool:
        return self.decision.promote

    @property
    def test_auc(self) -> float:
        return self.candidates[self.selected].test["roc_auc"]

    @property
    def baseline_test_auc(self) -> float:
        return self.candidates[churn_models.BASELINE].test["roc_auc"]

    @property
    def oracle_ratio(self) -> float | None:
        return self.test_auc / self.oracle_auc if self.oracle_auc else None

    @property
    def oracle_lift_ratio(self) -> float | None:
        if not self.oracle_auc:
            return None
        return oracle_ratios(self.test_auc, self.oracle_auc)["model_to_oracle_lift_ratio"]

    def summary_line(self) -> str:
        line = (
            f"{self.model_name} v{self.model_version} ({self.selected}): test AUC "
            f"{self.test_auc:.3f}"
        )
        if churn_models.BASELINE in self.candidates:
            line += f" vs baseline {self.baseline_test_auc:.3f}"
        if self.oracle_auc is not None:
            line += (
                f", oracle {self.oracle_auc:.3f} (AUC/oracle {self.oracle_ratio:.2f}, "
                f"lift/oracle lift {self.oracle_lift_ratio:.2f})"
            )
        verdict = "promoted" if self.promoted else "kept"
        return f"{line}; champion v{self.champion_version} ({verdict})"


def prepare_splits(
    settings: Settings, frame: pd.DataFrame, feature_columns: list[str]
) -> SplitData:
    """Split the training set by cutoff (embargoed by the label horizon) into model inputs and
    labels; refuse a frame without the training set's columns or a split of one class."""
    required = (ENTITY_KEY, EVENT_TIMESTAMP, LABEL_COLUMN, *feature_columns)
    missing = [c for c in required if c not in frame]
    if missing:
        raise ValueError(f"training frame lacks column(s) {', '.join(missing)}")
    split = plan_cutoff_split(
        frame[EVENT_TIMESTAMP], embargo=timedelta(days=settings.label_horizon_days)
    )
    parts = apply_cutoff_split(frame, split, EVENT_TIMESTAMP)
    for name, part in parts.items():
        if part[LABEL_COLUMN].nunique() < 2:
            raise ValueError(f"the {name} split ({split.window(name)}) holds only one class")
    numeric, categorical = churn_models.split_columns(frame, feature_columns)
    x = {
        name: churn_models.feature_matrix(part, numeric, categorical)
        for name, part in parts.items()
    }
    y = {name: part[LABEL_COLUMN].to_numpy().astype(int) for name, part in parts.items()}
    log.info(
        "split by cutoff: train %d rows (%s..%s), validation %d, test %d, %d cutoffs embargoed",
        len(x["train"]),
        *split.window("train"),
        len(x["validation"]),
        len(x["test"]),
        len(split.embargoed),
    )
    return SplitData(split, parts, x, y, numeric, categorical)


def _fit_candidate(name: str, data: SplitData) -> churn_models.FittedCandidate:
    rows = churn_models.FitRows(
        data.x["train"],
        data.y["train"],
        data.x["validation"],
        data.y["validation"],
        data.numeric,
        data.categorical,
    )
    if name == churn_models.BASELINE:
        return churn_models.fit_baseline(rows)
    return churn_models.fit_xgboost(name, rows)


def _train_candidate(
    name: str, data: SplitData
) -> tuple[CandidateResult, churn_models.FittedCandidate, np.ndarray]:
    """Fit one candidate in its own nested MLflow run; the decision threshold (best F1) is
    chosen on validation and applied unchanged to test."""
    with mlflow.start_run(run_name=name, nested=True) as child:
        began = time.perf_counter()
        candidate = _fit_candidate(name, data)
        validation_scores = churn_models.churn_probability(candidate.model, data.x["validation"])
        threshold = best_f1_threshold(data.y["validation"], validation_scores)
        test_scores = churn_models.churn_probability(candidate.model, data.x["test"])
        validation = classification_metrics(data.y["validation"], validation_scores, threshold)
        test = classification_metrics(data.y["test"], test_scores, threshold)
        mlflow.log_params(
            {"candidate": name, "feature_service": FEATURE_SERVICE, **candidate.params}
        )
        mlflow.log_metrics({f"val_{k}": v for k, v in validation.items()})
        mlflow.log_metrics({f"test_{k}": v for k, v in test.items()})
        seconds = time.perf_counter() - began
        mlflow.log_metric("fit_seconds", seconds)
        log.info(
            "%s: validation AUC %.4f, test AUC %.4f (%.1f s)",
            name,
            validation["roc_auc"],
            test["roc_auc"],
            seconds,
        )
        result = CandidateResult(name, child.info.run_id, validation, test, candidate.params)
        return result, candidate, test_scores


def _select(results: dict[str, CandidateResult]) -> str:
    """The XGBoost variant best on validation: the test cutoffs never choose, they only report
    and gate. The baseline is a yardstick, never registered."""
    xgboost_names = [name for name in results if name in churn_models.XGBOOST_VARIANTS]
    selected = max(xgboost_names, key=lambda name: results[name].validation[SELECTION_METRIC])
    mlflow.log_param("selected_candidate", selected)
    mlflow.log_metrics({f"test_{k}": v for k, v in results[selected].test.items()})
    if churn_models.BASELINE in results:
        mlflow.log_metric("baseline_test_roc_auc", results[churn_models.BASELINE].test["roc_auc"])
    return selected


def _check_inputs(
    candidates: tuple[str, ...], truth_dir: Path | None, loaded_fingerprint: dict[str, int] | None
) -> None:
    if truth_dir is not None:
        if loaded_fingerprint is None:
            raise ValueError("an oracle comparison needs the loaded data's fingerprint")
        check_truth_matches(Path(truth_dir), loaded_fingerprint)
    if not any(name in churn_models.XGBOOST_VARIANTS for name in candidates):
        raise ValueError("candidates must include at least one XGBoost variant to register")


def train_on_frame(
    settings: Settings,
    frame: pd.DataFrame,
    feature_columns: list[str],
    *,
    truth_dir: Path | None = None,
    loaded_fingerprint: dict[str, int] | None = None,
    candidates: tuple[str, ...] = ALL_CANDIDATES,
    refusal: str | None = None,
) -> TrainingResult:
    """Everything after data retrieval: split, fit, evaluate, log, decide, register.

    Separate from `train_churn_models` so a test (or a notebook) can train on any frame with
    the training set's columns. With `truth_dir`, `loaded_fingerprint` (of the data the frame
    came from) is required and checked against the truth folder before anything is fitted.
    A `refusal` (the gate failed on the data) registers the model but never crowns it."""
    started = time.perf_counter()
    _check_inputs(candidates, truth_dir, loaded_fingerprint)
    data = prepare_splits(settings, frame, feature_columns)
    experiment_id = configure_tracking(settings.tracking_uri, settings.artifact_root.as_uri())
    registry = ModelRegistry.at(settings.tracking_uri)
    results: dict[str, CandidateResult] = {}
    fitted: dict[str, churn_models.FittedCandidate] = {}
    test_scores: dict[str, np.ndarray] = {}
    with mlflow.start_run(run_name="churn-training") as parent:
        tracking.log_training_inputs(settings, frame, feature_columns, data, SELECTION_METRIC)
        for name in candidates:
            results[name], fitted[name], test_scores[name] = _train_candidate(name, data)
        selected = _select(results)
        test_metrics = results[selected].test
        log_diagnostics(data, selected, fitted[selected], test_metrics["threshold"], test_scores)
        tracking.log_reference(data, list(feature_columns), test_scores[selected])
        model_uri = tracking.log_chosen_model(fitted[selected], data.x["test"].head(5))
        incumbent = registry.champion_version()
        decision = judge_challenger(
            settings,
            incumbent,
            data.y["test"],
            data.x["test"],
            data.parts["test"][ENTITY_KEY].to_numpy(),
            test_scores[selected],
            test_metrics[SELECTION_METRIC],
            refusal,
        )
        oracle_auc = None
        if truth_dir is not None:
            oracle_auc = log_oracle_auc(
                Path(truth_dir),
                data.parts["test"],
                data.y["test"],
                test_metrics["roc_auc"],
                settings.label_horizon_days,
            )
        # Last, once every check above has passed: a failure before this line registers nothing.
        version = tracking.publish(registry.client, model_uri, decision, test_metrics["roc_auc"])

    return TrainingResult(
        run_id=parent.info.run_id,
        experiment_id=experiment_id,
        feature_service=FEATURE_SERVICE,
        features=list(feature_columns),
        rows={name: len(part) for name, part in data.parts.items()},
        windows={name: data.split.window(name) for name in data.parts},
        candidates=results,
        selected=selected,
        model_name=MODEL_NAME,
        model_version=version,
        decision=decision,
        champion_version=version if decision.promote else str(incumbent),
        oracle_auc=oracle_auc,
        seconds=time.perf_counter() - started,
    )


def train_churn_models(
    settings: Settings, endpoints: Endpoints, *, truth_dir: Path | None = None
) -> TrainingResult:
    """Build the point-in-time training set through Feast and run `train_on_frame` on it."""
    loaded = loaded_data_fingerprint(endpoints.database_url) if truth_dir is not None else None
    if truth_dir is not None:
        check_truth_matches(Path(truth_dir), loaded)  # before the slow part
    verdict = latest_verdict(endpoints.database_url)
    refusal = verdict.refusal() if verdict is not None else None
    if verdict is None:
        log.warning("the quality gate never checked the load in raw: run `ecom quality` first")
    elif refusal is not None:
        log.warning("training anyway, but the new model will not be crowned: %s", refusal)
    frame = training_frame(settings, endpoints)
    features = feature_service_columns(settings, endpoints)
    return train_on_frame(
        settings, frame, features, truth_dir=truth_dir, loaded_fingerprint=loaded, refusal=refusal
    )
