"""Planted drift: the latest weeks of a generated world behave differently from the rest.

Monitoring must be shown to catch a change it was built for, so `ecom generate --drift-weeks N`
changes the last N weeks in two ways a churn model's inputs feel:
- the traffic-source mix shifts (sessions come from other channels; users who sign up in those
  weeks were acquired through other channels), and
- fewer sessions reach the cart (a post-sign-up session that reached it stops at the product
  pages with probability 1 - `cart_factor`), and fewer carts become purchases (a purchase
  session is cut back to an abandoned cart with probability 1 - `purchase_factor`), so recent
  cart adds, order counts and conversion drop.

It runs on the generator's arrays after sessions are drawn and before events and orders are
laid out from them (so orders, events and every mart agree with it), with a random stream of
its own. The truth folder records the plan; its oracle does not model the change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ecom.synth.sessions import DEPTH_CART, DEPTH_PRODUCT, DEPTH_PURCHASE, KIND_REPEAT, Sessions
from ecom.thelook import TRAFFIC_SOURCES_USERS

DAYS_PER_WEEK = 7.0


@dataclass(frozen=True)
class DriftPlan:
    """What changes in the last `weeks` weeks of the data."""

    weeks: int
    # Session sources in TRAFFIC_SOURCES_EVENTS order (Email, Adwords, Organic, YouTube,
    # Facebook): from search-ad and email led to video and social led.
    session_source_shares: tuple[float, ...] = (0.10, 0.15, 0.15, 0.30, 0.30)
    # Sign-up sources in TRAFFIC_SOURCES_USERS order (Search, Organic, Facebook, Email, Display).
    user_source_shares: tuple[float, ...] = (0.15, 0.10, 0.35, 0.10, 0.30)
    cart_factor: float = 0.6
    purchase_factor: float = 0.3

    def __post_init__(self) -> None:
        if self.weeks < 1:
            raise ValueError(f"drift weeks must be at least 1, got {self.weeks}")
        for name in ("cart_factor", "purchase_factor"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("session_source_shares", "user_source_shares"):
            if not np.isclose(sum(getattr(self, name)), 1.0):
                raise ValueError(f"{name} must sum to 1, got {sum(getattr(self, name))}")

    def window_start(self, span_days: float) -> float:
        return max(0.0, span_days - self.weeks * DAYS_PER_WEEK)

    def as_dict(self) -> dict:
        return asdict(self)


def drift_sessions(
    rng: np.random.Generator, sessions: Sessions, span_days: float, plan: DriftPlan
) -> int:
    """Shift the source mix and cut carts and purchases of sessions in the window, in place;
    returns how many sessions lost a funnel step."""
    in_window = sessions.anchor_days >= plan.window_start(span_days)
    count = int(in_window.sum())
    shares = np.asarray(plan.session_source_shares)
    sessions.source[in_window] = rng.choice(len(shares), count, p=shares)
    repeat = in_window & (sessions.kind == KIND_REPEAT)
    draws = rng.random((len(sessions), 2))
    no_cart = repeat & (sessions.depth >= DEPTH_CART) & (draws[:, 0] >= plan.cart_factor)
    no_purchase = (
        repeat & (sessions.depth == DEPTH_PURCHASE) & (draws[:, 1] >= plan.purchase_factor)
    )
    sessions.depth[no_purchase] = DEPTH_CART
    sessions.depth[no_cart] = DEPTH_PRODUCT
    return int((no_cart | no_purchase).sum())


def drift_user_sources(
    rng: np.random.Generator,
    profiles: pd.DataFrame,
    signup_days: np.ndarray,
    span_days: float,
    plan: DriftPlan,
) -> pd.DataFrame:
    """Users who sign up inside the window come through the drifted channel mix."""
    recent = np.asarray(signup_days) >= plan.window_start(span_days)
    shares = np.asarray(plan.user_source_shares)
    sources = profiles["traffic_source"].to_numpy().copy()
    sources[recent] = np.asarray(TRAFFIC_SOURCES_USERS, dtype=object)[
        rng.choice(len(shares), int(recent.sum()), p=shares)
    ]
    return profiles.assign(traffic_source=sources)
