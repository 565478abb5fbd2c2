"""Uplift metrics and policies on hand-made users whose effects are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecom.churn.predict import Economics
from ecom.targeting import metrics
from ecom.targeting.policies import evaluate_policies, policy_masks


def test_ipw_terms_recover_the_effect_of_a_randomized_contact() -> None:
    rng = np.random.default_rng(3)
    n = 200_000
    propensity = np.where(rng.random(n) < 0.5, 0.5, 0.7)  # two campaigns, two shares
    treated = rng.random(n) < propensity
    converted = rng.random(n) < np.where(treated, 0.30, 0.10)
    estimate = metrics.ipw_terms(converted, treated, propensity).mean()
    assert estimate == pytest.approx(0.20, abs=0.01)
    # Ignoring the shares (a plain difference over pooled arms) would not be unbiased here in
    # general; the IPW term is, which is why every estimate in the stage goes through it.
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        metrics.ipw_terms(converted[:2], treated[:2], np.array([0.5, 1.0]))


def test_qini_rewards_finding_the_movable_first() -> None:
    effects = np.array([0.0, 0.0, 1.0, 1.0, -1.0, 0.0])
    perfect = metrics.qini_coefficient(effects, effects)
    reverse = metrics.qini_coefficient(-effects, effects)
    assert perfect > 0 > reverse
    # A constant score keeps the input order: the curve of the data as it came.
    assert metrics.uplift_curve(np.zeros(6), effects).tolist() == [0, 0, 0, 1, 2, 1, 1]
    assert metrics.uplift_at_k(effects, effects, 2 / 6) == pytest.approx(1.0)
    assert metrics.auuc(effects, effects) > metrics.auuc(-effects, effects)


def test_random_scores_have_a_qini_near_zero() -> None:
    rng = np.random.default_rng(5)
    effects = rng.normal(0.1, 0.3, 20_000)
    values = [metrics.qini_coefficient(rng.random(len(effects)), effects) for _ in range(20)]
    assert abs(np.mean(values)) < 0.005


def test_bootstrap_interval_brackets_the_estimate() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(1.0, 1.0, 500)
    interval = metrics.bootstrap_interval(np.mean, metrics.bootstrap_samples(500, 300, 0), values)
    assert interval.low < interval.estimate < interval.high
    assert interval.high - interval.low == pytest.approx(2 * 1.96 / np.sqrt(500), rel=0.25)


def _users(n: int = 1_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    true_effect = rng.choice([-0.3, 0.0, 0.05, 0.4], n)
    risk = np.where(
        true_effect == 0.0, 0.99, rng.uniform(0.3, 0.7, n)
    )  # surest churners: unmovable
    y0 = rng.random(n) < 0.2
    y1 = np.where(true_effect > 0, y0 | (rng.random(n) < true_effect), y0 & (rng.random(n) > 0.6))
    treated = rng.random(n) < 0.5
    return pd.DataFrame(
        {
            "churn_probability": risk,
            "estimated_effect": true_effect + rng.normal(0, 0.02, n),
            "true_effect": true_effect,
            "y0": y0,
            "y1": y1,
            "is_treated": treated.astype(int),
            "treatment_share": 0.5,
            "converted": np.where(treated, y1, y0).astype(int),
        }
    )


def test_policies_rank_as_their_definitions_say() -> None:
    users = _users()
    economics = Economics()
    masks = policy_masks(users, 0.2, economics)
    assert masks["random"] == pytest.approx(0.2)
    assert masks["uplift"].sum() == masks["churn_risk"].sum() == 200
    assert (users.loc[masks["uplift"], "estimated_effect"] > 0).all()
    # The formula is churn risk cut where p x 150 x 30% - 10 turns negative (p < 0.222).
    cheap = users.assign(churn_probability=np.linspace(0, 0.3, len(users)))
    ev = policy_masks(cheap, 0.5, economics)["ev_formula"]
    assert cheap.loc[ev, "churn_probability"].min() > 10 / 45

    table = evaluate_policies(users, economics, budgets=(0.2,), n_boot=50)
    truth = table.set_index("policy")["incremental_conversions_truth"]
    assert truth["oracle"] >= truth["uplift"] > truth["random"] > truth["churn_risk"]
    ipw = table.set_index("policy")
    assert (ipw["incremental_conversions_ipw_low"] <= ipw["incremental_conversions_ipw"]).all()


def test_the_uplift_gate_promotes_a_first_version_and_only_a_clear_gain_after() -> None:
    from ecom.targeting.registry import decide_uplift_champion

    assert decide_uplift_champion(None, None, 0.0) == (True, "promoted: the first champion")
    promoted, reason = decide_uplift_champion(None, "3", 0.0)
    assert promoted and "champion v3 cannot score" in reason
    clear = metrics.Interval(0.02, 0.005, 0.04)
    assert decide_uplift_champion(clear, "3", 0.0)[0]
    promoted, reason = decide_uplift_champion(clear, "3", 0.01)
    assert not promoted and reason.startswith("kept champion v3")
