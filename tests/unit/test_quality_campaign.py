"""The campaign's randomization checks: sample ratio against the plan, and covariate balance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ecom.quality.campaign import (
    SMD_THRESHOLD,
    _failures,
    feature_balance,
    feature_coverage,
    sample_ratio,
    sample_ratios,
    standardized_mean_difference,
)


@pytest.mark.parametrize(
    ("treated", "control", "planned"), [(500, 500, 0.5), (560, 440, 0.5), (700, 300, 0.7)]
)
def test_the_chi_square_is_scipys(treated: int, control: int, planned: float) -> None:
    total = treated + control
    reference = stats.chisquare([treated, control], [total * planned, total * (1 - planned)])
    ratio = sample_ratio("c", treated, control, planned)
    assert ratio.chi_square == pytest.approx(reference.statistic)
    assert ratio.pvalue == pytest.approx(reference.pvalue)


def test_a_split_off_its_plan_is_a_mismatch_and_on_it_is_not() -> None:
    assert not sample_ratio("even", 500, 500, 0.5).mismatched
    assert not sample_ratio("seventy", 700, 300, 0.7).mismatched
    # 7 points off a 50/50 plan in 1,000 users: chi-square 19.6, p about 1e-5.
    broken = sample_ratio("broken", 570, 430, 0.5)
    assert broken.mismatched and "planned share of 0.500" in broken.describe()
    # The same 70/30 split is right for a 70% plan and a mismatch for a 50% one.
    assert sample_ratio("seventy", 700, 300, 0.5).mismatched


def test_a_plan_outside_zero_and_one_or_two_plans_in_a_campaign_are_refused() -> None:
    with pytest.raises(ValueError, match="campaign w1: planned_treatment_share"):
        sample_ratio("w1", 5, 5, 1.0)
    mixed = pd.DataFrame(
        {
            "campaign_id": ["w1"] * 4,
            "is_treated": [1, 0, 1, 0],
            "planned_treatment_share": [0.5, 0.5, 0.7, 0.7],
        }
    )
    with pytest.raises(ValueError, match="campaign w1 has 2 distinct planned_treatment_share"):
        sample_ratios(mixed)


def test_standardized_mean_difference() -> None:
    assert standardized_mean_difference(np.array([1.0, 2.0, 3.0]), np.array([2.0, 3, 4])) == (
        pytest.approx(-1.0)
    )
    assert standardized_mean_difference(np.full(5, 2.0), np.full(5, 2.0)) == 0.0
    with_missing = np.array([1.0, np.nan, 3.0])
    assert standardized_mean_difference(with_missing, np.array([1.0, 3.0])) == 0.0


def _campaign(n: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treated = rng.random(n) < 0.5
    return pd.DataFrame(
        {
            "campaign_id": "w1",
            "is_treated": treated.astype(int),
            "balanced": rng.normal(size=n),
            "shifted": rng.normal(size=n) + shift * treated,
            "constant": 1.0,
        }
    )


def test_a_feature_shifted_in_one_arm_is_flagged_and_a_fair_coin_is_not() -> None:
    balances = feature_balance(_campaign(20_000, 0.3, seed=1), ["balanced", "shifted", "constant"])
    flagged = {balance.feature for balance in balances if balance.imbalanced}
    assert flagged == {"shifted"}
    failures = _failures([], balances)
    assert [failure.column for failure in failures] == ["shifted"]
    assert all(not failure.blocks for failure in failures)  # imbalance warns, never blocks
    assert "campaign w1: shifted differs" in failures[0].message


def test_in_a_small_campaign_chance_alone_passing_the_threshold_is_not_flagged() -> None:
    """Forty users: an SMD above 0.1 is common by chance; only one beyond chance is flagged."""
    balances = feature_balance(_campaign(40, 0.0, seed=3), ["balanced", "shifted"])
    assert max(abs(balance.smd) for balance in balances) > SMD_THRESHOLD
    assert not any(balance.imbalanced for balance in balances)


def test_a_sample_ratio_mismatch_blocks_and_names_the_campaign() -> None:
    failures = _failures([sample_ratio("winback_x", 570, 430, 0.5)], [])
    assert len(failures) == 1 and failures[0].blocks
    assert "sample-ratio mismatch in campaign winback_x" in failures[0].message


def test_a_campaign_without_features_as_of_its_contact_warns_naming_it() -> None:
    frame = pd.DataFrame(
        {
            "campaign_id": ["old"] * 3 + ["new"] * 2,
            "contact_date": ["2024-12-02"] * 3 + ["2025-01-06"] * 2,
            "has_features": [False, False, True, True, True],
        }
    )
    coverages = feature_coverage(frame)
    assert [(c.campaign_id, c.with_features, c.short) for c in coverages] == [
        ("new", 2, False),
        ("old", 1, True),
    ]
    (failure,) = _failures([], [], coverages)
    assert not failure.blocks and failure.rows == 2
    assert "campaign old: 1 of 3 users have features as of the contact on 2024-12-02" in (
        failure.message
    )
