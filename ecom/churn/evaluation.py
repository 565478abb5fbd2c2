"""Churn model metrics and diagnostic plots: pure functions of labels and probabilities.

Besides the usual ranking and calibration metrics, precision and lift in the top decile say
what the retention team actually gets when it contacts the 10% riskiest users.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
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

from ecom.figures import save_figure


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
    return save_figure(figure, path)


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
    return save_figure(figure, path)


@dataclass(frozen=True)
class PairedComparison:
    """Challenger minus champion on the same rows, with percentile bootstrap intervals.

    Rows are resampled by user (a cluster), because one user appears at several cutoffs and
    their rows are not independent: resampling rows would make the intervals too narrow."""

    challenger_auc: float
    champion_auc: float
    auc_difference: float
    auc_difference_low: float
    auc_difference_high: float
    challenger_brier: float
    champion_brier: float
    brier_difference: float
    brier_difference_low: float
    brier_difference_high: float
    rows: int
    users: int
    samples: int
    confidence: float

    def as_metrics(self, prefix: str = "gate_") -> dict[str, float]:
        return {f"{prefix}{key}": float(value) for key, value in asdict(self).items()}


class _WeightedAuc:
    """ROC-AUC under row weights, O(rows) per call: the score order is computed once, so a
    thousand bootstrap replicates cost a thousand bincounts instead of a thousand sorts."""

    def __init__(self, y_true: np.ndarray, scores: np.ndarray) -> None:
        self.y = np.asarray(y_true, dtype=float)
        _, self.rank = np.unique(np.asarray(scores, dtype=float), return_inverse=True)
        self.levels = int(self.rank.max()) + 1

    def __call__(self, weights: np.ndarray) -> float:
        positives = np.bincount(self.rank, weights * self.y, self.levels)
        negatives = np.bincount(self.rank, weights * (1.0 - self.y), self.levels)
        below = np.cumsum(negatives) - negatives
        total = positives.sum() * negatives.sum()
        # Ties count one half, as in sklearn's roc_auc_score.
        return float((positives * (below + 0.5 * negatives)).sum() / total) if total else 0.5


def paired_bootstrap(
    y_true: np.ndarray,
    challenger_scores: np.ndarray,
    champion_scores: np.ndarray,
    users: np.ndarray,
    *,
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """AUC and Brier differences (challenger - champion) with user-clustered bootstrap CIs.

    Each replicate draws users with replacement and weights every row by how often its user
    was drawn, so both models are always judged on the same resampled rows (paired)."""
    y_true = np.asarray(y_true).astype(int)
    challenger_scores = np.asarray(challenger_scores, dtype=float)
    champion_scores = np.asarray(champion_scores, dtype=float)
    if not len(y_true) == len(challenger_scores) == len(champion_scores) == len(users):
        raise ValueError("labels, both score vectors and user ids must have one entry per row")
    if len(np.unique(y_true)) < 2:
        raise ValueError("the paired bootstrap needs both classes in the labels")
    _, cluster = np.unique(np.asarray(users), return_inverse=True)
    n_users = int(cluster.max()) + 1
    challenger_auc, champion_auc = (
        _WeightedAuc(y_true, challenger_scores),
        _WeightedAuc(y_true, champion_scores),
    )
    brier_gap = (challenger_scores - y_true) ** 2 - (champion_scores - y_true) ** 2
    rng = np.random.default_rng(seed)
    auc_differences = np.empty(samples)
    brier_differences = np.empty(samples)
    for replicate in range(samples):
        draws = np.bincount(rng.integers(0, n_users, n_users), minlength=n_users)
        weights = draws[cluster].astype(float)
        auc_differences[replicate] = challenger_auc(weights) - champion_auc(weights)
        brier_differences[replicate] = float(weights @ brier_gap / weights.sum())
    tail = (1.0 - confidence) / 2.0 * 100.0
    ones = np.ones(len(y_true))
    auc_low, auc_high = np.nanpercentile(auc_differences, [tail, 100.0 - tail])
    brier_low, brier_high = np.percentile(brier_differences, [tail, 100.0 - tail])
    return PairedComparison(
        challenger_auc=challenger_auc(ones),
        champion_auc=champion_auc(ones),
        auc_difference=challenger_auc(ones) - champion_auc(ones),
        auc_difference_low=float(auc_low),
        auc_difference_high=float(auc_high),
        challenger_brier=float(np.mean((challenger_scores - y_true) ** 2)),
        champion_brier=float(np.mean((champion_scores - y_true) ** 2)),
        brier_difference=float(brier_gap.mean()),
        brier_difference_low=float(brier_low),
        brier_difference_high=float(brier_high),
        rows=len(y_true),
        users=n_users,
        samples=samples,
        confidence=confidence,
    )


def metric_interval(
    y_true: np.ndarray,
    scores: np.ndarray,
    users: np.ndarray,
    *,
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """One model's AUC and Brier with user-clustered bootstrap intervals (for the model card)."""
    comparison = paired_bootstrap(
        y_true,
        scores,
        np.full(len(scores), 0.5),
        users,
        samples=samples,
        confidence=confidence,
        seed=seed,
    )
    # Against a constant 0.5 the AUC difference is AUC - 0.5 and the Brier difference is
    # Brier - 0.25 in every replicate, so the intervals shift back exactly.
    return {
        "roc_auc": comparison.challenger_auc,
        "roc_auc_low": comparison.auc_difference_low + 0.5,
        "roc_auc_high": comparison.auc_difference_high + 0.5,
        "brier": comparison.challenger_brier,
        "brier_low": comparison.brier_difference_low + 0.25,
        "brier_high": comparison.brier_difference_high + 0.25,
    }
