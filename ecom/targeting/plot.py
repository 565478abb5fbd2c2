"""The uplift charts: the Qini curve against the oracle and random, and policy value by budget."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers or in flows

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ecom.figures import save_figure
from ecom.targeting.curves import qini_curves

POLICY_COLORS = {
    "random": "#9aa5b1",
    "churn_risk": "#d29922",
    "ev_formula": "#bf8700",
    "uplift": "#1f6feb",
    "oracle": "#2da44e",
}
RANKING_LABELS = {
    "uplift": "uplift model",
    "oracle": "oracle (planted)",
    "churn_risk": "churn risk",
    "random": "random",
}


def plot_qini(test: pd.DataFrame, path: Path) -> Path:
    """Incremental conversions (IPW) by share contacted: the model's ranking, the oracle's
    (with the truth), churn risk's and random targeting's straight line (`curves.qini_curves`,
    the same numbers the report's table holds, at every count of users)."""
    curves = qini_curves(test, points=None)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name in ("uplift", "oracle", "churn_risk", "random"):
        rows = curves[curves["ranking"] == name]
        if rows.empty:
            continue
        axes.plot(
            rows["share_contacted"],
            rows["incremental_conversions_ipw"],
            color=POLICY_COLORS[name],
            linestyle="--" if name == "random" else "-",
            label=RANKING_LABELS[name],
        )
    axes.set_xlabel("users contacted, highest score first (% of held-out campaign users)")
    axes.set_ylabel("incremental conversions (IPW estimate)")
    axes.set_title("Qini curve on held-out campaign users")
    axes.legend(loc="lower right")
    return save_figure(figure, path)


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
    return save_figure(figure, path)
