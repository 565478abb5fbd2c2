"""The retention list by incremental value: who is on it, in which order, and where it stops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecom.churn.predict import Economics
from ecom.targeting.targets import (
    FALLBACK_BASIS,
    UPLIFT_BASIS,
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
        }
    )


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
    targets, _ = rank_by_churn_risk(_users().drop(columns=["estimated_effect"]), ECONOMICS)
    assert targets["user_id"].tolist() == [2, 6, 4, 3, 5]  # p x 45 - 10 > 0 means p > 0.222
    assert (targets["list_basis"] == FALLBACK_BASIS).all()
    assert targets["reason"].str.startswith("FALLBACK").all()
    assert targets["estimated_effect"].isna().all()
