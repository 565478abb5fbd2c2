"""What a training run records in MLflow, and the artifact names monitoring reads back.

The artifact names are a contract: drift, performance over time and the model card read the
champion's own run by these names, so they are declared here once and imported by both sides.
"""

from __future__ import annotations

import tempfile
from importlib.metadata import version as installed_version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from ecom.churn import models as churn_models
from ecom.churn.evaluation import frame_fingerprint, metric_interval
from ecom.churn.gate import ChampionDecision
from ecom.churn.lineage import code_version
from ecom.churn.registry import publish_version
from ecom.churn.split import SplitData
from ecom.config import Settings
from ecom.features.store import ENTITY_KEY, EVENT_TIMESTAMP, FEATURE_SERVICE, LABEL_COLUMN

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
FEATURES_ARTIFACT = "features.json"
# Bootstrap samples of the model card's test-metric intervals (not the gate's: that is a setting).
CARD_INTERVAL_SAMPLES = 500
# Pinned into the logged model from the running environment, so MLflow need not infer them
# (slow) at log time.
MODEL_PACKAGES = ("scikit-learn", "xgboost", "imbalanced-learn", "pandas", "numpy")


def log_training_inputs(
    settings: Settings,
    frame: pd.DataFrame,
    feature_columns: list[str],
    data: SplitData,
    selection_metric: str,
) -> None:
    """The run's lineage: the feature service, settings, code version, the frame's and each
    split's fingerprint and cutoff window, and which features were numeric or categorical."""
    mlflow.log_params(
        {
            "feature_service": FEATURE_SERVICE,
            "n_features": len(feature_columns),
            "label_horizon_days": settings.label_horizon_days,
            "feature_window_days": settings.feature_window_days,
            "training_frame_fingerprint": frame_fingerprint(frame),
            "selection_metric": selection_metric,
            "code_version": code_version(),
            **_split_params(data),
        }
    )
    mlflow.log_dict(
        {
            "feature_service": FEATURE_SERVICE,
            "numeric": data.numeric,
            "categorical": data.categorical,
        },
        FEATURES_ARTIFACT,
    )


def _split_params(data: SplitData) -> dict[str, object]:
    params: dict[str, object] = {}
    for name, frame in data.parts.items():
        first, last = data.split.window(name)
        params[f"{name}_first_cutoff"] = first
        params[f"{name}_last_cutoff"] = last
        params[f"{name}_cutoffs"] = len(getattr(data.split, name))
        params[f"{name}_rows"] = len(frame)
        params[f"{name}_fingerprint"] = frame_fingerprint(frame)
    params["embargoed_cutoffs"] = len(data.split.embargoed)
    return params


def log_reference(data: SplitData, feature_columns: list[str], test_scores: np.ndarray) -> None:
    """What monitoring compares today against: the training rows' features, the test rows'
    features (the drift reference: the latest cutoffs the run saw), the chosen model's scores
    on the test cutoffs (the prediction distribution at training time, out of sample), the
    cutoffs of each split (in- vs out-of-sample performance), and the test metrics with
    user-clustered intervals (the model card)."""
    keys = [ENTITY_KEY, EVENT_TIMESTAMP]
    test = data.parts["test"]
    predictions = pd.DataFrame(
        {
            ENTITY_KEY: test[ENTITY_KEY],
            EVENT_TIMESTAMP: test[EVENT_TIMESTAMP],
            "churn_probability": test_scores,
            LABEL_COLUMN: data.y["test"],
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        data.parts["train"][[*keys, *feature_columns]].to_parquet(
            out / REFERENCE_FEATURES_FILE, index=False
        )
        test[[*keys, *feature_columns]].to_parquet(out / DRIFT_REFERENCE_FILE, index=False)
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
        data.y["test"], test_scores, test[ENTITY_KEY].to_numpy(), samples=CARD_INTERVAL_SAMPLES
    )
    mlflow.log_metrics({f"test_{key}": value for key, value in intervals.items() if "_" in key})


def log_chosen_model(chosen: churn_models.FittedCandidate, example: pd.DataFrame) -> str:
    """Log the chosen model to the active run (not yet registered) and return its URI."""
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
        pip_requirements=[f"{package}=={installed_version(package)}" for package in MODEL_PACKAGES],
        skops_trusted_types=_own_types(chosen.model),
    )
    return model_info.model_uri


def _own_types(model: object) -> list[str]:
    """The classes inside our own fitted model, which MLflow's skops format must be told to
    trust (skops refuses unknown types on load instead of unpickling arbitrary code)."""
    import skops.io

    return skops.io.get_untrusted_types(data=skops.io.dumps(model))


def publish(
    client: MlflowClient, model_uri: str, decision: ChampionDecision, test_roc_auc: float
) -> str:
    """Register (and, on the gate's word, crown) the logged model; tag it with its lineage."""
    version = publish_version(
        client,
        model_uri,
        {
            "feature_service": FEATURE_SERVICE,
            "test_roc_auc": f"{test_roc_auc:.6f}",
            "champion_decision": "promoted" if decision.promote else "kept",
        },
        make_champion=decision.promote,
    )
    mlflow.log_param("registered_version", version)
    return version
