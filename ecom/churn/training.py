"""Train the churn models on a Feast training set, track them in MLflow, crown a champion.

One call does the whole job the way a reviewer wants to read it back: the point-in-time
training set from the `churn_v1` feature service, a time-ordered split by cutoff (embargoed at
both boundaries), a baseline and three XGBoost variants (plain, scale_pos_weight, SMOTE)
chosen between on validation, test metrics for all (the test cutoffs only report and gate),
and the champion gate: the current champion is re-scored on the same test rows and the
`champion` alias moves only on a paired, user-clustered bootstrap of the AUC and Brier
differences. The chosen XGBoost is registered as a new version of `churn_prediction_advanced`
last, after every check passed. With the generator's truth folder (checked against the loaded
data by its fingerprint), the oracle AUC says how much signal the model found.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient
from sklearn.metrics import roc_auc_score

from ecom.churn import models as churn_models
from ecom.churn.evaluation import (
    best_f1_threshold,
    classification_metrics,
    frame_fingerprint,
    metric_interval,
    paired_bootstrap,
    plot_calibration,
    plot_confusion_matrix,
)
from ecom.churn.oracle import check_truth_matches, loaded_data_fingerprint, oracle_ratios
from ecom.churn.registry import (
    MODEL_NAME,
    ChampionDecision,
    champion_version,
    configure_tracking,
    decide_champion,
    publish_version,
)
from ecom.churn.split import CutoffSplit, apply_cutoff_split, plan_cutoff_split
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
SHAP_SAMPLE_ROWS = 2000
GATE_INTERVAL_SAMPLES = 500

# Artifacts monitoring reads back from the champion's run (drift reference, split, card).
REFERENCE_ARTIFACT_DIR = "reference"
REFERENCE_FEATURES_FILE = "training_features.parquet"
REFERENCE_PREDICTIONS_FILE = "test_predictions.parquet"
# The drift reference: the feature rows of the run's latest cutoffs (the test split), the rows
# closest in time to any later scoring snapshot. The training cutoffs end months earlier
# (validation, test and two embargoes lie between), and the seasonal cycle alone moves the
# engagement features past the drift distance over that gap.
DRIFT_REFERENCE_FILE = "drift_reference_features.parquet"
SPLIT_ARTIFACT = "split.json"


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

    def gate_line(self) -> str:
        """Both intervals of the champion gate, or why there was no comparison."""
        c = self.decision.comparison
        if c is None:
            return f"gate: {self.decision.reason}"
        return (
            f"gate vs v{self.decision.champion_version}: AUC gain {c.auc_difference:+.4f} "
            f"[{c.auc_difference_low:+.4f}, {c.auc_difference_high:+.4f}], Brier change "
            f"{c.brier_difference:+.4f} [{c.brier_difference_low:+.4f}, "
            f"{c.brier_difference_high:+.4f}] ({c.confidence:.0%} CIs, {c.users:,} users)"
        )

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

    def as_rich_table(self):
        from rich.table import Table

        table = Table(
            title=f"{self.model_name} v{self.model_version} "
            f"({'now champion' if self.promoted else f'champion stays v{self.champion_version}'})"
        )
        for column in ("candidate", "val AUC", "test AUC", "PR-AUC", "Brier", "top-10% lift"):
            table.add_column(column, justify="left" if column == "candidate" else "right")
        for name, candidate in self.candidates.items():
            marker = " *" if name == self.selected else ""
            table.add_row(
                name + marker,
                f"{candidate.validation['roc_auc']:.4f}",
                f"{candidate.test['roc_auc']:.4f}",
                f"{candidate.test['pr_auc']:.4f}",
                f"{candidate.test['brier']:.4f}",
                f"{candidate.test['lift_top_decile']:.2f}",
            )
        caption = self.gate_line()  # without a comparison it is the reason already
        if self.decision.comparison is not None:
            caption += f". {self.decision.reason}"
        if self.oracle_auc is not None:
            caption = (
                f"oracle AUC {self.oracle_auc:.4f}; AUC/oracle {self.oracle_ratio:.3f}, "
                f"(AUC-0.5)/(oracle-0.5) {self.oracle_lift_ratio:.3f}. {caption}"
            )
        table.caption = caption
        return table


def _xy(frame: pd.DataFrame, numeric: list[str], categorical: list[str]):
    return (
        churn_models.feature_matrix(frame, numeric, categorical),
        frame[LABEL_COLUMN].to_numpy().astype(int),
    )


def oracle_probabilities(truth_dir: Path, test: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """The generator's exact churn probability for each test (user, cutoff)."""
    from ecom.synth.truth import load_truth, true_churn_probability

    cutoffs = pd.to_datetime(test[EVENT_TIMESTAMP], utc=True).dt.tz_localize(None)
    return np.asarray(
        true_churn_probability(
            load_truth(Path(truth_dir)),
            test[ENTITY_KEY].to_numpy(),
            cutoffs.to_numpy(dtype="datetime64[ns]"),
            horizon_days=horizon_days,
        ),
        dtype=float,
    )


def _score_incumbent(version: str | None, x_test: pd.DataFrame) -> np.ndarray | None:
    """The current champion's churn probabilities on the new test cutoffs, or None if it
    cannot score them (for example a feature it was trained on no longer exists)."""
    if version is None:
        return None
    try:
        model = mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/{version}")
        return np.asarray(churn_models.predict_churn(model, x_test), dtype=float)
    except (KeyError, ValueError, OSError) as error:
        log.warning("champion v%s cannot score the new test set: %s", version, error)
        return None


def _log_shap(candidate: churn_models.FittedCandidate, x_test: pd.DataFrame, out: Path) -> dict:
    """SHAP summary (beeswarm) and bar plots of the chosen XGBoost, on a test sample."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    pipeline = churn_models.inner_pipeline(candidate.model)
    transform = pipeline.named_steps["preprocess"]
    sample = x_test.sample(n=min(SHAP_SAMPLE_ROWS, len(x_test)), random_state=0)
    encoded = pd.DataFrame(
        transform.transform(sample), columns=transform.get_feature_names_out(), index=sample.index
    )
    explainer = shap.TreeExplainer(pipeline.named_steps["model"])
    values = explainer.shap_values(encoded)
    for kind, filename in (("dot", "shap_summary.png"), ("bar", "shap_bar.png")):
        plt.figure()
        shap.summary_plot(values, encoded, plot_type=kind, show=False, max_display=20)
        plt.tight_layout()
        plt.savefig(out / filename, dpi=110)
        plt.close("all")
    importance = pd.Series(np.abs(values).mean(axis=0), index=encoded.columns)
    return importance.sort_values(ascending=False).round(6).to_dict()


def _pip_requirements() -> list[str]:
    """Pinned from the running environment, so MLflow need not infer them (slow) at log time."""
    from importlib.metadata import version

    packages = ("scikit-learn", "xgboost", "imbalanced-learn", "pandas", "numpy")
    return [f"{package}=={version(package)}" for package in packages]


def _own_types(model) -> list[str]:
    """The classes inside our own fitted model, which MLflow's skops format must be told to
    trust (skops refuses unknown types on load instead of unpickling arbitrary code)."""
    import skops.io

    return skops.io.get_untrusted_types(data=skops.io.dumps(model))


def code_version() -> str:
    """The git commit the code ran from (with `-dirty` when the tree has changes), for lineage."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{commit}-dirty" if dirty else commit


def _split_params(split: CutoffSplit, parts: dict[str, pd.DataFrame]) -> dict[str, object]:
    params: dict[str, object] = {}
    for name, frame in parts.items():
        first, last = split.window(name)
        params[f"{name}_first_cutoff"] = first
        params[f"{name}_last_cutoff"] = last
        params[f"{name}_cutoffs"] = len(getattr(split, name))
        params[f"{name}_rows"] = len(frame)
        params[f"{name}_fingerprint"] = frame_fingerprint(frame)
    params["embargoed_cutoffs"] = len(split.embargoed)
    return params


def _fit_candidate(name, x_train, y_train, x_validation, y_validation, numeric, categorical):
    if name == churn_models.BASELINE:
        return churn_models.fit_baseline(
            x_train, y_train, x_validation, y_validation, numeric, categorical
        )
    return churn_models.fit_xgboost(
        name, x_train, y_train, x_validation, y_validation, numeric, categorical
    )


@dataclass
class _SplitData:
    """The three splits as model inputs and labels, plus their source rows."""

    split: CutoffSplit
    parts: dict[str, pd.DataFrame]
    x: dict[str, pd.DataFrame]
    y: dict[str, np.ndarray]
    numeric: list[str]
    categorical: list[str]


def _prepare_splits(
    settings: Settings, frame: pd.DataFrame, feature_columns: list[str]
) -> _SplitData:
    missing = [
        c for c in (ENTITY_KEY, EVENT_TIMESTAMP, LABEL_COLUMN, *feature_columns) if c not in frame
    ]
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
    x, y = {}, {}
    for name, part in parts.items():
        x[name], y[name] = _xy(part, numeric, categorical)
    log.info(
        "split by cutoff: train %d rows (%s..%s), validation %d, test %d, %d cutoffs embargoed",
        len(x["train"]), *split.window("train"), len(x["validation"]), len(x["test"]),
        len(split.embargoed),
    )  # fmt: skip
    return _SplitData(split, parts, x, y, numeric, categorical)


def _train_candidate(
    name: str, data: _SplitData
) -> tuple[CandidateResult, churn_models.FittedCandidate, np.ndarray]:
    """Fit one candidate in its own nested MLflow run; the decision threshold (best F1) is
    chosen on validation and applied unchanged to test."""
    with mlflow.start_run(run_name=name, nested=True) as child:
        began = time.perf_counter()
        candidate = _fit_candidate(
            name, data.x["train"], data.y["train"], data.x["validation"], data.y["validation"],
            data.numeric, data.categorical,
        )  # fmt: skip
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
        mlflow.log_metric("fit_seconds", time.perf_counter() - began)
        log.info(
            "%s: validation AUC %.4f, test AUC %.4f (%.1f s)",
            name, validation["roc_auc"], test["roc_auc"], time.perf_counter() - began,
        )  # fmt: skip
        result = CandidateResult(name, child.info.run_id, validation, test, candidate.params)
        return result, candidate, test_scores


def _log_diagnostics(
    data: _SplitData, selected: str, chosen, threshold: float, test_scores: dict[str, np.ndarray]
) -> None:
    """Confusion matrix, calibration plot and SHAP plots as artifacts of the parent run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        plot_confusion_matrix(
            data.y["test"], test_scores[selected], threshold,
            out / "confusion_matrix.png", f"{selected} on test cutoffs",
        )  # fmt: skip
        plot_calibration(data.y["test"], test_scores, out / "calibration.png")
        importance = _log_shap(chosen, data.x["test"], out)
        (out / "shap_mean_abs.json").write_text(json.dumps(importance, indent=2))
        mlflow.log_artifacts(str(out), artifact_path="diagnostics")


def _log_chosen_model(chosen, data: _SplitData) -> str:
    """Log the chosen model to the run (not yet registered) and return its URI."""
    example = data.x["test"].head(5)
    # No input schema: the pipeline's own first step casts what arrives (int64 or nullable
    # Int32 from Feast, float with NaN from CSV, None or NaN text), while an MLflow column
    # schema inferred from five rows refuses int64 for a double column and a NULL where the
    # example had none, so `mlflow.pyfunc` could not score the very rows batch scores.
    model_info = mlflow.sklearn.log_model(
        sk_model=chosen.model,
        name="model",
        signature=False,
        input_example=example,
        pyfunc_predict_fn="predict_proba",
        pip_requirements=_pip_requirements(),
        skops_trusted_types=_own_types(chosen.model),
    )
    return model_info.model_uri


def _champion_gate(
    settings: Settings,
    client: MlflowClient,
    data: _SplitData,
    challenger_scores: np.ndarray,
    test_metrics: dict[str, float],
    refusal: str | None,
) -> tuple[str | None, ChampionDecision]:
    """Re-score the champion on the same test rows and decide on the paired, user-clustered
    bootstrap of the AUC and Brier differences; both intervals go to MLflow."""
    incumbent = champion_version(client)
    incumbent_scores = _score_incumbent(incumbent, data.x["test"])
    comparison = None
    if incumbent_scores is not None:
        comparison = paired_bootstrap(
            data.y["test"], challenger_scores, incumbent_scores,
            data.parts["test"][ENTITY_KEY].to_numpy(),
            samples=settings.gate_bootstrap_samples, confidence=settings.gate_confidence,
        )  # fmt: skip
    decision = decide_champion(
        test_metrics[SELECTION_METRIC], comparison, incumbent,
        min_auc_gain=settings.champion_min_auc_gain,
        max_brier_increase=settings.champion_max_brier_increase, refusal=refusal,
    )  # fmt: skip
    mlflow.log_params(
        {
            "champion_decision": "promoted" if decision.promote else "kept",
            "champion_reason": decision.reason[:500],
            "previous_champion_version": incumbent or "none",
            "gate_min_auc_gain": settings.champion_min_auc_gain,
            "gate_max_brier_increase": settings.champion_max_brier_increase,
        }
    )
    mlflow.log_metric("candidate_test_roc_auc", decision.candidate_score)
    if comparison is not None:
        mlflow.log_metric("champion_test_roc_auc", comparison.champion_auc)
        mlflow.log_metrics(comparison.as_metrics())
    log.info("champion decision: %s", decision.reason)
    return incumbent, decision


def _log_reference(data: _SplitData, feature_columns: list[str], test_scores: np.ndarray) -> None:
    """What monitoring compares today against: the training rows' features, the test rows'
    features (the drift reference: the latest cutoffs the run saw), the chosen model's scores
    on the test cutoffs (the prediction distribution at training
    time, out of sample), the cutoffs of each split (in- vs out-of-sample performance), and
    the test metrics with user-clustered intervals (the model card)."""
    train = data.parts["train"][[ENTITY_KEY, EVENT_TIMESTAMP, *feature_columns]]
    test = data.parts["test"]
    drift_reference = test[[ENTITY_KEY, EVENT_TIMESTAMP, *feature_columns]]
    predictions = pd.DataFrame(
        {ENTITY_KEY: test[ENTITY_KEY], EVENT_TIMESTAMP: test[EVENT_TIMESTAMP],
         "churn_probability": test_scores, LABEL_COLUMN: data.y["test"]}
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        train.to_parquet(out / REFERENCE_FEATURES_FILE, index=False)
        drift_reference.to_parquet(out / DRIFT_REFERENCE_FILE, index=False)
        predictions.to_parquet(out / REFERENCE_PREDICTIONS_FILE, index=False)
        mlflow.log_artifacts(str(out), artifact_path=REFERENCE_ARTIFACT_DIR)
    mlflow.log_dict(
        {
            name: [c.date().isoformat() for c in getattr(data.split, name)]
            for name in ("train", "validation", "test", "embargoed")
        },
        SPLIT_ARTIFACT,
    )
    intervals = metric_interval(
        data.y["test"], test_scores, test[ENTITY_KEY].to_numpy(),
        samples=GATE_INTERVAL_SAMPLES,
    )  # fmt: skip
    mlflow.log_metrics({f"test_{key}": value for key, value in intervals.items() if "_" in key})


def _publish(
    client: MlflowClient, model_uri: str, decision: ChampionDecision, test_metrics: dict
) -> str:
    """Register (and maybe crown) the chosen model: the last step, after every check passed."""
    version = publish_version(
        client,
        model_uri,
        {
            "feature_service": FEATURE_SERVICE,
            "test_roc_auc": f"{test_metrics['roc_auc']:.6f}",
            "champion_decision": "promoted" if decision.promote else "kept",
        },
        make_champion=decision.promote,
    )
    mlflow.log_param("registered_version", version)
    return version


def _log_oracle(truth_dir: Path, data: _SplitData, model_auc: float, horizon_days: int) -> float:
    oracle = oracle_probabilities(Path(truth_dir), data.parts["test"], horizon_days)
    oracle_auc = float(roc_auc_score(data.y["test"], oracle))
    ratios = oracle_ratios(model_auc, oracle_auc)
    mlflow.log_metrics({"oracle_test_roc_auc": oracle_auc, **ratios})
    log.info(
        "oracle AUC %.4f; the model reaches %.3f of it, %.3f of the lift above chance",
        oracle_auc, ratios["model_to_oracle_auc_ratio"], ratios["model_to_oracle_lift_ratio"],
    )  # fmt: skip
    return oracle_auc


def train_on_frame(
    settings: Settings,
    frame: pd.DataFrame,
    feature_columns: list[str],
    *,
    truth_dir: Path | None = None,
    loaded_fingerprint: dict[str, int] | None = None,
    candidates: tuple[str, ...] = (churn_models.BASELINE, *churn_models.XGBOOST_VARIANTS),
    refusal: str | None = None,
) -> TrainingResult:
    """Everything after data retrieval: split, fit, evaluate, log, decide, register.

    Separate from `train_churn_models` so a test (or a notebook) can train on any frame with
    the training set's columns. With `truth_dir`, `loaded_fingerprint` (of the data the frame
    came from) is required and checked against the truth folder before anything is fitted.
    A `refusal` (the gate failed on the data) registers the model but never crowns it."""
    started = time.perf_counter()
    if truth_dir is not None:
        if loaded_fingerprint is None:
            raise ValueError("an oracle comparison needs the loaded data's fingerprint")
        check_truth_matches(Path(truth_dir), loaded_fingerprint)
    if not any(name in churn_models.XGBOOST_VARIANTS for name in candidates):
        raise ValueError("candidates must include at least one XGBoost variant to register")
    data = _prepare_splits(settings, frame, feature_columns)
    experiment_id = configure_tracking(settings.tracking_uri, settings.artifact_root.as_uri())
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    results: dict[str, CandidateResult] = {}
    fitted: dict[str, churn_models.FittedCandidate] = {}
    test_scores: dict[str, np.ndarray] = {}
    with mlflow.start_run(run_name="churn-training") as parent:
        mlflow.log_params(
            {
                "feature_service": FEATURE_SERVICE,
                "n_features": len(feature_columns),
                "label_horizon_days": settings.label_horizon_days,
                "feature_window_days": settings.feature_window_days,
                "training_frame_fingerprint": frame_fingerprint(frame),
                "selection_metric": SELECTION_METRIC,
                "code_version": code_version(),
                **_split_params(data.split, data.parts),
            }
        )
        mlflow.log_dict(
            {
                "feature_service": FEATURE_SERVICE,
                "numeric": data.numeric,
                "categorical": data.categorical,
            },
            "features.json",
        )
        for name in candidates:
            results[name], fitted[name], test_scores[name] = _train_candidate(name, data)

        xgboost_names = [n for n in candidates if n in churn_models.XGBOOST_VARIANTS]
        selected = max(xgboost_names, key=lambda n: results[n].validation[SELECTION_METRIC])
        test_metrics = results[selected].test
        mlflow.log_param("selected_candidate", selected)
        mlflow.log_metrics({f"test_{k}": v for k, v in test_metrics.items()})
        if churn_models.BASELINE in results:
            baseline_auc = results[churn_models.BASELINE].test["roc_auc"]
            mlflow.log_metric("baseline_test_roc_auc", baseline_auc)
        _log_diagnostics(data, selected, fitted[selected], test_metrics["threshold"], test_scores)
        _log_reference(data, list(feature_columns), test_scores[selected])
        model_uri = _log_chosen_model(fitted[selected], data)
        incumbent, decision = _champion_gate(
            settings, client, data, test_scores[selected], test_metrics, refusal
        )
        oracle_auc = (
            _log_oracle(truth_dir, data, test_metrics["roc_auc"], settings.label_horizon_days)
            if truth_dir is not None
            else None
        )
        # Last, once every check above has passed: a failure before this line registers nothing.
        version = _publish(client, model_uri, decision, test_metrics)

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
