"""The Qini curves as data (what the memo's PNG draws and the report's table stores), checked
against curves worked by hand, and the policy table's columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecom.targeting.curves import qini_curves
from ecom.targeting.evaluation_tables import POLICY_COLUMNS, policy_rows
from ecom.targeting.plot import plot_qini

# Half treated: a treated buyer's IPW term is +2, a held-out buyer's -2, anyone else's 0.
FOUR_USERS = pd.DataFrame(
    {
        "converted": [1, 1, 0, 0],
        "is_treated": [1, 0, 1, 0],
        "treatment_share": [0.5] * 4,
        "estimated_effect": [0.9, 0.1, 0.5, 0.3],
        "churn_probability": [0.1, 0.9, 0.2, 0.3],
    }
)


def _heights(curves: pd.DataFrame, ranking: str) -> list[float]:
    return curves.loc[curves["ranking"] == ranking, "incremental_conversions_ipw"].tolist()


def test_each_ranking_accumulates_the_ipw_terms_of_its_top_users() -> None:
    curves = qini_curves(FOUR_USERS, points=None)
    assert sorted(set(curves["ranking"])) == ["churn_risk", "random", "uplift"]  # no truth
    shares = curves.loc[curves["ranking"] == "uplift", "share_contacted"].tolist()
    assert shares == [0.0, 25.0, 50.0, 75.0, 100.0]
    # Uplift ranks the treated buyer (+2) first and the held-out buyer (-2) last.
    assert _heights(curves, "uplift") == [0.0, 2.0, 2.0, 2.0, 0.0]
    # Churn risk ranks them the other way round.
    assert _heights(curves, "churn_risk") == [0.0, -2.0, -2.0, -2.0, 0.0]
    assert _heights(curves, "random") == [0.0] * 5  # straight to the total, which is 0


def test_the_oracle_appears_with_the_truth_and_every_ranking_ends_at_the_same_total() -> None:
    rng = np.random.default_rng(3)
    users = 1_000
    test = pd.DataFrame(
        {
            "converted": rng.integers(0, 2, users),
            "is_treated": rng.integers(0, 2, users),
            "treatment_share": rng.uniform(0.2, 0.8, users),
            "estimated_effect": rng.normal(size=users),
            "churn_probability": rng.uniform(size=users),
            "true_effect": rng.normal(size=users),
        }
    )
    curves = qini_curves(test, points=101)
    assert curves.groupby("ranking").size().to_dict() == {
        "churn_risk": 101,
        "oracle": 101,
        "random": 101,
        "uplift": 101,
    }
    assert np.allclose(curves.loc[curves["ranking"] == "uplift", "share_contacted"], np.arange(101))
    ends = curves[curves["share_contacted"] == 100]["incremental_conversions_ipw"]
    assert np.allclose(ends, ends.iloc[0]) and ends.iloc[0] != 0
    random = curves[curves["ranking"] == "random"]
    assert np.allclose(
        random["incremental_conversions_ipw"], ends.iloc[0] * random["share_contacted"] / 100
    )


def test_a_coarse_grid_on_few_users_keeps_whole_users() -> None:
    curves = qini_curves(FOUR_USERS, points=3)
    assert curves.loc[curves["ranking"] == "uplift", "share_contacted"].tolist() == [0, 50, 100]
    assert _heights(curves, "uplift") == [0.0, 2.0, 0.0]


def test_bad_input_names_the_missing_column_or_the_grid() -> None:
    with pytest.raises(ValueError, match="estimated_effect"):
        qini_curves(FOUR_USERS.drop(columns="estimated_effect"))
    with pytest.raises(ValueError, match="no held-out campaign users"):
        qini_curves(FOUR_USERS.iloc[:0])
    with pytest.raises(ValueError, match="at least 2 points"):
        qini_curves(FOUR_USERS, points=1)


def test_policy_rows_keep_the_tables_columns_with_or_without_the_truth() -> None:
    estimated = {
        "policy": ["uplift"],
        "budget_share": [0.2],
        "contacts": [10],
        "incremental_conversions_ipw": [3.0],
        "incremental_conversions_ipw_low": [1.0],
        "incremental_conversions_ipw_high": [5.0],
        "profit_ipw": [40.0],
    }
    rows = policy_rows(pd.DataFrame(estimated))
    assert tuple(rows.columns) == POLICY_COLUMNS
    assert rows["incremental_conversions_truth"].isna().all()
    with_truth = policy_rows(
        pd.DataFrame(estimated | {"incremental_conversions_truth": [2.5], "profit_truth": [30.0]})
    )
    assert with_truth.loc[0, "incremental_conversions_truth"] == 2.5
    with pytest.raises(ValueError, match="profit_ipw"):
        policy_rows(pd.DataFrame(estimated).drop(columns="profit_ipw"))


def test_the_memos_qini_png_draws_the_same_curves(tmp_path) -> None:
    rng = np.random.default_rng(7)
    users = 600
    true_effect = rng.normal(0.05, 0.1, users)
    treated = rng.integers(0, 2, users)
    test = pd.DataFrame(
        {
            "converted": rng.uniform(size=users) < 0.2 + treated * np.clip(true_effect, 0, None),
            "is_treated": treated,
            "treatment_share": 0.5,
            "estimated_effect": true_effect + rng.normal(0, 0.05, users),
            "churn_probability": rng.uniform(size=users),
            "true_effect": true_effect,
        }
    )
    path = plot_qini(test, tmp_path / "qini.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
