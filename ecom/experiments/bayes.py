"""The Bayesian reading experimentation platforms show beside the p-value: the probability that
treatment beats control, and the expected loss of shipping each arm.

Written by hand: no library in the lock computes these (gbstats, GrowthBook's engine, needs
pandas < 2). Two posteriors cover the metrics:

- a conversion (successes out of trials) gets Beta(1 + s, 1 + n - s) per arm, a uniform prior,
  compared by seeded Monte Carlo draws;
- any other metric (means, ratios, CUPED-adjusted) gets the normal approximation with a flat
  prior: the lift ~ N(estimate, standard error^2), in closed form.

Expected loss of shipping treatment is E[max(control - treatment, 0)]: what is given up, on
average, in the cases where treatment is in truth worse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class BayesResult:
    probability_treatment_better: float
    expected_loss_treatment: float  # E[max(control - treatment, 0)]
    expected_loss_control: float  # E[max(treatment - control, 0)]
    method: str


def beta_binomial(
    control_successes: int,
    control_trials: int,
    treatment_successes: int,
    treatment_trials: int,
    *,
    draws: int = 200_000,
    seed: int = 0,
) -> BayesResult:
    """P(p_treatment > p_control) and expected losses under independent Beta(1, 1) priors."""
    rng = np.random.default_rng(seed)
    control = rng.beta(1 + control_successes, 1 + control_trials - control_successes, draws)
    treatment = rng.beta(1 + treatment_successes, 1 + treatment_trials - treatment_successes, draws)
    difference = treatment - control
    return BayesResult(
        probability_treatment_better=float(np.mean(difference > 0)),
        expected_loss_treatment=float(np.mean(np.maximum(-difference, 0))),
        expected_loss_control=float(np.mean(np.maximum(difference, 0))),
        method="beta-binomial, uniform prior, Monte Carlo",
    )


def normal_posterior(effect: float, standard_error: float) -> BayesResult:
    """The same quantities for lift ~ N(effect, standard_error^2), in closed form:
    E[max(-D, 0)] = s phi(m/s) - m Phi(-m/s) and E[max(D, 0)] = s phi(m/s) + m Phi(m/s)."""
    if not standard_error > 0:
        raise ValueError(f"standard_error must be positive, got {standard_error}")
    z = effect / standard_error
    density = standard_error * stats.norm.pdf(z)
    return BayesResult(
        probability_treatment_better=float(stats.norm.cdf(z)),
        expected_loss_treatment=float(density - effect * stats.norm.cdf(-z)),
        expected_loss_control=float(density + effect * stats.norm.cdf(z)),
        method="normal approximation, flat prior",
    )
