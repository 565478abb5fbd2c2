"""The planted ground truth: what the generator knows and a model can only estimate.

`DIR/_truth/` holds
- `users.parquet`: per user the sign-up time, activity lifetime, session and purchase rates, the
  time of the order placed in the sign-up session (if any), the time of the order that reached
  the cap (if any), the loyal flag and the latent experiment variant;
- `intensity.parquet`: the cumulative shopping intensity per hour of the span;
- `experiment.json`: the experiment id, window, metric and the true relative lift;
- `model.json`: seed, size, end date and every behaviour parameter.

`true_churn_probability` is the oracle: under the generative model, after sign-up a user's
orders are a Poisson process with intensity purchase_rate * intensity(t) (times 1 + lift for a
treated user inside the experiment window) on [sign-up + gap, sign-up + lifetime), and
`lapsed_activity` times that afterwards. So

    P(no order in [c, c + h)) = 1{sign-up order not in [c, c + h)}
                                * (1 if the capping order came before c else exp(-purchase_rate * I))

where I is the intensity integrated over [c, c + h), the lapsed part of it weighted by
`lapsed_activity` and the treated part by 1 + lift. The order that reaches
`max_orders_per_user` ends all activity (`order_cap_days` in users.parquet): before it, orders
are the Poisson process, so its first point in the horizon is unaffected by the cap. It conditions on the user's full latent state, including when they
stop being active, which is what no model can observe: the oracle's AUC is the ceiling.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecom.synth.calendar import HOURS_PER_DAY, Timeline, datetime_to_days

TRUTH_DIR = "_truth"
USERS_FILE = "users.parquet"
INTENSITY_FILE = "intensity.parquet"
EXPERIMENT_FILE = "experiment.json"
MODEL_FILE = "model.json"


@dataclass(frozen=True)
class Truth:
    users: pd.DataFrame  # sorted by user_id
    timeline: Timeline
    experiment: dict[str, Any]
    model: dict[str, Any]

    @property
    def relative_lift(self) -> float:
        return float(self.experiment["relative_lift"])


def write_truth(
    out_dir: Path,
    users: pd.DataFrame,
    timeline: Timeline,
    experiment: dict[str, Any],
    model: dict[str, Any],
) -> Path:
    truth_dir = out_dir / TRUTH_DIR
    truth_dir.mkdir(parents=True, exist_ok=True)
    users.to_parquet(truth_dir / USERS_FILE, index=False)
    pd.DataFrame(
        {"hour": np.arange(len(timeline.cumulative)), "cumulative_intensity": timeline.cumulative}
    ).to_parquet(truth_dir / INTENSITY_FILE, index=False)
    (truth_dir / EXPERIMENT_FILE).write_text(json.dumps(experiment, indent=2) + "\n")
    (truth_dir / MODEL_FILE).write_text(json.dumps(model, indent=2, default=str) + "\n")
    return truth_dir


def load_truth(data_dir: Path) -> Truth:
    """Read `DIR/_truth/`, failing with the missing file's name if the folder is incomplete."""
    truth_dir = Path(data_dir) / TRUTH_DIR
    for name in (USERS_FILE, INTENSITY_FILE, EXPERIMENT_FILE, MODEL_FILE):
        if not (truth_dir / name).is_file():
            raise FileNotFoundError(
                f"{truth_dir / name} is missing: the truth folder is written by `ecom generate`, "
                "so real TheLook data has none"
            )
    users = pd.read_parquet(truth_dir / USERS_FILE).sort_values("user_id", ignore_index=True)
    cumulative = pd.read_parquet(truth_dir / INTENSITY_FILE)["cumulative_intensity"].to_numpy()
    model = json.loads((truth_dir / MODEL_FILE).read_text())
    timeline = Timeline(
        end_date=dt.date.fromisoformat(model["end_date"]),
        intensity=np.diff(cumulative) * HOURS_PER_DAY,
        cumulative=cumulative,
    )
    experiment = json.loads((truth_dir / EXPERIMENT_FILE).read_text())
    return Truth(users=users, timeline=timeline, experiment=experiment, model=model)


def _as_days(values: Any, size: int) -> np.ndarray:
    """Dates, datetimes, strings or timestamps (naive = UTC) as float days since 2019-01-01."""
    stamps = pd.to_datetime(pd.Series(np.broadcast_to(np.asarray(values), (size,))), utc=True)
    return datetime_to_days(stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[us]"))


def true_churn_probability(
    truth: Truth, user_ids: Any, cutoffs: Any, horizon_days: float = 30
) -> np.ndarray:
    """P(the user places no order in [cutoff, cutoff + horizon)) under the generative model.

    `cutoffs` is one value or one per user id. Horizons running past the end of the data are
    integrated only up to the end (nothing is generated after it).
    """
    ids = np.asarray(user_ids, dtype=np.int64)
    known = truth.users["user_id"].to_numpy()
    position = np.searchsorted(known, ids)
    position = np.minimum(position, len(known) - 1)
    unknown = known[position] != ids
    if unknown.any():
        raise KeyError(f"user_id {int(ids[unknown][0])} is not in the truth folder")
    users = truth.users.iloc[position]
    cutoff = _as_days(cutoffs, len(ids))
    horizon_end = cutoff + horizon_days

    signup = users["signup_days"].to_numpy()
    start = np.maximum(cutoff, signup + float(truth.model["first_session_gap_days"]))
    death = np.maximum(
        signup + users["lifetime_days"].to_numpy(),
        signup + float(truth.model["first_session_gap_days"]),
    )
    lapsed_activity = float(truth.model["lapsed_activity"])
    window_start = float(truth.experiment["start_days"])
    window_end = float(truth.experiment["end_days"])
    treated = users["latent_treated"].to_numpy()
    lift = np.where(treated, truth.relative_lift, 0.0)

    def weighted_exposure(begin: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Intensity integrated over [begin, end), the experiment window weighted by 1 + lift."""
        inside = truth.timeline.integrate(
            np.maximum(begin, window_start), np.minimum(end, window_end)
        )
        return truth.timeline.integrate(begin, end) + lift * inside

    alive_part = weighted_exposure(start, np.minimum(horizon_end, death))
    lapsed_part = weighted_exposure(np.maximum(start, death), horizon_end)
    expected_orders = users["purchase_rate"].to_numpy() * (
        alive_part + lapsed_activity * lapsed_part
    )
    signup_order = users["signup_order_days"].to_numpy()
    signup_order_in_horizon = (signup_order >= cutoff) & (signup_order < horizon_end)
    # The order that reached the cap ended all activity: placed before the cutoff, nothing
    # follows. Placed at or after it, fewer than the cap were placed before, and the orders up
    # to the cap are the Poisson process above, so its first point is unaffected.
    if "order_cap_days" in users:
        capped_before = (users["order_cap_days"] < cutoff).to_numpy()
    else:  # a truth folder written before the cap existed
        capped_before = np.zeros(len(ids), dtype=bool)
    return np.where(
        signup_order_in_horizon, 0.0, np.where(capped_before, 1.0, np.exp(-expected_orders))
    )
