"""The planted A/B test: a checkout redesign that lifts cart -> purchase conversion.

Every registered user carries a latent fair coin (the variant they would get). The test runs over
a window near the end of the data; a user is assigned, and observably so, at the start of their
first session inside the window. Treated users' sessions inside the window convert carts into
purchases with probability p * (1 + lift). The lift is written only to `_truth/experiment.json`;
the data shows its consequence, never its value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ecom.synth.calendar import Timeline, days_to_datetime64

WINDOW_DAYS = 56  # eight weeks, long enough for weekly cohorts of the test
WINDOW_END_BEFORE_DATA_END_DAYS = 14
RELATIVE_LIFT = 0.10
METRIC = "cart_to_purchase_conversion"
VARIANTS = ("control", "treatment")


@dataclass(frozen=True)
class ExperimentDesign:
    experiment_id: str
    start_days: float
    end_days: float
    relative_lift: float
    metric: str = METRIC

    def in_window(self, days: np.ndarray) -> np.ndarray:
        return (days >= self.start_days) & (days < self.end_days)

    def as_dict(self) -> dict[str, object]:
        start, end = days_to_datetime64(np.array([self.start_days, self.end_days]))
        return {
            **asdict(self),
            "start": str(start.astype("datetime64[s]")).replace("T", " ") + " UTC",
            "end": str(end.astype("datetime64[s]")).replace("T", " ") + " UTC",
            "variants": list(VARIANTS),
            "unit": "user",
            "assignment": "50/50 at the start of the user's first session in [start, end)",
            "metric_definition": (
                "sessions with a purchase event / sessions with a cart event, over the assigned "
                "users' sessions from assigned_at until the window end"
            ),
        }


def design_experiment(timeline: Timeline) -> ExperimentDesign:
    end_days = timeline.span_days - WINDOW_END_BEFORE_DATA_END_DAYS
    start_days = end_days - WINDOW_DAYS
    start_label = days_to_datetime64(np.array([start_days]))[0].astype("datetime64[D]")
    return ExperimentDesign(
        experiment_id=f"checkout_redesign_{str(start_label).replace('-', '')}",
        start_days=start_days,
        end_days=end_days,
        relative_lift=RELATIVE_LIFT,
    )


def sample_latent_variants(rng: np.random.Generator, n_users: int) -> np.ndarray:
    """True where the user would be treated (independent fair coins)."""
    return rng.random(n_users) < 0.5


def build_assignments(
    design: ExperimentDesign,
    session_owner: np.ndarray,
    session_anchor_days: np.ndarray,
    session_start_days: np.ndarray,
    latent_treated: np.ndarray,
    user_ids: np.ndarray,
) -> pd.DataFrame:
    """One row per user with a session in the window: variant and the start of that first session."""
    in_window = design.in_window(session_anchor_days) & (session_owner >= 0)
    frame = pd.DataFrame(
        {"owner": session_owner[in_window], "start": session_start_days[in_window]}
    )
    first = frame.groupby("owner", sort=True)["start"].min()
    owners = first.index.to_numpy()
    return pd.DataFrame(
        {
            "experiment_id": design.experiment_id,
            "user_id": user_ids[owners],
            "variant": np.where(latent_treated[owners], VARIANTS[1], VARIANTS[0]),
            "assigned_at": days_to_datetime64(first.to_numpy()),
        }
    )
