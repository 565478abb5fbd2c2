"""The chosen model's diagnostic plots, logged with its training run: confusion matrix,
calibration, and SHAP summary and bar plots with the mean absolute SHAP value per feature."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from ecom.churn import models as churn_models
from ecom.churn.evaluation import plot_calibration, plot_confusion_matrix
from ecom.churn.split import SplitData

# SHAP on every test row costs minutes at 100k users and changes no plot a reader can see.
SHAP_SAMPLE_ROWS = 2000
DIAGNOSTICS_ARTIFACT_DIR = "diagnostics"


def log_diagnostics(
    data: SplitData,
    selected: str,
    chosen: churn_models.FittedCandidate,
    threshold: float,
    test_scores: dict[str, np.ndarray],
) -> None:
    """Confusion matrix, calibration plot and SHAP plots as artifacts of the active run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        plot_confusion_matrix(
            data.y["test"],
            test_scores[selected],
            threshold,
            out / "confusion_matrix.png",
            f"{selected} on test cutoffs",
        )
        plot_calibration(data.y["test"], test_scores, out / "calibration.png")
        importance = plot_shap(chosen, data.x["test"], out)
        (out / "shap_mean_abs.json").write_text(json.dumps(importance, indent=2))
        mlflow.log_artifacts(str(out), artifact_path=DIAGNOSTICS_ARTIFACT_DIR)


def plot_shap(
    candidate: churn_models.FittedCandidate, x_test: pd.DataFrame, out: Path
) -> dict[str, float]:
    """SHAP summary (beeswarm) and bar plots of a fitted XGBoost, on a test sample, written
    into `out`; returns the mean absolute SHAP value per encoded feature, largest first."""
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
    values = shap.TreeExplainer(pipeline.named_steps["model"]).shap_values(encoded)
    for kind, filename in (("dot", "shap_summary.png"), ("bar", "shap_bar.png")):
        plt.figure()
        shap.summary_plot(values, encoded, plot_type=kind, show=False, max_display=20)
        plt.tight_layout()
        plt.savefig(out / filename, dpi=110)
        plt.close("all")
    importance = pd.Series(np.abs(values).mean(axis=0), index=encoded.columns)
    return importance.sort_values(ascending=False).round(6).to_dict()
