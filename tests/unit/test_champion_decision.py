"""The champion gate: a paired, user-clustered bootstrap decides, on synthetic score vectors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from ecom.churn.evaluation import _WeightedAuc, metric_interval, paired_bootstrap
from ecom.churn.gate import decide_champion


def churn_world(seed: int, users: int = 1500, cutoffs: int = 3):
    """Users seen at several cutoffs with a per-user churn propensity (so rows of one user
    are correlated, as in the real training set), and a champion that ranks them fairly."""
    rng = np.random.default_rng(seed)
    user_ids = np.repeat(np.arange(users), cutoffs)
    propensity = np.repeat(rng.normal(0, 1.2, users), cutoffs) + rng.normal(0, 0.5, len(user_ids))
    true_probability = 1 / (1 + np.exp(-propensity))
    y = (rng.random(len(user_ids)) < true_probability).astype(int)
    champion = equally_good_model(rng, propensity)
    return rng, user_ids, propensity, true_probability, y, champion


def equally_good_model(rng: np.random.Generator, propensity: np.ndarray) -> np.ndarray:
    """A model with the champion's skill but its own errors: a retrain on other data."""
    return 1 / (1 + np.exp(-(propensity + rng.normal(0, 1.0, len(propensity)))))


def gate(y, challenger, champion, users, **kwargs):
    comparison = paired_bootstrap(y, challenger, champion, users, samples=400, seed=1)
    auc = float(roc_auc_score(y, challenger))
    return decide_champion(auc, comparison, "3", **kwargs)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_a_challenger_better_only_by_noise_keeps_the_champion(seed):
    rng, users, propensity, _, y, champion = churn_world(seed)
    challenger = equally_good_model(rng, propensity)
    decision = gate(y, challenger, champion, users)
    c = decision.comparison
    assert not decision.promote, decision.reason
    assert c.auc_difference_low <= 0 <= c.auc_difference_high
    assert "lower bound does not clear" in decision.reason


def test_noise_that_happens_to_win_on_the_point_estimate_is_still_kept():
    # Find a noisy challenger whose raw AUC beats the champion's: the old rule (point
    # estimate > champion) would have promoted it.
    for seed in range(20):
        rng, users, propensity, _, y, champion = churn_world(seed)
        challenger = equally_good_model(rng, propensity)
        if roc_auc_score(y, challenger) > roc_auc_score(y, champion):
            break
    else:
        pytest.fail("no noisy challenger beat the champion on the point estimate")
    decision = gate(y, challenger, champion, users)
    assert decision.comparison.auc_difference > 0
    assert not decision.promote


def test_a_clearly_better_challenger_takes_the_alias():
    rng, users, _, truth, y, champion = churn_world(7)
    challenger = np.clip(truth + rng.normal(0, 0.02, len(truth)), 0, 1)  # close to the truth
    decision = gate(y, challenger, champion, users)
    assert decision.promote, decision.reason
    assert decision.comparison.auc_difference_low > 0
    assert decision.champion_score == pytest.approx(roc_auc_score(y, champion))


def test_the_margin_and_the_calibration_allowance_are_enforced():
    rng, users, _, truth, y, champion = churn_world(7)
    better = np.clip(truth + rng.normal(0, 0.02, len(truth)), 0, 1)
    gain = paired_bootstrap(y, better, champion, users, samples=400, seed=1)
    assert not gate(
        y, better, champion, users, min_auc_gain=gain.auc_difference_low + 0.001
    ).promote
    # Same ranking (so same AUC gain), but probabilities squeezed towards 0.5: badly calibrated.
    squeezed = 0.5 + (better - 0.5) * 0.2
    decision = gate(y, squeezed, champion, users, max_brier_increase=0.0)
    assert decision.comparison.auc_difference_low > 0
    assert decision.comparison.brier_difference > 0
    assert not decision.promote
    assert "calibration worsens" in decision.reason


def test_clustering_by_user_widens_the_interval():
    rng, users, propensity, _, y, champion = churn_world(3, users=600, cutoffs=6)
    # A challenger whose errors are per user (it misjudges some users at every cutoff): its
    # rows are not independent evidence, which only resampling users accounts for.
    per_user_error = np.repeat(rng.normal(0, 1.0, 600), 6)
    challenger = 1 / (1 + np.exp(-(propensity + per_user_error)))
    clustered = paired_bootstrap(y, challenger, champion, users, samples=400, seed=2)
    by_row = paired_bootstrap(y, challenger, champion, np.arange(len(y)), samples=400, seed=2)
    assert clustered.users == 600 and by_row.users == len(y)
    width = clustered.auc_difference_high - clustered.auc_difference_low
    assert width > by_row.auc_difference_high - by_row.auc_difference_low


def test_weighted_auc_matches_sklearn_with_ties_and_weights():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500), 1)  # many ties
    weights = rng.integers(0, 4, 500).astype(float)
    assert _WeightedAuc(y, scores)(weights) == pytest.approx(
        roc_auc_score(y, scores, sample_weight=weights)
    )


def test_point_estimates_and_metric_intervals_are_the_plain_metrics():
    _, users, _, truth, y, champion = churn_world(9)
    comparison = paired_bootstrap(y, truth, champion, users, samples=200)
    assert comparison.challenger_auc == pytest.approx(roc_auc_score(y, truth))
    assert comparison.brier_difference == pytest.approx(
        brier_score_loss(y, truth) - brier_score_loss(y, champion)
    )
    interval = metric_interval(y, champion, users, samples=200)
    assert interval["roc_auc_low"] < interval["roc_auc"] < interval["roc_auc_high"]
    assert interval["brier_low"] < interval["brier"] < interval["brier_high"]


def test_first_model_and_unscorable_champion_are_promoted():
    assert decide_champion(0.71, None, None).reason == "no champion yet"
    decision = decide_champion(0.7, None, "2")
    assert decision.promote and "cannot score" in decision.reason


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="one entry per row"):
        paired_bootstrap(np.array([0, 1]), np.array([0.1, 0.9]), np.array([0.2]), np.array([1, 2]))


def test_a_clearly_better_challenger_on_data_the_gate_refused_is_not_crowned():
    _, users, propensity, _, y, champion = churn_world(0)
    challenger = 1 / (1 + np.exp(-propensity))  # knows the propensity exactly: clearly better
    assert gate(y, challenger, champion, users).promote  # crowned on data that passed
    refused = gate(y, challenger, champion, users, refusal="the quality gate failed on this load")
    assert not refused.promote
    assert "quality gate failed" in refused.reason and "champion stays v3" in refused.reason
    first = decide_champion(0.9, None, None, refusal="the quality gate failed on this load")
    assert not first.promote  # not even the first model of a registry
