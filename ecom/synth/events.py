"""Turn sessions into ordered events (home, department, product, cart, purchase, cancel).

Within a session the events always read: an optional home page, a department page, some product
pages browsed, then for each item put in the cart its product page followed by a cart event,
then the terminal events (one purchase per carted item for depth-3 sessions, as TheLook writes
one purchase event per order item; sometimes cancel for abandoned carts). So a product page
always precedes its cart event, and a cart event precedes the purchases. Anonymous sessions are
TheLook's four kinds (product -> cart -> cancel, department -> product -> cart, product,
department -> product).
The purchases follow the last cart after a lag drawn as in real TheLook exports: a few minutes
for most sessions, but for 40% of purchasing sessions more than a day (median 2.5 minutes, 90th
percentile 72 hours), under the same session id.
Layout is computed with array arithmetic on per-session counts: no per-session Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecom.synth.calendar import SECONDS_PER_DAY
from ecom.synth.catalog import Catalogue
from ecom.synth.sessions import (
    DEPTH_CART,
    DEPTH_LANDING,
    DEPTH_PRODUCT,
    DEPTH_PURCHASE,
    KIND_SIGNUP,
    Sessions,
)

EVENT_HOME, EVENT_DEPARTMENT, EVENT_PRODUCT, EVENT_CART, EVENT_PURCHASE, EVENT_CANCEL = range(6)
ITEMS_PER_ORDER_SHARES = np.array([0.70, 0.20, 0.05, 0.05])  # 1, 2, 3, 4 items: TheLook's
MAX_BROWSED_PRODUCTS = 8
P_CANCEL_AFTER_ABANDONED_CART = 0.4
GAP_SECONDS = (5, 150)  # between consecutive events of a session: sessions stay under an hour
# Cart -> purchase lag: 60% within minutes (median of all lags 2.5 min), 40% over a day with
# an exponential tail whose mean puts the 90th percentile of all lags at 72 h.
P_LONG_PURCHASE_LAG = 0.40
SHORT_PURCHASE_LAG_SECONDS = (5, 180)
LONG_PURCHASE_LAG_MIN_HOURS = 24.0
LONG_PURCHASE_LAG_MEAN_EXCESS_HOURS = 48.0 / np.log(4.0)  # P(lag > 72 h | long) = 1/4
P_SAME_DEPARTMENT_AS_GENDER = 0.9


@dataclass(frozen=True)
class SessionLayout:
    """Per-session event counts and the products of each carted item."""

    has_home: np.ndarray
    has_department: np.ndarray
    n_browsed: np.ndarray
    n_items: np.ndarray
    terminal: np.ndarray  # -1 none, EVENT_PURCHASE (one per item) or EVENT_CANCEL
    department: np.ndarray  # 0 Women, 1 Men
    item_session: np.ndarray  # one entry per carted item, sorted by session
    item_product_row: np.ndarray

    @property
    def n_events(self) -> np.ndarray:
        return (
            self.has_home
            + self.has_department
            + self.n_browsed
            + 2 * self.n_items
            + self.n_terminal
        )

    @property
    def n_terminal(self) -> np.ndarray:
        """Terminal events: a purchase per carted item, or one cancel, or none."""
        return np.select(
            [self.terminal == EVENT_PURCHASE, self.terminal == EVENT_CANCEL], [self.n_items, 1], 0
        )


@dataclass(frozen=True)
class Events:
    """One entry per event, grouped by session in sequence order."""

    session: np.ndarray
    sequence_number: np.ndarray
    time_days: np.ndarray
    event_type: np.ndarray
    product_row: np.ndarray  # -1 where the event is not about one product
    department: np.ndarray


def layout_sessions(
    rng: np.random.Generator,
    sessions: Sessions,
    catalogue: Catalogue,
    user_is_male: np.ndarray,
) -> SessionLayout:
    """Decide how many pages of each kind every session shows, and which products it carts."""
    n = len(sessions)
    depth = sessions.depth
    landing_only = depth == DEPTH_LANDING
    # A landing-only session shows either the home page or one department page.
    landing_home = rng.random(n) < 0.5
    has_home = np.where(landing_only, landing_home, rng.random(n) < 0.35).astype(np.int64)
    has_department = np.where(landing_only, ~landing_home, True).astype(np.int64)
    browse_mean = np.select(
        [depth == DEPTH_PRODUCT, depth == DEPTH_CART, depth == DEPTH_PURCHASE], [0.9, 0.5, 0.3], 0.0
    )
    n_browsed = np.minimum(rng.poisson(browse_mean), MAX_BROWSED_PRODUCTS)
    n_browsed = np.where(depth == DEPTH_PRODUCT, n_browsed + 1, n_browsed)
    item_draw = rng.choice(len(ITEMS_PER_ORDER_SHARES), n, p=ITEMS_PER_ORDER_SHARES) + 1
    abandoned_items = 1 + (rng.random(n) < 0.2)
    n_items = np.select(
        [depth == DEPTH_PURCHASE, depth == DEPTH_CART], [item_draw, abandoned_items], 0
    )
    terminal = np.select(
        [
            depth == DEPTH_PURCHASE,
            (depth == DEPTH_CART) & (rng.random(n) < P_CANCEL_AFTER_ABANDONED_CART),
        ],
        [EVENT_PURCHASE, EVENT_CANCEL],
        -1,
    )
    has_home, has_department, n_browsed, n_items, terminal = _anonymous_layout(
        sessions.anonymous_kind, has_home, has_department, n_browsed, n_items, terminal
    )
    owner = sessions.owner
    gender_department = np.where(
        owner >= 0, user_is_male[np.maximum(owner, 0)], rng.random(n) < 0.5
    )
    same = rng.random(n) < P_SAME_DEPARTMENT_AS_GENDER
    department = np.where(same, gender_department, ~gender_department).astype(np.int64)
    item_session = np.repeat(np.arange(n), n_items)
    item_product_row = catalogue.sample_products(rng, department[item_session])
    return SessionLayout(
        has_home=has_home,
        has_department=has_department,
        n_browsed=n_browsed.astype(np.int64),
        n_items=n_items.astype(np.int64),
        terminal=terminal.astype(np.int64),
        department=department,
        item_session=item_session,
        item_product_row=item_product_row,
    )


def _anonymous_layout(
    kind: np.ndarray, *layout: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Home, department, browsed, carted and terminal counts of TheLook's anonymous kinds.

    In this module's layout: product -> cart -> cancel is one carted item and a cancel;
    department -> product -> cart a department page and one carted item; product one browsed
    page; department -> product a department page and one browsed page.
    """
    #                        home dept browsed items terminal
    by_kind = np.array(
        [
            [0, 0, 0, 1, EVENT_CANCEL],
            [0, 1, 0, 1, -1],
            [0, 0, 1, 0, -1],
            [0, 1, 1, 0, -1],
        ]
    )
    anonymous = kind >= 0
    rows = by_kind[np.maximum(kind, 0)]
    return tuple(  # type: ignore[return-value]
        np.where(anonymous, rows[:, column], values).astype(np.int64)
        for column, values in enumerate(layout)
    )


def expand_events(
    rng: np.random.Generator,
    sessions: Sessions,
    layout: SessionLayout,
    catalogue: Catalogue,
) -> Events:
    """Every event of every session, with its type, product and timestamp."""
    counts = layout.n_events
    session_start_offset = np.concatenate([[0], np.cumsum(counts)[:-1]])
    session = np.repeat(np.arange(len(sessions)), counts)
    position = np.arange(len(session)) - session_start_offset[session]

    home_end = layout.has_home[session]
    department_end = home_end + layout.has_department[session]
    browse_end = department_end + layout.n_browsed[session]
    items_end = browse_end + 2 * layout.n_items[session]
    event_type = np.select(
        [
            position < home_end,
            position < department_end,
            position < browse_end,
            (position < items_end) & ((position - browse_end) % 2 == 0),
            position < items_end,
        ],
        [EVENT_HOME, EVENT_DEPARTMENT, EVENT_PRODUCT, EVENT_PRODUCT, EVENT_CART],
        layout.terminal[session],
    ).astype(np.int8)

    # Products: browsed pages draw from the session's department; item pages show the carted item.
    product_row = np.full(len(session), -1, dtype=np.int64)
    browsed = (position >= department_end) & (position < browse_end)
    product_row[browsed] = catalogue.sample_products(rng, layout.department[session[browsed]])
    in_items = (position >= browse_end) & (position < items_end)
    item_offset = np.concatenate([[0], np.cumsum(layout.n_items)[:-1]])
    item_index = item_offset[session[in_items]] + (position[in_items] - browse_end[in_items]) // 2
    product_row[in_items] = layout.item_product_row[item_index]

    # Times: integer-second gaps; sessions anchored at their last event count backwards.
    gaps = rng.integers(GAP_SECONDS[0], GAP_SECONDS[1] + 1, len(session))
    # The first purchase comes after the lag; the other items' purchases at the same instant,
    # so every purchase event of an order carries the order's timestamp.
    purchase = event_type == EVENT_PURCHASE
    first_purchase = purchase & (position == items_end)
    gaps[purchase] = 0
    gaps[first_purchase] = purchase_lag_seconds(
        rng, sessions.purchase_lag_cap_days[session[first_purchase]]
    )
    gaps[position == 0] = 0
    elapsed = np.cumsum(gaps)
    elapsed -= elapsed[session_start_offset][session]
    total = elapsed[session_start_offset + counts - 1]
    lead_in = np.where(sessions.kind == KIND_SIGNUP, rng.integers(5, 61, len(sessions)), 0)
    offset_seconds = np.where(
        sessions.anchored_at_end[session],
        elapsed - total[session],
        elapsed + lead_in[session],
    )
    time_days = sessions.anchor_days[session] + offset_seconds / SECONDS_PER_DAY
    return Events(
        session=session,
        sequence_number=position + 1,
        time_days=time_days,
        event_type=event_type,
        product_row=product_row,
        department=layout.department[session],
    )


def purchase_lag_seconds(rng: np.random.Generator, cap_days: np.ndarray) -> np.ndarray:
    """Seconds from the last cart event to the purchase, one per purchasing session.

    A long lag that the session's cap cannot hold falls back to a short one (the session keeps
    its place in time); short lags always fit, so the cap only trims the long tail.
    """
    n = len(cap_days)
    short = rng.integers(SHORT_PURCHASE_LAG_SECONDS[0], SHORT_PURCHASE_LAG_SECONDS[1] + 1, n)
    long_hours = LONG_PURCHASE_LAG_MIN_HOURS + rng.exponential(
        LONG_PURCHASE_LAG_MEAN_EXCESS_HOURS, n
    )
    long_seconds = np.round(long_hours * 3600.0).astype(np.int64)
    is_long = (rng.random(n) < P_LONG_PURCHASE_LAG) & (long_seconds < cap_days * SECONDS_PER_DAY)
    return np.where(is_long, long_seconds, short)


def first_event_days(events: Events, n_sessions: int) -> np.ndarray:
    """Start time of each session (its first event)."""
    starts = np.full(n_sessions, np.nan)
    first = events.sequence_number == 1
    starts[events.session[first]] = events.time_days[first]
    return starts
