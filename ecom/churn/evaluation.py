"""Churn model metrics and diagnostic plots: pure functions of labels and probabilities.

Besides the usual ranking and calibration metrics, precision and lift in the top decile say
what the retention team actually gets when it contacts the 10% riskiest users.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)


def top_fraction_precision(y_true: np.ndarray, scores: np.ndarray, fraction: float = 0.1) -> float:
    """Share of positives among the `fraction` highest-scored rows (ties broken by position)."""
    y_true = np.asarray(y_true)
    if len(y_true) == 0:
        raise ValueError("no rows to rank")
    k = max(1, math.ceil(len(y_true) * fraction))
    top = np.argsort(-np.asarray(scores), kind="stable")[:k]
    return float(y_true[top].mean())


def best_f1_threshold(y_true: np.ndarray, scores: np.ndarray) -> float:
    """The probability threshold with the highest F1 (chosen on validation, applied to test)."""
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    f1 = np.divide(
        2 * precision * recall,
        precision + recall,
        out=np.zeros_like(precision),
        where=(precision + recall) > 0,
    )
    # precision/recall have one more entry than thresholds (the "predict nothing" end point).
    return float(thresholds[int(np.argmax(f1[:-1]))]) if len(thresholds) else 0.5


def classification_metrics(
    y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier, F1/precision/recall at `threshold`, top-decile precision and lift."""
    y_true = np.asarray(y_true).astype(int)
    scores = np.asarray(scores, dtype=float)
    if len(np.unique(y_true)) < 2:
        raise ValueError("metrics need both classes in the labels")
    predicted = (scores >= threshold).astype(int)
    base_rate = float(y_true.mean())
    top_precision = top_fraction_precision(y_true, scores, 0.1)
    return {
        "roc_auc": float(roc_auc_score(y_true, scores)),
        "pr_auc": float(average_precision_score(y_true, scores)),
        "brier": float(brier_score_loss(y_true, scores)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "precision_top_decile": top_precision,
        "lift_top_decile": top_precision / base_rate,
        "base_rate": base_rate,
        "threshold": float(threshold),
    }


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of a data frame (values and column names), to tie a run to its data."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def plot_confusion_matrix(
    y_true: np.ndarray, scores: np.ndarray, threshold: float, path: Path, title: str
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = confusion_matrix(np.asarray(y_true).astype(int), np.asarray(scores) >= threshold)
    figure, axis = plt.subplots(figsize=(4.5, 4))
    axis.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        axis.text(column, row, f"{count:,}", ha="center", va="center")
    axis.set_xticks([0, 1], ["retained", "churned"])
    axis.set_yticks([0, 1], ["retained", "churned"])
    axis.set_xlabel(f"predicted (p >= {threshold:.2f})")
    axis.set_ylabel("actual")
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_calibration(
    y_true: np.ndarray, curves: dict[str, np.ndarray], path: Path, bins: int = 10
) -> Path:
    """Reliability diagram: observed churn rate per predicted-probability bin, per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve

    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    for name, scores in curves.items():
        observed, predicted = calibration_curve(y_true, scores, n_bins=bins, strategy="quantile")
        axis.plot(predicted, observed, marker="o", label=name)
    axis.set_xlabel("predicted churn probability")
    axis.set_ylabel("observed churn rate")
    axis.set_title("calibration on the test cutoffs")
    axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
