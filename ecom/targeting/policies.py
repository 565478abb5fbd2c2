"""Which policy buys the most: incremental conversions and profit of contact lists at a budget.

Five policies rank the same held-out campaign users:
- `random`: the expectation of contacting a random share (the budget's share of the total);
- `churn_risk`: highest churn probability first (today's retention list);
- `ev_formula`: the original platform's p(churn) x $150 x 30% - $10, contacting only while it
  is positive (the same order as churn risk, stopped where the formula turns negative);
- `uplift`: highest estimated effect first, never a user with a non-positive estimate;
- `oracle`: highest true effect first (the ceiling; needs the truth).

Each is measured twice: on the planted potential outcomes (sum of y1 - y0 over the contacted),
and by the inverse-propensity estimate from what was observed, the number a real team gets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ecom.churn.predict import Economics
from ecom.targeting.metrics import Interval, bootstrap_interval, bootstrap_samples, ipw_terms

BUDGETS = (0.05, 0.10, 0.20, 0.50)
POLICIES = ("random", "churn_risk", "ev_formula", "uplift", "oracle")


def _contact_mask(scores: np.ndarray, eligible: np.ndarray, budget: int) -> np.ndarray:
    """The top `budget` users by score among the eligible."""
    order = np.argsort(-scores, kind="stable")
    order = order[eligible[order]][:budget]
    mask = np.zeros(len(scores), dtype=bool)
    mask[order] = True
    return mask


def policy_masks(
    frame: pd.DataFrame, budget_share: float, economics: Economics
) -> dict[str, np.ndarray | float]:
    """Per policy, which users it contacts at this budget (random: the share it contacts)."""
    n = len(frame)
    budget = max(1, round(budget_share * n))
    risk = frame["churn_probability"].to_numpy(dtype=float)
    effect = frame["estimated_effect"].to_numpy(dtype=float)
    everyone = np.ones(n, dtype=bool)
    expected_value = risk * economics.customer_ltv * economics.win_back_rate
    masks: dict[str, np.ndarray | float] = {
        "random": budget / n,
        "churn_risk": _contact_mask(risk, everyone, budget),
        "ev_formula": _contact_mask(risk, expected_value - economics.contact_cost > 0, budget),
        "uplift": _contact_mask(effect, effect > 0, budget),
    }
    if "true_effect" in frame:
        true_effect = frame["true_effect"].to_numpy(dtype=float)
        masks["oracle"] = _contact_mask(true_effect, true_effect > 0, budget)
    return masks


def _gain(mask: np.ndarray | float, effects: np.ndarray) -> float:
    if isinstance(mask, float):
        return mask * float(effects.sum())
    return float(effects[mask].sum())


def _contacts(mask: np.ndarray | float, n: int) -> float:
    return mask * n if isinstance(mask, float) else float(mask.sum())


def evaluate_policies(
    frame: pd.DataFrame,
    economics: Economics,
    budgets: tuple[float, ...] = BUDGETS,
    n_boot: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (policy, budget): contacts, incremental conversions and profit, by IPW (with
    a bootstrap interval) and, when the frame carries y0/y1, on the planted truth."""
    ipw = ipw_terms(frame["converted"], frame["is_treated"], frame["treatment_share"])
    has_truth = {"y0", "y1"} <= set(frame.columns)
    realised = (
        frame["y1"].to_numpy(dtype=float) - frame["y0"].to_numpy(dtype=float) if has_truth else None
    )
    samples = bootstrap_samples(len(frame), n_boot, seed)
    value = economics.customer_ltv
    rows = []
    for share in budgets:
        for policy, mask in policy_masks(frame, share, economics).items():
            contacts = _contacts(mask, len(frame))
            if isinstance(mask, float):
                estimate = bootstrap_interval(lambda e, m=mask: m * e.sum(), samples, ipw)
            else:
                estimate = bootstrap_interval(
                    lambda e, c: e[c].sum(), samples, ipw, mask.astype(bool)
                )
            row = {
                "policy": policy,
                "budget_share": share,
                "contacts": contacts,
                "incremental_conversions_ipw": estimate.estimate,
                "incremental_conversions_ipw_low": estimate.low,
                "incremental_conversions_ipw_high": estimate.high,
                "profit_ipw": estimate.estimate * value - contacts * economics.contact_cost,
            }
            if realised is not None:
                gain = _gain(mask, realised)
                row["incremental_conversions_truth"] = gain
                row["profit_truth"] = gain * value - contacts * economics.contact_cost
            rows.append(row)
    return pd.DataFrame(rows)


def ratio_at_budget(
    frame: pd.DataFrame,
    economics: Economics,
    budget_share: float,
    numerator: str,
    denominator: str,
    effects: np.ndarray,
    n_boot: int = 200,
    seed: int = 0,
) -> Interval:
    """Incremental conversions of one policy over another's at a budget, with a paired
    bootstrap interval over users (both policies' lists stay fixed; the users resample)."""
    masks = policy_masks(frame, budget_share, economics)
    top, bottom = masks[numerator], masks[denominator]

    def ratio(e: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        below = e[b].sum()
        return float(e[a].sum() / below) if below > 0 else float("nan")

    return bootstrap_interval(
        ratio,
        bootstrap_samples(len(frame), n_boot, seed),
        np.asarray(effects, dtype=float),
        np.asarray(top, dtype=bool),
        np.asarray(bottom, dtype=bool),
    )
