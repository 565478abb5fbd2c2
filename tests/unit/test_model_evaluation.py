import numpy as np
import pandas as pd
import pytest

from ecom.churn.evaluation import (
    best_f1_threshold,
    classification_metrics,
    frame_fingerprint,
    top_fraction_precision,
)


def test_top_decile_precision_and_lift_by_hand():
    # 20 rows, 5 positives (base rate 0.25); top 10% = 2 highest scores: one positive.
    y = np.array([1, 0] + [1] * 4 + [0] * 14)
    scores = np.linspace(1.0, 0.0, 20)
    assert top_fraction_precision(y, scores, 0.1) == 0.5
    metrics = classification_metrics(y, scores, threshold=0.5)
    assert metrics["precision_top_decile"] == 0.5
    assert metrics["lift_top_decile"] == pytest.approx(0.5 / 0.25)
    assert metrics["base_rate"] == 0.25


def test_perfect_ranking_metrics():
    y = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    metrics = classification_metrics(y, scores, threshold=0.5)
    assert metrics["roc_auc"] == 1.0
    assert metrics["pr_auc"] == 1.0
    assert metrics["f1"] == metrics["precision"] == metrics["recall"] == 1.0
    assert metrics["brier"] == pytest.approx(np.mean((scores - y) ** 2))


def test_threshold_maximises_f1():
    y = np.array([0, 0, 1, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.8, 0.9])
    threshold = best_f1_threshold(y, scores)
    # At 0.3 all three positives are caught with one false positive: F1 = 6/7, the best.
    assert threshold == pytest.approx(0.3)


def test_single_class_is_rejected():
    with pytest.raises(ValueError, match="both classes"):
        classification_metrics(np.ones(4), np.linspace(0, 1, 4))


def test_fingerprint_tracks_content():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    assert frame_fingerprint(frame) == frame_fingerprint(frame.copy())
    changed = frame.copy()
    changed.loc[1, "a"] = 3
    assert frame_fingerprint(changed) != frame_fingerprint(frame)
    assert frame_fingerprint(frame.rename(columns={"a": "c"})) != frame_fingerprint(frame)
