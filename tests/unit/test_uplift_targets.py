"""The retention list by incremental value: who is on it, in which order, and where it stops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecom.churn.predict import Economics
from ecom.targeting.targets import (
    FALLBACK_BASIS,
    UPLIFT_BASIS,
    contact_decisions,
    rank_by_churn_risk,
    rank_by_incremental_value,
)

ECONOMICS = Economics(customer_ltv=150.0, win_back_rate=0.3, contact_cost=10.0)


def _users() -> pd.DataFrame:
    effect = np.array([0.40, -0.20, 0.10, 0.05, 0.30, 0.0, 0.07])
    return pd.DataFrame(
        {
            "user_id": np.arange(1, len(effect) + 1),
            "estimated_effect": effect,
            "effect_low": effect - 0.05,
            "effect_high": effect + 0.05,
            "churn_probability": [0.2, 0.99, 0.5, 0.9, 0.4, 0.95, 0.1],
            "recency_days": [3.0, 80.0, 20.0, 50.0, 9.0, 60.0, 1.0],
            "expected_incremental_value": effect * ECONOMICS.customer_ltv - ECONOMICS.contact_cost,
        }
    )


def _risk_users(users: pd.DataFrame) -> pd.DataFrame:
    """Users with the fallback's decision columns, from the function batch and online share."""
    decisions = contact_decisions(users, users["churn_probability"].to_numpy(), ECONOMICS).frame()
    kept = users.drop(columns=[c for c in decisions if c in users])
    return pd.concat([kept, decisions], axis=1)


def test_the_fallback_decision_is_risk_times_value_and_says_so() -> None:
    decisions = contact_decisions(_users(), np.array([0.1, 0.5, 0.9]), ECONOMICS)
    assert decisions.expected_incremental_value.tolist() == pytest.approx([-5.5, 12.5, 30.5])
    assert decisions.contact_recommended.tolist() == [False, True, True]
    assert decisions.list_basis == FALLBACK_BASIS
    assert np.isnan(decisions.estimated_effect).all()


def test_list_ranks_by_incremental_value_and_stops_at_the_first_loss() -> None:
    targets, stopped_by = rank_by_incremental_value(_users(), ECONOMICS)
    # 0.05 x 150 - 10 < 0 and 0.0667 x 150 = 10: users 4, 6 (and the harmed 2) never make it.
    assert targets["user_id"].tolist() == [1, 5, 3, 7]
    assert targets["target_rank"].tolist() == [1, 2, 3, 4]
    assert targets["expected_incremental_value"].tolist() == pytest.approx([50.0, 35.0, 5.0, 0.5])
    assert targets["cumulative_value"].iloc[-1] == pytest.approx(90.5)
    assert (targets["list_basis"] == UPLIFT_BASIS).all()
    assert "loses money" in stopped_by
    assert "adds 40%" in targets["reason"].iloc[0]


def test_budget_and_max_contacts_cut_the_list() -> None:
    by_budget, stopped = rank_by_incremental_value(_users(), ECONOMICS, budget=25.0)
    assert by_budget["user_id"].tolist() == [1, 5] and "--budget" in stopped
    capped, stopped = rank_by_incremental_value(_users(), ECONOMICS, max_contacts=1)
    assert capped["user_id"].tolist() == [1] and "--max-contacts" in stopped
    with pytest.raises(ValueError, match="--budget"):
        rank_by_incremental_value(_users(), ECONOMICS, budget=-1.0)


def test_without_campaign_data_the_list_is_the_labelled_risk_fallback() -> None:
    targets, _ = rank_by_churn_risk(_risk_users(_users()), ECONOMICS)
    assert targets["user_id"].tolist() == [2, 6, 4, 3, 5]  # p x 45 - 10 > 0 means p > 0.222
    assert (targets["list_basis"] == FALLBACK_BASIS).all()
    assert targets["reason"].str.startswith("FALLBACK").all()
    assert targets["estimated_effect"].isna().all()


def _tied(values: list[float], recency: list[float]) -> pd.DataFrame:
    """Users whose churn probability gives exactly `values` under ECONOMICS (p x 45 - 10)."""
    return pd.DataFrame(
        {
            "user_id": [5, 3, 9, 1, 7][: len(values)],
            "churn_probability": [(value + 10.0) / 45.0 for value in values],
            "recency_days": recency,
        }
    )


def test_ties_go_to_the_more_recent_buyer_then_the_lower_user_id() -> None:
    """A tree ensemble gives whole blocks of users one probability: ties are broken by meaning
    (a recent buyer is still reachable), then by user id, never by table order."""
    users = _tied([1.0, 20.0, 20.0, -2.0, 7.5], [10.0, 40.0, 40.0, 3.0, 8.0])
    users = _risk_users(users)
    targets, _ = rank_by_churn_risk(users, ECONOMICS, max_contacts=3)
    assert targets["user_id"].tolist() == [3, 9, 7]
    everyone, stopped_by = rank_by_churn_risk(users, ECONOMICS)
    assert 1 not in set(everyone["user_id"]) and len(everyone) == 4  # a losing contact never
    assert "loses money" in stopped_by
    unknown = _risk_users(_tied([30.0, 30.0, 30.0, 30.0], [50.0, np.nan, 5.0, 5.0]))
    ranked, _ = rank_by_churn_risk(unknown, ECONOMICS)
    assert ranked["user_id"].tolist() == [1, 9, 5, 3]  # recency, then user_id; unknown last
    with pytest.raises(ValueError, match="recency_days"):
        rank_by_churn_risk(unknown.drop(columns="recency_days"), ECONOMICS)
    with pytest.raises(ValueError, match="--max-contacts"):
        rank_by_churn_risk(unknown, ECONOMICS, max_contacts=-1)
