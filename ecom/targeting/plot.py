"""The uplift charts: the Qini curve against the oracle and random, and policy value by budget."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers or in flows

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ecom.targeting.metrics import ipw_terms, uplift_curve

POLICY_COLORS = {
    "random": "#9aa5b1",
    "churn_risk": "#d29922",
    "ev_formula": "#bf8700",
    "uplift": "#1f6feb",
    "oracle": "#2da44e",
}


def plot_qini(test: pd.DataFrame, path: Path) -> Path:
    """Incremental conversions (IPW) by share contacted: the model's ranking, the oracle's
    (with the truth) and random targeting's straight line."""
    effects = ipw_terms(test["converted"], test["is_treated"], test["treatment_share"])
    share = np.arange(len(test) + 1) / len(test)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    model = uplift_curve(test["estimated_effect"].to_numpy(), effects)
    axes.plot(100 * share, model, color=POLICY_COLORS["uplift"], label="uplift model")
    if "true_effect" in test:
        oracle = uplift_curve(test["true_effect"].to_numpy(), effects)
        axes.plot(100 * share, oracle, color=POLICY_COLORS["oracle"], label="oracle (planted)")
    risk = uplift_curve(test["churn_probability"].to_numpy(), effects)
    axes.plot(100 * share, risk, color=POLICY_COLORS["churn_risk"], label="churn risk")
    axes.plot(
        [0, 100], [0, model[-1]], color=POLICY_COLORS["random"], linestyle="--", label="random"
    )
    axes.set_xlabel("users contacted, highest score first (% of held-out campaign users)")
    axes.set_ylabel("incremental conversions (IPW estimate)")
    axes.set_title("Qini curve on held-out campaign users")
    axes.legend(loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_policy_value(policies: pd.DataFrame, path: Path) -> Path:
    """Incremental conversions of each policy at each budget, IPW with 95% intervals."""
    budgets = sorted(policies["budget_share"].unique())
    names = [name for name in POLICY_COLORS if name in set(policies["policy"])]
    width = 0.8 / len(names)
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for index, name in enumerate(names):
        rows = policies[policies["policy"] == name].set_index("budget_share").loc[budgets]
        x = np.arange(len(budgets)) + (index - (len(names) - 1) / 2) * width
        estimate = rows["incremental_conversions_ipw"].to_numpy()
        axes.bar(x, estimate, width, color=POLICY_COLORS[name], label=name)
        axes.errorbar(
            x,
            estimate,
            yerr=[
                estimate - rows["incremental_conversions_ipw_low"].to_numpy(),
                rows["incremental_conversions_ipw_high"].to_numpy() - estimate,
            ],
            fmt="none",
            color="black",
            capsize=2,
            linewidth=0.8,
        )
    axes.set_xticks(range(len(budgets)))
    axes.set_xticklabels([f"{budget:.0%}" for budget in budgets])
    axes.set_xlabel("budget (share of held-out campaign users contacted)")
    axes.set_ylabel("incremental conversions (IPW, 95% CI)")
    axes.axhline(0, color="black", linewidth=0.8)
    axes.legend(ncols=len(names), fontsize=8, loc="upper left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
