"""The A/B engine against the references: every test and interval equals statsmodels or scipy
on the same inputs to 1e-9; the corrections equal statsmodels' multipletests; power equals
statsmodels' NormalIndPower; the hand-written sequential and Bayesian parts agree with their
own definitions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportions_ztest,
)
from statsmodels.stats.proportion import test_proportions_2indep as proportions_2indep_test

from ecom.experiments.analysis import bh_adjusted, check_srm, holm_adjusted, measure
from ecom.experiments.bayes import beta_binomial, normal_posterior
from ecom.experiments.design import (
    Baseline,
    achieved_power,
    minimum_detectable_effect,
    sample_size,
)
from ecom.experiments.metrics import metric_named
from ecom.experiments.sequential import mixture_sprt, naive_pvalues

TOLERANCE = 1e-9


def users(seed: int, n_control: int = 3000, n_treatment: int = 3200) -> pd.DataFrame:
    """Per-user rows shaped like mart_experiment_results, with a real effect in treatment."""
    rng = np.random.default_rng(seed)
    variant = np.array(["control"] * n_control + ["treatment"] * n_treatment)
    treated = variant == "treatment"
    n = len(variant)
    pre_revenue = rng.lognormal(3, 1, n) * (rng.random(n) < 0.4)
    orders = rng.poisson(0.6 + 0.1 * treated)
    revenue = orders * rng.lognormal(3.5, 0.6, n) + 0.3 * pre_revenue
    reached_cart = (rng.random(n) < 0.35 + 0.02 * treated).astype(int)
    return pd.DataFrame(
        {
            "variant": variant,
            "reached_cart": reached_cart,
            "pre_reached_cart": (rng.random(n) < 0.3).astype(int),
            "revenue": revenue,
            "pre_revenue": pre_revenue,
            "orders": orders,
            "pre_orders": rng.poisson(0.5, n),
        }
    )


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return users(3)


def arms(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    control = frame.loc[frame["variant"] == "control", column].to_numpy(dtype=float)
    treatment = frame.loc[frame["variant"] == "treatment", column].to_numpy(dtype=float)
    return control, treatment


def test_proportion_z_test_and_intervals_equal_statsmodels(frame) -> None:
    estimate = measure(frame, metric_named("add_to_cart_rate"), "control", cuped=False)
    control, treatment = arms(frame, "reached_cart")
    counts = (int(treatment.sum()), len(treatment), int(control.sum()), len(control))
    reference = proportions_2indep_test(*counts, method="wald", compare="diff")
    assert estimate.pvalue == pytest.approx(reference.pvalue, abs=TOLERANCE)
    low, high = confint_proportions_2indep(*counts, method="wald", compare="diff")
    assert (estimate.effect_lower, estimate.effect_upper) == pytest.approx(
        (low, high), abs=TOLERANCE
    )
    ratio_low, ratio_high = confint_proportions_2indep(*counts, method="log", compare="ratio")
    assert (estimate.relative_lower, estimate.relative_upper) == pytest.approx(
        (ratio_low - 1, ratio_high - 1), abs=TOLERANCE
    )
    assert estimate.effect == pytest.approx(treatment.mean() - control.mean(), abs=TOLERANCE)


def test_pooled_proportion_test_equals_statsmodels_ztest(frame) -> None:
    import tea_tasting as tt

    control, treatment = arms(frame, "reached_cart")
    result = tt.Experiment(
        rate=tt.Proportion("reached_cart", method="norm", correction=False, equal_var=True)
    ).analyze(frame, control="control")["rate"]
    _, reference = proportions_ztest(
        [treatment.sum(), control.sum()], [len(treatment), len(control)]
    )
    assert result.pvalue == pytest.approx(reference, abs=TOLERANCE)


@pytest.mark.parametrize("column", ["revenue", "orders"])
def test_welch_t_test_and_interval_equal_scipy(frame, column) -> None:
    spec = metric_named("revenue_per_user")
    renamed = frame.assign(revenue=frame[column])
    estimate = measure(renamed, spec, "control", cuped=False)
    control, treatment = arms(frame, column)
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    interval = reference.confidence_interval(0.95)
    assert estimate.pvalue == pytest.approx(reference.pvalue, abs=TOLERANCE)
    assert (estimate.effect_lower, estimate.effect_upper) == pytest.approx(
        (interval.low, interval.high), abs=TOLERANCE
    )
    assert estimate.effect / estimate.standard_error == pytest.approx(
        reference.statistic, abs=TOLERANCE
    )


def test_student_t_test_equals_scipy(frame) -> None:
    import tea_tasting as tt

    control, treatment = arms(frame, "revenue")
    result = tt.Experiment(revenue=tt.Mean("revenue", equal_var=True)).analyze(
        frame, control="control"
    )["revenue"]
    reference = stats.ttest_ind(treatment, control, equal_var=True)
    interval = reference.confidence_interval(0.95)
    assert result.pvalue == pytest.approx(reference.pvalue, abs=TOLERANCE)
    assert (result.effect_size_ci_lower, result.effect_size_ci_upper) == pytest.approx(
        (interval.low, interval.high), abs=TOLERANCE
    )


def test_ratio_metric_is_the_delta_method_z_test(frame) -> None:
    """Average order value: the delta-method variance of a ratio of means (Deng et al. 2018)."""
    estimate = measure(frame, metric_named("average_order_value"), "control", cuped=False)

    def ratio_and_variance(numerator: np.ndarray, denominator: np.ndarray) -> tuple[float, float]:
        n, x, y = len(numerator), numerator.mean(), denominator.mean()
        covariance = np.cov(numerator, denominator, ddof=1)
        variance = (
            covariance[0, 0] / y**2
            - 2 * x * covariance[0, 1] / y**3
            + x**2 * covariance[1, 1] / y**4
        ) / n
        return x / y, variance

    control = ratio_and_variance(*arms(frame, "revenue")[:1], *arms(frame, "orders")[:1])
    treatment = ratio_and_variance(arms(frame, "revenue")[1], arms(frame, "orders")[1])
    difference = treatment[0] - control[0]
    standard_error = math.sqrt(control[1] + treatment[1])
    assert estimate.effect == pytest.approx(difference, abs=TOLERANCE)
    assert estimate.pvalue == pytest.approx(
        2 * stats.norm.sf(abs(difference) / standard_error), abs=TOLERANCE
    )
    half = stats.norm.ppf(0.975) * standard_error
    assert (estimate.effect_lower, estimate.effect_upper) == pytest.approx(
        (difference - half, difference + half), abs=TOLERANCE
    )


def test_srm_is_pearsons_chi_square(frame) -> None:
    srm = check_srm(frame, "control", "treatment")
    reference = stats.chisquare([3000, 3200])
    assert (srm.control_users, srm.treatment_users) == (3000, 3200)
    assert srm.pvalue == pytest.approx(reference.pvalue, abs=TOLERANCE)
    assert srm.chi_square == pytest.approx(reference.statistic, rel=1e-9)


def test_holm_and_benjamini_hochberg_equal_statsmodels() -> None:
    pvalues = {f"m{i}": p for i, p in enumerate([0.001, 0.012, 0.03, 0.04, 0.2, 0.7, 0.011])}
    values = list(pvalues.values())
    for adjusted, method in ((holm_adjusted, "holm"), (bh_adjusted, "fdr_bh")):
        reference = multipletests(values, alpha=0.05, method=method)[1]
        assert list(adjusted(pvalues, 0.05).values()) == pytest.approx(
            list(reference), abs=TOLERANCE
        )


def test_nan_pvalues_are_left_out_of_the_family() -> None:
    adjusted = holm_adjusted({"a": 0.01, "b": float("nan"), "c": 0.04}, 0.05)
    assert math.isnan(adjusted["b"])
    assert [adjusted["a"], adjusted["c"]] == pytest.approx(
        list(multipletests([0.01, 0.04], method="holm")[1]), abs=TOLERANCE
    )


CONVERSION = Baseline("checkout_conversion", "proportion", 0.3, 0.21, 50_000, "users", "test")


def test_power_sample_size_and_mde_equal_statsmodels() -> None:
    reference = NormalIndPower()
    effect_size = 0.05 * CONVERSION.mean / math.sqrt(CONVERSION.variance)
    assert achieved_power(CONVERSION, 0.05, 20_000) == pytest.approx(
        reference.power(effect_size, nobs1=10_000, alpha=0.05, ratio=1), abs=TOLERANCE
    )
    plan = sample_size(CONVERSION, 0.05)
    per_arm = reference.solve_power(effect_size, alpha=0.05, power=0.8, ratio=1)
    assert plan.units_per_arm == math.ceil(per_arm)
    # statsmodels' own effect-size solver stops at about 1e-4; its power function is exact.
    mde = minimum_detectable_effect(CONVERSION, 2 * plan.units_per_arm)
    mde_effect_size = mde * CONVERSION.mean / math.sqrt(CONVERSION.variance)
    assert reference.power(
        mde_effect_size, nobs1=plan.units_per_arm, alpha=0.05, ratio=1
    ) == pytest.approx(0.8, abs=1e-6)


def test_normal_posterior_matches_monte_carlo() -> None:
    result = normal_posterior(0.02, 0.015)
    draws = np.random.default_rng(0).normal(0.02, 0.015, 2_000_000)
    assert result.probability_treatment_better == pytest.approx(np.mean(draws > 0), abs=1e-3)
    assert result.expected_loss_treatment == pytest.approx(np.mean(np.maximum(-draws, 0)), rel=1e-2)
    assert result.expected_loss_control == pytest.approx(np.mean(np.maximum(draws, 0)), rel=1e-2)


def test_beta_binomial_agrees_with_the_normal_approximation_on_large_samples() -> None:
    exact = beta_binomial(3000, 10_000, 3150, 10_000, seed=1)
    se = math.sqrt(0.3 * 0.7 / 10_000 + 0.315 * 0.685 / 10_000)
    approximate = normal_posterior(0.015, se)
    assert exact.probability_treatment_better == pytest.approx(
        approximate.probability_treatment_better, abs=0.01
    )
    assert exact.expected_loss_treatment == pytest.approx(
        approximate.expected_loss_treatment, rel=0.1
    )
    assert beta_binomial(3000, 10_000, 3150, 10_000, seed=1) == exact  # seeded


def test_confidence_sequence_is_the_inverted_mixture_test() -> None:
    """At the sequence's edge the always-valid p-value of the shifted estimate is alpha."""
    estimate, variance, tau = np.array([0.03]), np.array([0.0001]), 0.02
    path = mixture_sprt(estimate, variance, tau, alpha=0.05)
    for edge in (path.lower, path.upper):
        shifted = mixture_sprt(estimate - edge, variance, tau, alpha=0.05)
        assert shifted.pvalue[0] == pytest.approx(0.05, rel=1e-9)
    # the always-valid p-value never rises, and is never below the naive one
    looks = mixture_sprt(np.array([0.02, 0.0, 0.01]), np.array([4e-4, 2e-4, 1e-4]), tau)
    assert np.all(np.diff(looks.pvalue) <= 0)
    assert np.all(
        looks.pvalue >= naive_pvalues(np.array([0.02, 0.0, 0.01]), np.array([4e-4, 2e-4, 1e-4]))
    )
