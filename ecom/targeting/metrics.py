"""Uplift metrics on randomized campaign users: Qini and uplift curves, AUUC, uplift at k.

Everything is estimated the way a team without a truth folder can: each user's contribution to
"incremental conversions if we had contacted this set" is the inverse-propensity term
T * Y / e - (1 - T) * Y / (1 - e), where e is the campaign's treated share. Summed over the
users a ranking puts first, it is an unbiased estimate of how many more would have converted
had exactly those users been contacted, whatever the campaigns' shares. Own small functions
rather than econml's DRTester or scikit-uplift (whose metrics break on scikit-learn 1.10).

The Qini coefficient here is the mean height of the curve above the random-targeting line,
per eligible user: 0 for a random ranking, larger the earlier a ranking finds the movable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def ipw_terms(converted: np.ndarray, treated: np.ndarray, propensity: np.ndarray) -> np.ndarray:
    """Per user, the inverse-propensity estimate of their own effect (unbiased, very noisy)."""
    converted = np.asarray(converted, dtype=float)
    treated = np.asarray(treated, dtype=bool)
    propensity = np.asarray(propensity, dtype=float)
    if np.any((propensity <= 0) | (propensity >= 1)):
        raise ValueError("every propensity must be strictly between 0 and 1")
    return np.where(treated, converted / propensity, -converted / (1.0 - propensity))


def uplift_curve(scores: np.ndarray, effects: np.ndarray) -> np.ndarray:
    """Cumulative effect of contacting the top 0..n users by score (ties broken by position).

    `effects` are per-user effects: IPW terms for an estimate, true effects for the truth.
    """
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    return np.concatenate([[0.0], np.cumsum(np.asarray(effects, dtype=float)[order])])


def qini_coefficient(scores: np.ndarray, effects: np.ndarray) -> float:
    """Mean gap between the ranking's cumulative effect and random targeting's, per user."""
    curve = uplift_curve(scores, effects)
    n = len(curve) - 1
    if n == 0:
        return float("nan")
    random_line = curve[-1] * np.arange(n + 1) / n
    return float(np.mean(curve - random_line) / n)


def auuc(scores: np.ndarray, effects: np.ndarray) -> float:
    """Area under the uplift curve, per user: the average effect per user over all budgets."""
    curve = uplift_curve(scores, effects)
    n = len(curve) - 1
    return float(np.mean(curve) / n) if n else float("nan")


def uplift_at_k(scores: np.ndarray, effects: np.ndarray, share: float) -> float:
    """Average effect per contacted user among the top `share` of users by score."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    count = max(1, round(share * len(scores)))
    return float(uplift_curve(scores, effects)[count] / count)


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def as_dict(self, prefix: str) -> dict[str, float]:
        return {prefix: self.estimate, f"{prefix}_low": self.low, f"{prefix}_high": self.high}

    def __str__(self) -> str:
        return f"{self.estimate:.4f} [{self.low:.4f}, {self.high:.4f}]"


def bootstrap_samples(n_rows: int, n_boot: int, seed: int) -> np.ndarray:
    """Row indexes of `n_boot` bootstrap resamples (shared by every statistic compared on them,
    so differences and ratios are paired)."""
    return np.random.default_rng(seed).integers(0, n_rows, size=(n_boot, n_rows))


def bootstrap_interval(
    statistic, samples: np.ndarray, *arrays: np.ndarray, confidence: float = 0.95
) -> Interval:
    """`statistic(*arrays)` with a percentile interval over the resamples."""
    estimate = float(statistic(*arrays))
    values = np.array([statistic(*(array[rows] for array in arrays)) for rows in samples])
    tail = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(values, [tail, 1.0 - tail])
    return Interval(estimate, float(low), float(high))
