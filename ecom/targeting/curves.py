"""The Qini curves of the held-out campaign users as data: one frame the memo's PNG draws and
the `analytics.uplift_qini_curve` table stores, so the chart in the memo, the report and
Metabase is one computation.

Each ranking's height at a share contacted is `metrics.uplift_curve` of the IPW terms: the
incremental conversions, estimated, had exactly the top users by that score been contacted.
Random targeting is the straight line to the uplift ranking's end (every ranking that contacts
everyone ends at the same total).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ecom.targeting.metrics import ipw_terms, uplift_curve

# The rankings drawn, by the column of the test frame that scores them; the oracle only when
# the generator's planted effects are attached.
RANKINGS = {
    "uplift": "estimated_effect",
    "churn_risk": "churn_probability",
    "oracle": "true_effect",
}
CURVE_COLUMNS = ("ranking", "share_contacted", "incremental_conversions_ipw")


def qini_curves(test: pd.DataFrame, points: int | None = 101) -> pd.DataFrame:
    """Long frame (ranking, share_contacted in percent, incremental_conversions_ipw) on a grid of
    `points` shares from 0 to 100% (`None`: every count of users, as the memo's PNG draws)."""
    missing = [
        column
        for column in ("converted", "is_treated", "treatment_share", "estimated_effect")
        if column not in test
    ]
    if missing:
        raise ValueError(f"the test frame lacks the column(s) {', '.join(missing)}")
    users = len(test)
    if users == 0:
        raise ValueError("no held-out campaign users to draw a Qini curve from")
    if points is not None and points < 2:
        raise ValueError(f"a curve needs at least 2 points, got {points}")
    effects = ipw_terms(test["converted"], test["is_treated"], test["treatment_share"])
    counts = (
        np.arange(users + 1)
        if points is None
        else np.unique(np.rint(np.linspace(0, users, points)).astype(int))
    )
    curves = {
        name: uplift_curve(test[column].to_numpy(dtype=float), effects)[counts]
        for name, column in RANKINGS.items()
        if column in test
    }
    curves["random"] = uplift_curve(test["estimated_effect"].to_numpy(dtype=float), effects)[-1] * (
        counts / users
    )
    share = 100.0 * counts / users
    return pd.DataFrame(
        [
            (name, float(x), float(y))
            for name, heights in curves.items()
            for x, y in zip(share, heights, strict=True)
        ],
        columns=list(CURVE_COLUMNS),
    )
