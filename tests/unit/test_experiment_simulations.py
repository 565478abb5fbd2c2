"""The engine's behaviour on experiments whose truth is known, simulated with seeded,
vectorised numpy: intervals cover planted lifts at their nominal rate, A/A splits reject at
alpha, daily peeking inflates the naive test but not the sequential one, SRM catches a broken
split, CUPED narrows the interval when the pre-period predicts the outcome, and the verdict
follows the checks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tea_tasting as tt
from tea_tasting.aggr import Aggregates

from ecom.experiments.analysis import analyze_experiment, check_srm, measure
from ecom.experiments.metrics import METRICS, metric_named
from ecom.experiments.sequential import mixture_sprt, naive_pvalues


def _aggregates(values: np.ndarray, column: str) -> list[Aggregates]:
    """Per-experiment count, mean and variance of one arm (rows = experiments)."""
    count = values.shape[1]
    means, variances = values.mean(axis=1), values.var(axis=1, ddof=1)
    return [
        Aggregates(count_=count, mean_={column: m}, var_={column: v})
        for m, v in zip(means, variances, strict=True)
    ]


def test_relative_interval_covers_planted_conversion_lifts_at_95_percent() -> None:
    rng = np.random.default_rng(20)
    experiments, per_arm, base = 1000, 4000, 0.3
    lifts = rng.uniform(-0.10, 0.20, experiments)
    control = rng.random((experiments, per_arm)) < base
    treatment = rng.random((experiments, per_arm)) < (base * (1 + lifts))[:, None]
    metric = metric_named("add_to_cart_rate").test(cuped=False)
    covered = [
        result.rel_effect_size_ci_lower <= lift <= result.rel_effect_size_ci_upper
        for lift, c, t in zip(
            lifts,
            _aggregates(control.astype(float), "reached_cart"),
            _aggregates(treatment.astype(float), "reached_cart"),
            strict=True,
        )
        for result in [metric.analyze_aggregates(c, t)]
    ]
    assert 0.93 <= np.mean(covered) <= 0.97


def test_welch_interval_covers_planted_revenue_lifts_at_95_percent() -> None:
    rng = np.random.default_rng(21)
    experiments, per_arm = 600, 3000
    lifts = rng.uniform(-2.0, 4.0, experiments)
    control = rng.lognormal(3, 1, (experiments, per_arm))
    treatment = rng.lognormal(3, 1, (experiments, per_arm)) + lifts[:, None]
    metric = metric_named("revenue_per_user").test(cuped=False)
    covered = [
        result.effect_size_ci_lower <= lift <= result.effect_size_ci_upper
        for lift, c, t in zip(
            lifts, _aggregates(control, "revenue"), _aggregates(treatment, "revenue"), strict=True
        )
        for result in [metric.analyze_aggregates(c, t)]
    ]
    assert 0.93 <= np.mean(covered) <= 0.97


def test_aa_random_splits_reject_at_alpha() -> None:
    """1,000 random splits of one population: no true effect, 3-7% rejected at 0.05."""
    rng = np.random.default_rng(22)
    population = rng.lognormal(3, 1.2, 20_000) * (rng.random(20_000) < 0.6)
    treated = rng.random((1000, population.size)) < 0.5
    metric = metric_named("revenue_per_user").test(cuped=False)

    def arm(mask: np.ndarray) -> list[Aggregates]:
        count = mask.sum(axis=1)
        total, squares = mask @ population, mask @ population**2
        variance = (squares - total**2 / count) / (count - 1)
        return [
            Aggregates(count_=int(n), mean_={"revenue": s / n}, var_={"revenue": v})
            for n, s, v in zip(count, total, variance, strict=True)
        ]

    pvalues = [
        metric.analyze_aggregates(c, t).pvalue
        for c, t in zip(arm(~treated), arm(treated), strict=True)
    ]
    assert 0.03 <= np.mean(np.array(pvalues) < 0.05) <= 0.07


def test_daily_peeking_inflates_the_naive_test_but_not_the_sequential_one() -> None:
    """2,000 A/A tests watched for 28 days: stopping at the first naive p < 0.05 rejects far
    more than 5%; stopping at the first always-valid p < 0.05 stays at or under 5%."""
    rng = np.random.default_rng(23)
    experiments, days, daily_users, rate = 2000, 28, 300, 0.3
    conversions = rng.binomial(daily_users, rate, (2, experiments, days)).cumsum(axis=2)
    users = daily_users * np.arange(1, days + 1)
    control, treatment = conversions / users
    estimate = treatment - control
    variance = (control * (1 - control) + treatment * (1 - treatment)) / users
    naive = naive_pvalues(estimate, variance)
    sequential = mixture_sprt(estimate, variance, mixture_sd=0.1 * rate).pvalue
    naive_rate = np.mean((naive < 0.05).any(axis=1))
    sequential_rate = np.mean((sequential < 0.05).any(axis=1))
    final_look_rate = np.mean(naive[:, -1] < 0.05)
    assert naive_rate > 0.15 and naive_rate > 2.5 * final_look_rate
    assert sequential_rate <= 0.05
    # and it still finds a real 10% lift over the same 28 days
    lifted = rng.binomial(daily_users, rate * 1.1, (experiments, days)).cumsum(axis=1) / users
    variance = (control * (1 - control) + lifted * (1 - lifted)) / users
    found = mixture_sprt(lifted - control, variance, mixture_sd=0.1 * rate).pvalue
    assert np.mean((found < 0.05).any(axis=1)) > 0.5


def test_srm_fails_a_52_48_split_and_passes_a_fair_one() -> None:
    broken = pd.DataFrame({"variant": ["treatment"] * 10_400 + ["control"] * 9_600})
    coins = np.random.default_rng(24).random(20_000) < 0.5
    fair = pd.DataFrame({"variant": np.where(coins, "treatment", "control")})
    failed = check_srm(broken, "control", "treatment")
    assert not failed.passed and failed.chi_square == pytest.approx(32.0)
    assert check_srm(fair, "control", "treatment").passed


def test_cuped_narrows_the_interval_only_when_the_pre_period_predicts() -> None:
    rng = np.random.default_rng(25)
    n = 8000
    variant = np.where(rng.random(n) < 0.5, "treatment", "control")
    pre = rng.lognormal(3, 1, n)
    correlated = pd.DataFrame(
        {"variant": variant, "pre_revenue": pre, "revenue": 0.9 * pre + rng.normal(0, 10, n)}
    )
    unrelated = correlated.assign(pre_revenue=rng.permutation(pre))
    spec = metric_named("revenue_per_user")
    for frame, narrowed in ((correlated, True), (unrelated, False)):
        plain = measure(frame, spec, "control", cuped=False)
        cuped = measure(frame, spec, "control", cuped=True)
        narrowing = 1 - cuped.interval_width / plain.interval_width
        if narrowed:
            assert narrowing > 0.5
        else:
            assert abs(narrowing) < 0.02


def experiment_rows(seed: int, treatment_share: float, lift: float, users: int = 6000):
    """A synthetic mart_experiment_results: conversion lifted by `lift` in treatment."""
    rng = np.random.default_rng(seed)
    treated = rng.random(users) < treatment_share
    start = pd.Timestamp("2025-01-01", tz="UTC")
    exposed = start + pd.to_timedelta(rng.uniform(0, 28, users), unit="D")
    propensity = rng.uniform(0.2, 0.6, users)
    cart_sessions = rng.poisson(1.0, users)
    purchase_sessions = rng.binomial(
        cart_sessions, np.minimum(propensity * (1 + lift * treated), 1)
    )
    orders = purchase_sessions
    revenue = orders * rng.lognormal(4, 0.5, users)
    frame = pd.DataFrame(
        {
            "variant": np.where(treated, "treatment", "control"),
            "first_exposed_at": exposed,
            "analysis_window_ended_at": np.minimum(
                exposed + pd.Timedelta(days=14), start + pd.Timedelta(days=29)
            ),
            "traffic_source": rng.choice(["Search", "Email", "Organic"], users),
            "browser": rng.choice(["Chrome", "Safari"], users),
            "sessions": cart_sessions + rng.poisson(2, users),
            "cart_sessions": cart_sessions,
            "purchase_sessions": purchase_sessions,
            "reached_cart": (cart_sessions > 0).astype(int),
            "purchased_after_cart": (purchase_sessions > 0).astype(int),
            "orders": orders,
            "revenue": revenue,
            "items": orders * 2,
        }
    )
    # The pre-period shares each user's latent propensity, not the window's noise.
    pre_cart_sessions = rng.poisson(1.0, users)
    frame["pre_cart_sessions"] = pre_cart_sessions
    frame["pre_purchase_sessions"] = rng.binomial(pre_cart_sessions, propensity)
    frame["pre_orders"] = frame["pre_purchase_sessions"]
    frame["pre_reached_cart"] = (frame["pre_cart_sessions"] > 0).astype(int)
    frame["pre_purchased_after_cart"] = (frame["pre_purchase_sessions"] > 0).astype(int)
    frame["pre_revenue"] = frame["pre_orders"] * rng.lognormal(4, 0.5, users)
    return frame


def test_analysis_ships_a_real_lift_and_blocks_a_broken_split() -> None:
    shipped = analyze_experiment(experiment_rows(26, 0.5, 0.4), "lifted")
    assert shipped.srm.passed
    assert shipped.verdict.decision == "ship", shipped.verdict.reason
    assert [metric.name for metric in shipped.metrics] == [spec.name for spec in METRICS]
    primary = shipped.primary
    assert primary.cuped.relative_lower > 0 and primary.bayes.probability_treatment_better > 0.99
    assert all(np.isfinite(metric.ci_narrowing) for metric in shipped.metrics)
    assert {segment.dimension for segment in shipped.segments} == {"traffic_source", "browser"}
    assert shipped.sequential and shipped.sequential[-1].users == shipped.users
    json.dumps(shipped.to_dict(), allow_nan=True)

    blocked = analyze_experiment(experiment_rows(27, 0.52, 0.15, users=20_000), "broken")
    assert (
        blocked.verdict.decision == "blocked" and "sample ratio mismatch" in blocked.verdict.reason
    )

    flat = analyze_experiment(experiment_rows(28, 0.5, 0.0), "flat", segments=False)
    assert flat.verdict.decision == "no decision", flat.verdict.reason


def test_more_than_two_variants_is_a_clear_error() -> None:
    frame = experiment_rows(29, 0.5, 0.0, users=300)
    frame.loc[:10, "variant"] = "other"
    with pytest.raises(ValueError, match="expected two variants, found 3"):
        analyze_experiment(frame, "three")


def test_tea_tasting_is_the_engine() -> None:
    """The metric objects are tea-tasting's, so its documented behaviour is what runs."""
    for spec in METRICS:
        for cuped in (False, True):
            assert isinstance(spec.test(cuped=cuped), tt.metrics.MetricBaseAggregated)
