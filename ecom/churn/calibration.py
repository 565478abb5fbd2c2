"""Platt scaling, fitted here so its two numbers are ours to read.

Every candidate is calibrated with Platt's sigmoid on the validation cutoffs: it removes the
probability shift that SMOTE and class weights introduce and keeps the ranking (so the AUC).
scikit-learn's `CalibratedClassifierCV(method="sigmoid")` fits the same sigmoid but keeps the
slope and intercept on private objects (`calibrated_classifiers_[0].calibrators[0]`, an
instance of the private `_SigmoidCalibration`), and the fast prediction path
(`ecom.churn.array_form`) needs exactly those two numbers. So the sigmoid is fitted by
`fit_platt` (Platt 2000, with his smoothed targets, solved by Newton's method as in Lin, Lin
and Weng 2007, the method scikit-learn's fit also minimises) and applied by
`PlattCalibratedClassifier`, a scikit-learn classifier whose fitted attributes `slope_` and
`intercept_` are public and whose `predict_proba` is the same formula the fast path uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

# Newton's method converges quadratically; it stops once the gradient of the mean log loss is
# this small (far below what moves a probability by 1e-12) or after MAX_ITERATIONS steps.
GRADIENT_TOLERANCE = 1e-12
MAX_ITERATIONS = 100
# A ridge on the Hessian (Lin, Lin and Weng's sigma): keeps the step defined when every score
# is equal.
HESSIAN_RIDGE = 1e-12


@dataclass(frozen=True)
class PlattScaling:
    """P(positive | score) = 1 / (1 + exp(slope * score + intercept)), Platt's signs (a
    useful model has a negative slope)."""

    slope: float
    intercept: float

    def probability(self, scores: np.ndarray) -> np.ndarray:
        """The calibrated probability of each score (float64, in [0, 1])."""
        return expit(-(self.slope * np.asarray(scores, dtype="float64") + self.intercept))


def _loss(slope: float, intercept: float, scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean log loss of the sigmoid against Platt's smoothed targets."""
    z = slope * scores + intercept
    return float(np.mean(np.logaddexp(0.0, z) - (1.0 - targets) * z))


def fit_platt(scores: np.ndarray, positive: np.ndarray) -> PlattScaling:
    """Platt's sigmoid fitted to `scores` and whether each row is positive.

    Targets are Platt's smoothed labels, (n+ + 1) / (n+ + 2) for a positive and 1 / (n- + 2)
    for a negative, so separable scores still give a finite slope."""
    scores = np.asarray(scores, dtype="float64").ravel()
    positive = np.asarray(positive, dtype=bool).ravel()
    if scores.shape != positive.shape:
        raise ValueError(f"{len(scores)} scores but {len(positive)} labels")
    if not np.isfinite(scores).all():
        raise ValueError("Platt scaling needs finite scores: a score is NaN or infinite")
    positives = int(positive.sum())
    negatives = len(positive) - positives
    if positives == 0 or negatives == 0:
        raise ValueError(
            f"Platt scaling needs both classes: {positives} positive and {negatives} negative rows"
        )
    targets = np.where(positive, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))
    slope, intercept = 0.0, math.log((negatives + 1.0) / (positives + 1.0))
    loss = _loss(slope, intercept, scores, targets)
    for _ in range(MAX_ITERATIONS):
        p = expit(-(slope * scores + intercept))  # P(positive) at the current parameters
        residual = targets - p  # d loss / d z per row, z = slope * score + intercept
        gradient = np.array([np.mean(residual * scores), np.mean(residual)])
        if np.abs(gradient).max() < GRADIENT_TOLERANCE:
            break
        weight = p * (1.0 - p)
        hessian = np.array(
            [
                [np.mean(weight * scores * scores), np.mean(weight * scores)],
                [np.mean(weight * scores), np.mean(weight)],
            ]
        ) + HESSIAN_RIDGE * np.eye(2)
        step = -np.linalg.solve(hessian, gradient)
        # Backtracking (Armijo) line search: a full Newton step can overshoot far from the
        # optimum; it is always accepted near it.
        length = 1.0
        while length > 1e-10:
            trial = _loss(slope + length * step[0], intercept + length * step[1], scores, targets)
            if trial <= loss + 1e-4 * length * float(gradient @ step):
                break
            length /= 2.0
        else:
            break  # no step lowers the loss: at the optimum to machine precision
        slope, intercept = slope + length * step[0], intercept + length * step[1]
        loss = trial
    return PlattScaling(float(slope), float(intercept))


class PlattCalibratedClassifier(ClassifierMixin, BaseEstimator):
    """A fitted binary classifier, calibrated with Platt's sigmoid on held-out rows.

    `estimator` is fitted already and is not refitted (scikit-learn's `FrozenEstimator`
    idiom): `fit` fits only the sigmoid, on the estimator's decision function when it has one
    (a logistic regression's log-odds), else its positive-class probability (XGBoost)."""

    def __init__(self, estimator) -> None:
        self.estimator = estimator

    def _scores(self, features) -> np.ndarray:
        if self.response_method_ == "decision_function":
            return np.asarray(self.estimator.decision_function(features), dtype="float64")
        return np.asarray(self.estimator.predict_proba(features)[:, 1], dtype="float64")

    def fit(self, features, y) -> PlattCalibratedClassifier:
        """Fit the sigmoid on `features`' rows (not the ones the estimator was trained on)."""
        self.classes_ = np.asarray(self.estimator.classes_)
        if len(self.classes_) != 2:
            raise ValueError(f"Platt scaling is binary: the estimator has classes {self.classes_}")
        self.response_method_ = (
            "decision_function" if hasattr(self.estimator, "decision_function") else "predict_proba"
        )
        platt = fit_platt(self._scores(features), np.asarray(y) == self.classes_[1])
        self.slope_, self.intercept_ = platt.slope, platt.intercept
        return self

    @property
    def platt(self) -> PlattScaling:
        """The fitted sigmoid (what the fast prediction path applies)."""
        check_is_fitted(self, ("slope_", "intercept_"))
        return PlattScaling(self.slope_, self.intercept_)

    def predict_proba(self, features) -> np.ndarray:
        positive = self.platt.probability(self._scores(features))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, features) -> np.ndarray:
        return self.classes_[(self.predict_proba(features)[:, 1] > 0.5).astype(int)]
