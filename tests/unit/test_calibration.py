"""Platt scaling as fitted by `ecom.churn.calibration`: the right sigmoid, scikit-learn's
answer, and the same formula in `predict_proba` as in the fast path."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

from ecom.churn.calibration import PlattCalibratedClassifier, PlattScaling, fit_platt


def _log_loss(platt: PlattScaling, scores: np.ndarray, positive: np.ndarray) -> float:
    """Platt's objective (mean log loss on his smoothed targets) at `platt`."""
    n_pos, n_neg = positive.sum(), (~positive).sum()
    targets = np.where(positive, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    p = np.clip(platt.probability(scores), 1e-300, 1 - 1e-16)
    return float(-np.mean(targets * np.log(p) + (1 - targets) * np.log1p(-p)))


def test_fit_platt_recovers_the_sigmoid_that_made_the_labels():
    rng = np.random.default_rng(0)
    scores = rng.uniform(-3, 3, 200_000)
    positive = rng.uniform(size=scores.size) < 1 / (1 + np.exp(-1.7 * scores + 0.4))
    platt = fit_platt(scores, positive)
    assert platt.slope == pytest.approx(-1.7, abs=0.03)
    assert platt.intercept == pytest.approx(0.4, abs=0.03)


def test_fit_platt_is_the_optimum_of_platts_objective():
    rng = np.random.default_rng(1)
    scores = rng.beta(2, 5, 3000)
    positive = rng.uniform(size=scores.size) < scores
    platt = fit_platt(scores, positive)
    best = _log_loss(platt, scores, positive)
    for slope_step, intercept_step in ((1e-4, 0), (-1e-4, 0), (0, 1e-4), (0, -1e-4)):
        moved = PlattScaling(platt.slope + slope_step, platt.intercept + intercept_step)
        assert _log_loss(moved, scores, positive) > best


def test_separable_scores_still_give_a_finite_sigmoid():
    platt = fit_platt(np.array([0.1, 0.2, 0.8, 0.9]), np.array([False, False, True, True]))
    assert np.isfinite([platt.slope, platt.intercept]).all() and platt.slope < 0
    assert platt.probability(np.array([0.9]))[0] == pytest.approx(0.75, abs=0.05)  # (2+1)/(2+2)


@pytest.mark.parametrize(
    ("scores", "positive", "message"),
    [
        (np.ones(4), np.ones(4, dtype=bool), "both classes: 4 positive and 0 negative"),
        (np.array([0.1, np.nan]), np.array([True, False]), "finite scores"),
        (np.ones(3), np.ones(2, dtype=bool), "3 scores but 2 labels"),
    ],
)
def test_fit_platt_refuses_what_it_cannot_fit(scores, positive, message):
    with pytest.raises(ValueError, match=message):
        fit_platt(scores, positive)


def _data(seed: int, rows: int = 4000):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 3))
    churned = (rng.uniform(size=rows) < 1 / (1 + np.exp(-(2 * features[:, 0] + 1)))).astype(int)
    half = rows // 2
    return features[:half], churned[:half], features[half:], churned[half:]


@pytest.mark.parametrize(
    "estimator",
    [LogisticRegression(), xgb.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1)],
    ids=["logistic (decision function)", "xgboost (probability)"],
)
def test_the_calibrator_fits_what_scikit_learns_sigmoid_calibration_fits(estimator):
    """scikit-learn minimises the same objective (in float32 for XGBoost's scores, to a gradient
    of 1e-6): its parameters are ours to a few 1e-4, and ours lose no more log loss."""
    x_train, y_train, x_validation, y_validation = _data(2)
    fitted = estimator.fit(x_train, y_train)
    ours = PlattCalibratedClassifier(fitted).fit(x_validation, y_validation)
    theirs = CalibratedClassifierCV(FrozenEstimator(fitted), method="sigmoid")
    theirs.fit(x_validation, y_validation)
    np.testing.assert_allclose(
        ours.predict_proba(x_validation), theirs.predict_proba(x_validation), atol=5e-4
    )
    scores = ours._scores(x_validation)
    positive = y_validation == 1
    sigmoid = theirs.calibrated_classifiers_[0].calibrators[0]  # private: read in the test only
    assert (
        _log_loss(ours.platt, scores, positive)
        <= _log_loss(PlattScaling(float(sigmoid.a_), float(sigmoid.b_)), scores, positive) + 1e-12
    )


def test_predict_proba_is_the_fast_paths_formula_bit_for_bit():
    x_train, y_train, x_validation, y_validation = _data(3)
    booster = xgb.XGBClassifier(n_estimators=20, max_depth=2, n_jobs=1).fit(x_train, y_train)
    model = PlattCalibratedClassifier(booster).fit(x_validation, y_validation)
    assert model.response_method_ == "predict_proba"
    raw = booster.get_booster().predict(xgb.DMatrix(x_validation))
    probability = model.predict_proba(x_validation)
    np.testing.assert_array_equal(probability[:, 1], model.platt.probability(raw))
    np.testing.assert_array_equal(probability[:, 0], 1.0 - probability[:, 1])
    assert set(model.predict(x_validation)) <= set(model.classes_)


def test_the_sigmoid_is_read_only_after_fitting():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        _ = PlattCalibratedClassifier(LogisticRegression()).platt
