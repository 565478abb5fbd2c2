"""Sessions: when each happens, who has it, where it came from and how deep into the funnel it gets.

Three kinds, all vectorised:
- the sign-up session of every user, starting at sign-up (most of them end in a first purchase),
- later sessions of registered users, a Poisson process at the user's session rate while alive
  and at `lapsed_activity` times that rate after the lifetime ends,
- anonymous sessions (no user id, never a purchase), arriving with the same growth and seasonality,
  each one of TheLook's four kinds, equally likely (see `ANONYMOUS_KINDS`).

A session's depth is 0 (landing page only), 1 (product pages), 2 (cart, no purchase) or
3 (purchase). Post-sign-up purchase sessions are anchored at their purchase event, which is the
Poisson point itself, so an order's timestamp is exactly the point the oracle integrates over.

As in real TheLook streams, a purchase can come long after its cart under the same session id
(`ecom.synth.events` draws the lag); `purchase_lag_cap_days` bounds it per session so that a
session never starts before its user signed up, never ends after the data, and never straddles
an edge of the experiment window (its arm and its window membership stay one fact).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecom.synth.behaviour import BehaviourParameters, LatentUsers
from ecom.synth.calendar import (
    Timeline,
    growth_weights,
    sample_poisson_process,
    sample_times_by_weight,
)
from ecom.synth.experiment import ExperimentDesign
from ecom.synth.users import signup_growth

KIND_SIGNUP, KIND_REPEAT, KIND_ANONYMOUS = 0, 1, 2
DEPTH_LANDING, DEPTH_PRODUCT, DEPTH_CART, DEPTH_PURCHASE = 0, 1, 2, 3
# Fewer than TheLook's five per user: the demo world's registered users browse too, and the
# anonymous share of events is not one of the figures it is held to (data/README.md).
ANONYMOUS_SESSIONS_PER_USER = 0.5
# TheLook's anonymous sessions, equally likely: product -> cart -> cancel, department -> product
# -> cart, product only, department -> product. Their layout is in `ecom.synth.events`.
ANONYMOUS_KINDS = ("cancelled_cart", "abandoned_cart", "product_only", "department_product")
ANONYMOUS_KIND_DEPTH = (2, 2, 1, 1)  # DEPTH_CART, DEPTH_CART, DEPTH_PRODUCT, DEPTH_PRODUCT
SIGNUP_P_PRODUCT = 0.97


@dataclass
class Sessions:
    """One entry per session (arrays aligned); `owner` is the user index or -1 if anonymous."""

    owner: np.ndarray
    kind: np.ndarray
    anchor_days: np.ndarray  # start for sign-up/anonymous sessions, last event for the others
    source: np.ndarray
    browser: np.ndarray
    depth: np.ndarray
    treated: np.ndarray  # the session ran under the experiment's treatment
    purchase_lag_cap_days: np.ndarray  # the longest cart -> purchase lag this session allows
    anonymous_kind: np.ndarray  # index into ANONYMOUS_KINDS, -1 for registered users' sessions

    def __len__(self) -> int:
        return len(self.owner)

    @property
    def anchored_at_end(self) -> np.ndarray:
        return self.kind == KIND_REPEAT


def _funnel_depth(
    uniforms: np.ndarray, p_product: np.ndarray, p_cart: np.ndarray, p_purchase: np.ndarray
) -> np.ndarray:
    """Depth reached by each session from three independent uniforms per session."""
    reached_product = uniforms[:, 0] < p_product
    reached_cart = reached_product & (uniforms[:, 1] < p_cart)
    purchased = reached_cart & (uniforms[:, 2] < p_purchase)
    return (
        reached_product.astype(np.int8) + reached_cart.astype(np.int8) + purchased.astype(np.int8)
    )


def _repeat_session_anchors(
    rng: np.random.Generator,
    timeline: Timeline,
    params: BehaviourParameters,
    latent: LatentUsers,
    signup_days: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(owner, anchor day) of the sessions after sign-up: Poisson at the session rate while
    alive, then at a small fraction of it once the user has lapsed (the odd return visit),
    until the end of the span."""
    n_users = len(signup_days)
    start = signup_days + params.first_session_gap_days
    death = np.maximum(signup_days + latent.lifetime_days, start)
    alive_owner, alive_anchor = sample_poisson_process(
        rng, timeline, latent.session_rate, start, np.minimum(death, timeline.span_days)
    )
    lapsed_owner, lapsed_anchor = sample_poisson_process(
        rng,
        timeline,
        latent.session_rate * params.lapsed_activity,
        death,
        np.full(n_users, timeline.span_days),
    )
    owner = np.concatenate([alive_owner, lapsed_owner])
    anchor = np.concatenate([alive_anchor, lapsed_anchor])
    return owner, anchor


def _purchase_lag_caps(
    timeline: Timeline,
    params: BehaviourParameters,
    design: ExperimentDesign,
    signup_days: np.ndarray,
    owner: np.ndarray,
    anchor: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """How far each (sign-up, repeat) session may stretch, before clipping at zero.

    Repeat sessions end at their anchor and grow backwards: keep them after the sign-up (an
    hour of slack, the first-session gap) and after the window start when they end inside it.
    Sign-up sessions grow forwards: keep them before the window end (when they start inside
    it) and before the end of the data."""
    repeat_floor = np.where(
        design.in_window(anchor),
        np.maximum(signup_days[owner], design.start_days),
        signup_days[owner],
    )
    repeat_cap = anchor - repeat_floor - params.first_session_gap_days
    signup_ceiling = np.where(
        design.in_window(signup_days),
        np.minimum(design.end_days, timeline.span_days),
        timeline.span_days,
    )
    signup_cap = signup_ceiling - signup_days - params.first_session_gap_days
    return signup_cap, repeat_cap


def build_registered_sessions(
    rng: np.random.Generator,
    timeline: Timeline,
    params: BehaviourParameters,
    latent: LatentUsers,
    signup_days: np.ndarray,
    design: ExperimentDesign,
    latent_treated: np.ndarray,
) -> Sessions:
    """Sign-up sessions plus the Poisson sessions of each user's alive period."""
    n_users = len(signup_days)
    sources = np.asarray(params.source_shares)

    # Sign-up sessions: at sign-up, high intent.
    signup_treated = latent_treated & design.in_window(signup_days)
    signup_source = rng.choice(len(sources), n_users, p=sources)
    signup_p_purchase = params.signup_p_purchase_given_cart * np.where(
        signup_treated, 1.0 + design.relative_lift, 1.0
    )
    signup_depth = _funnel_depth(
        rng.random((n_users, 3)),
        np.full(n_users, SIGNUP_P_PRODUCT),
        np.full(n_users, params.signup_p_cart / SIGNUP_P_PRODUCT),
        np.minimum(signup_p_purchase, 1.0),
    )

    owner, anchor = _repeat_session_anchors(rng, timeline, params, latent, signup_days)
    n_repeat = len(owner)
    repeat_source = rng.choice(len(sources), n_repeat, p=sources)
    repeat_treated = latent_treated[owner] & design.in_window(anchor)
    p_cart = params.p_cart(latent.propensity[owner], latent.browser[owner], repeat_source)
    p_purchase = params.p_purchase_given_cart * np.where(
        repeat_treated, 1.0 + design.relative_lift, 1.0
    )
    repeat_depth = _funnel_depth(
        rng.random((n_repeat, 3)), np.full(n_repeat, params.p_product), p_cart, p_purchase
    )

    # The order that reaches max_orders_per_user ends the user's activity: no session after it.
    owner, anchor, repeat_source, repeat_treated, repeat_depth = _cap_orders(
        params.max_orders_per_user,
        signup_depth == DEPTH_PURCHASE,
        owner,
        anchor,
        (repeat_source, repeat_treated, repeat_depth),
    )
    n_repeat = len(owner)

    signup_cap, repeat_cap = _purchase_lag_caps(
        timeline, params, design, signup_days, owner, anchor
    )

    return Sessions(
        owner=np.concatenate([np.arange(n_users), owner]),
        kind=np.concatenate(
            [np.full(n_users, KIND_SIGNUP, np.int8), np.full(n_repeat, KIND_REPEAT, np.int8)]
        ),
        anchor_days=np.concatenate([signup_days, anchor]),
        source=np.concatenate([signup_source, repeat_source]),
        browser=np.concatenate([latent.browser, latent.browser[owner]]),
        depth=np.concatenate([signup_depth, repeat_depth]),
        treated=np.concatenate([signup_treated, repeat_treated]),
        purchase_lag_cap_days=np.maximum(np.concatenate([signup_cap, repeat_cap]), 0.0),
        anonymous_kind=np.full(n_users + n_repeat, -1, dtype=np.int8),
    )


def _cap_orders(
    max_orders: int | None,
    signup_purchase: np.ndarray,
    owner: np.ndarray,
    anchor: np.ndarray,
    columns: tuple[np.ndarray, ...],
) -> tuple[np.ndarray, ...]:
    """Drop every repeat session after the one holding a user's `max_orders`-th purchase.

    The sign-up session comes first (a repeat session starts an hour after sign-up at the
    earliest) and counts when it bought. Returns owner, anchor and `columns`, kept rows only,
    sorted by owner then anchor.
    """
    order = np.lexsort((anchor, owner))
    owner, anchor = owner[order], anchor[order]
    columns = tuple(column[order] for column in columns)
    if max_orders is None:
        return owner, anchor, *columns
    depth = columns[-1]
    bought = (depth == DEPTH_PURCHASE).astype(np.int64)
    running = np.cumsum(bought)
    first_of_owner = np.searchsorted(owner, owner, side="left")
    before_owner = np.where(first_of_owner > 0, running[np.maximum(first_of_owner - 1, 0)], 0)
    # Purchases of this owner up to and including this session, the sign-up order counted.
    placed = running - before_owner + signup_purchase[owner]
    # Keep a session unless the cap was already reached before it.
    keep = (placed - bought) < max_orders
    return owner[keep], anchor[keep], *(column[keep] for column in columns)


def order_cap_days(sessions: Sessions, n_users: int, max_orders: int | None) -> np.ndarray:
    """Per user, the time of the order that reached `max_orders` (it ended the user's activity),
    NaN for users who never reached it. Read before anything edits the sessions (drift)."""
    cap = np.full(n_users, np.nan)
    if max_orders is None:
        return cap
    registered = sessions.owner >= 0
    bought = registered & (sessions.depth == DEPTH_PURCHASE)
    counts = np.bincount(sessions.owner[bought], minlength=n_users)
    latest = np.full(n_users, -np.inf)
    np.maximum.at(latest, sessions.owner[bought], sessions.anchor_days[bought])
    reached = counts >= max_orders
    cap[reached] = latest[reached]
    return cap


def build_anonymous_sessions(
    rng: np.random.Generator, timeline: Timeline, params: BehaviourParameters, n_users: int
) -> Sessions:
    """Visitors who never log in: TheLook's four kinds of browsing and abandoned carts."""
    count = round(ANONYMOUS_SESSIONS_PER_USER * n_users)
    weights = growth_weights(timeline, signup_growth(timeline), timeline.span_days - 2.0 / 24.0)
    start = np.sort(sample_times_by_weight(rng, timeline, weights, count))
    kind = rng.integers(0, len(ANONYMOUS_KINDS), count).astype(np.int8)
    return Sessions(
        owner=np.full(count, -1, dtype=np.int64),
        kind=np.full(count, KIND_ANONYMOUS, np.int8),
        anchor_days=start,
        source=rng.choice(len(params.source_shares), count, p=np.asarray(params.source_shares)),
        browser=rng.choice(len(params.browser_shares), count, p=np.asarray(params.browser_shares)),
        depth=np.asarray(ANONYMOUS_KIND_DEPTH, dtype=np.int8)[kind],
        treated=np.zeros(count, dtype=bool),
        purchase_lag_cap_days=np.zeros(count),  # anonymous sessions never buy
        anonymous_kind=kind,
    )


def concatenate_sessions(first: Sessions, second: Sessions) -> Sessions:
    return Sessions(
        **{
            name: np.concatenate([getattr(first, name), getattr(second, name)])
            for name in Sessions.__dataclass_fields__
        }
    )
