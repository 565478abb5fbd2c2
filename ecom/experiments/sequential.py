"""Always-valid inference for watching a test every day without inflating false positives.

Written by hand: neither tea-tasting, statsmodels nor scipy offers sequential (always-valid)
p-values or confidence sequences. This is the normal-mixture sequential probability ratio test
(mSPRT) of Robbins (1970), as used for A/B tests by Johari, Pekelis & Walsh (2017, "Always
Valid Inference"): with an estimate `d` of the difference, its variance `V` at a look and a
normal mixing distribution N(0, tau^2) over the alternative,

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 d^2 / (2 V (V + tau^2)))

is a nonnegative martingale under the null, so P(sup Lambda >= 1/alpha) <= alpha (Ville's
inequality). The always-valid p-value is min(1, 1 / max Lambda so far); inverting the test gives
the confidence sequence d +- sqrt(V (V + tau^2) / tau^2 * (2 log(1/alpha) + log((V + tau^2) / V))),
valid at every look at once. Everything is vectorised over any leading axes, looks last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class SequentialPath:
    """Per look: the estimate, the always-valid p-value and the confidence sequence."""

    estimate: np.ndarray
    pvalue: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def mixture_sprt(
    estimate: np.ndarray, variance: np.ndarray, mixture_sd: float, alpha: float = 0.05
) -> SequentialPath:
    """Always-valid p-values and the (1 - alpha) confidence sequence over the looks (last axis).

    `mixture_sd` (tau) is the scale of effects the test is tuned to find fastest, in the
    estimate's units (a plausible lift, such as the design's minimum detectable effect).
    """
    estimate = np.asarray(estimate, dtype=float)
    variance = np.asarray(variance, dtype=float)
    tau2 = float(mixture_sd) ** 2
    if tau2 <= 0:
        raise ValueError(f"mixture_sd must be positive, got {mixture_sd}")
    log_lambda = 0.5 * np.log(variance / (variance + tau2)) + tau2 * estimate**2 / (
        2 * variance * (variance + tau2)
    )
    pvalue = np.minimum(1.0, np.exp(-np.maximum.accumulate(log_lambda, axis=-1)))
    half_width = np.sqrt(
        variance
        * (variance + tau2)
        / tau2
        * (2 * np.log(1 / alpha) + np.log((variance + tau2) / variance))
    )
    return SequentialPath(estimate, pvalue, estimate - half_width, estimate + half_width)


def naive_pvalues(estimate: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """The fixed-horizon two-sided z-test's p-value at each look: wrong to act on when peeking,
    kept to show how much peeking inflates it."""
    z = np.asarray(estimate, dtype=float) / np.sqrt(np.asarray(variance, dtype=float))
    return 2 * stats.norm.sf(np.abs(z))
