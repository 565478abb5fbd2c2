"""The `thelook` profile: the process of TheLook's own generator, vectorised, with no planted truth.

Every real copy of TheLook is the output of one program (Google's `fake.py` in
GoogleCloudPlatform/public-datasets-pipelines), so data shaped by its process is what a user of
the platform brings. This module reproduces that process's statistics with numpy (no per-user
Python loop, so 100k users take seconds), not its code:

- sign-ups uniform by whole day between 2019-01-01 and the generator's clock, at a random
  minute of the first 19 hours, except a final-week burst (2.5% of users, 1-6 days after
  clock - 7 days, keeping the clock's microseconds);
- 0-4 orders per user (20/50/20/5/5%), each placed at a uniform second between the sign-up and
  the clock: there is no churn process, so a model can learn little beyond tenure;
- 1-4 items per order (70/20/5/5%); every item is a session of its own: one item reads
  home -> department -> product -> cart -> purchase, each of n > 1 items repeats
  department -> product -> cart n times and then buys 0-4 whole days later (the future-dated
  tail: the purchase event, the item's `created_at` and its stock unit's `sold_at` may lie past
  the clock, and so may `shipped_at`/`delivered_at`/`returned_at`, up to 3 + 5 + 3 days on);
- registered users have no other events: all browsing is anonymous, five sessions per user, one
  of product -> cart -> cancel, department -> product -> cart, product, department -> product;
- stock: each item has its sold unit (received up to 60 days before) plus 1-3 unsold units of
  the same product received any time since 2020.

Times are integer microseconds since 2019-01-01 00:00 UTC, so the sums of whole days, minutes
and seconds stay exact and the burst users inherit the clock's microseconds as in the original.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ecom.synth.calendar import DATA_START
from ecom.synth.catalog import DEPARTMENTS, Catalogue
from ecom.synth.identifiers import ipv4_strings, uuid_strings
from ecom.synth.users import Places, sample_locations, sample_user_profiles
from ecom.thelook import BROWSERS, EVENT_TYPES, TRAFFIC_SOURCES_EVENTS

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_DAY = 86_400 * US_PER_SECOND

ORDERS_PER_USER_SHARES = (0.20, 0.50, 0.20, 0.05, 0.05)  # 0, 1, 2, 3, 4 orders
ITEMS_PER_ORDER_SHARES = (0.70, 0.20, 0.05, 0.05)  # 1, 2, 3, 4 items
STATUS_SHARES = {
    "Complete": 0.25,
    "Cancelled": 0.15,
    "Returned": 0.10,
    "Processing": 0.20,
    "Shipped": 0.30,
}
# Shares in ecom.thelook's vocabulary order: BROWSERS (Chrome, Firefox, Safari, IE, Other) and
# TRAFFIC_SOURCES_EVENTS (Email, Adwords, Organic, YouTube, Facebook).
BROWSER_SHARES = (0.50, 0.20, 0.20, 0.05, 0.05)
SESSION_SOURCE_SHARES = (0.45, 0.30, 0.05, 0.10, 0.10)
BURST_SHARE = 0.025
BURST_WINDOW_DAYS = 7
SIGNUP_MINUTES = 19 * 60  # sign-ups fall in the first 19 hours of their day
ITEM_LEAD_SECONDS = 4 * 3600  # a session starts up to 4 hours before its order's timestamp
EVENT_GAP_SECONDS = 180  # between the events of a purchase session
MULTI_ITEM_PURCHASE_DAYS = 5  # the purchase of an n > 1 item session comes 0-4 days later
SHIP_MINUTES, DELIVER_MINUTES, RETURN_MINUTES = 3 * 1440, 5 * 1440, 3 * 1440
SOLD_STOCK_AGE_MINUTES = 60 * 1440
UNSOLD_UNITS_SHARES = (0.5, 0.3, 0.2)  # 1, 2, 3 unsold units beside each sold one
UNSOLD_STOCK_SINCE = dt.date(2020, 1, 1)
ANONYMOUS_SESSIONS_PER_USER = 5
# The four anonymous session kinds, equally likely.
ANONYMOUS_KINDS: tuple[tuple[str, ...], ...] = (
    ("product", "cart", "cancel"),
    ("department", "product", "cart"),
    ("product",),
    ("department", "product"),
)
ANONYMOUS_GAP_MINUTES = 30  # before each anonymous event, the first one included
SINGLE_ITEM_FLOW = ("home", "department", "product", "cart", "purchase")
MULTI_ITEM_STEPS = ("department", "product", "cart")
# Index of each event type in ecom.thelook.EVENT_TYPES.
TYPE = {name: index for index, name in enumerate(EVENT_TYPES)}


@dataclass(frozen=True)
class ProcessWorld:
    """The tables of one run of the process (columns as `ecom.thelook` names them), and its clock."""

    tables: dict[str, dict[str, Any]]
    clock: np.datetime64  # the generator's "now", microseconds, naive UTC


def to_datetime64(microseconds: np.ndarray) -> np.ndarray:
    """Microseconds since DATA_START to datetime64[us] (naive UTC)."""
    base = np.datetime64(DATA_START.replace(tzinfo=None), "us")
    return base + np.asarray(microseconds, dtype=np.int64).astype("timedelta64[us]")


def _masked_datetime64(microseconds: np.ndarray, present: np.ndarray) -> np.ndarray:
    return np.where(present, to_datetime64(microseconds), np.datetime64("NaT", "us"))


def _choice(rng: np.random.Generator, shares: tuple[float, ...], size: int) -> np.ndarray:
    return rng.choice(len(shares), size, p=np.asarray(shares) / np.sum(shares))


def clock_microseconds(rng: np.random.Generator, end_date: dt.date) -> int:
    """The generator's clock: a random instant, to the microsecond, of the day before `end_date`."""
    end = (end_date - DATA_START.date()).days * US_PER_DAY
    return int(end - rng.integers(1, US_PER_DAY))


def _days_between(start: int, stop: int) -> int:
    """Whole days from start to stop, at least 2 (the original's guard for `randrange(1, days)`)."""
    return max((stop - start) // US_PER_DAY, 2)


def sample_signups(rng: np.random.Generator, clock: int, n_users: int) -> np.ndarray:
    """Sign-up times: uniform whole days since 2019-01-01, plus the final-week burst."""
    burst = rng.random(n_users) < BURST_SHARE
    regular_day = rng.integers(1, _days_between(0, clock), n_users)
    burst_start = clock - BURST_WINDOW_DAYS * US_PER_DAY
    burst_day = rng.integers(1, _days_between(burst_start, clock), n_users)
    day_start = np.where(burst, burst_start + burst_day * US_PER_DAY, regular_day * US_PER_DAY)
    return day_start + rng.integers(0, SIGNUP_MINUTES, n_users) * US_PER_MINUTE


def _uniform_product(
    rng: np.random.Generator, catalogue: Catalogue, department: np.ndarray
) -> np.ndarray:
    """A product of the given department, every product equally likely (the original's draw)."""
    result = np.empty(len(department), dtype=np.int64)
    for index, rows in enumerate(catalogue.department_rows):
        wanted = np.flatnonzero(department == index)
        result[wanted] = rows[rng.integers(0, len(rows), len(wanted))]
    return result


def _uris(catalogue: Catalogue, event_type: np.ndarray, product_row: np.ndarray) -> pa.Array:
    """'/product/<id>', '/department/<dept>/category/<cat>/brand/<brand>' or '/<event type>'."""
    products = catalogue.products
    squeeze = {"department": "/department/", "category": "/category/", "brand": "/brand/"}
    department_uris = pd.Series("", index=products.index)
    for column, prefix in squeeze.items():
        department_uris += prefix + products[column].str.lower().str.replace(" ", "")
    fixed = [f"/{name}" for name in EVENT_TYPES]
    product_uris = "/product/" + products["id"].astype(str)
    dictionary = pa.array(
        fixed + product_uris.tolist() + department_uris.tolist(), type=pa.string()
    )
    n_products = len(products)
    index = np.select(
        [event_type == TYPE["product"], event_type == TYPE["department"]],
        [len(fixed) + product_row, len(fixed) + n_products + product_row],
        event_type,
    )
    return dictionary.take(pa.array(index))


@dataclass(frozen=True)
class _Sessions:
    """Per-session attributes of a block of events (one session per order item or visitor)."""

    event_session: np.ndarray
    sequence_number: np.ndarray
    created: np.ndarray
    event_type: np.ndarray
    product_row: np.ndarray  # per session


def _session_columns(
    rng: np.random.Generator,
    catalogue: Catalogue,
    block: _Sessions,
    user_id: pa.Array,
    location: dict[str, np.ndarray],
) -> dict[str, Any]:
    """Events columns of one block; location columns are per session."""
    n_sessions = len(block.product_row)
    per_session: dict[str, pa.Array] = {
        "session_id": uuid_strings(rng, n_sessions),
        "ip_address": ipv4_strings(rng, n_sessions),
        **{name: pa.array(values, type=pa.string()) for name, values in location.items()},
        "browser": pa.array(
            np.asarray(BROWSERS, dtype=object)[_choice(rng, BROWSER_SHARES, n_sessions)]
        ),
        "traffic_source": pa.array(
            np.asarray(TRAFFIC_SOURCES_EVENTS, dtype=object)[
                _choice(rng, SESSION_SOURCE_SHARES, n_sessions)
            ]
        ),
    }
    take = pa.array(block.event_session)
    return {
        "user_id": user_id,
        "sequence_number": block.sequence_number,
        "session_id": per_session["session_id"].take(take),
        "created_at": to_datetime64(block.created),
        "ip_address": per_session["ip_address"].take(take),
        "city": per_session["city"].take(take),
        "state": per_session["state"].take(take),
        "postal_code": per_session["postal_code"].take(take),
        "browser": per_session["browser"].take(take),
        "traffic_source": per_session["traffic_source"].take(take),
        "uri": _uris(catalogue, block.event_type, block.product_row[block.event_session]),
        "event_type": pa.array(np.asarray(EVENT_TYPES, dtype=object)[block.event_type]),
    }


def _purchase_sessions(
    rng: np.random.Generator,
    item_start: np.ndarray,
    items_in_order: np.ndarray,
    product_row: np.ndarray,
) -> tuple[_Sessions, np.ndarray]:
    """The events of each order item's session, and the item's final timestamp.

    A one-item session steps through the five pages 0-179 s apart and the item's time ends one
    step after its purchase; an n-item session repeats the three steps n times, then its
    purchase (and the item's time) comes a whole number of days (0-4) after the last step.
    """
    single = items_in_order == 1
    counts = np.where(single, len(SINGLE_ITEM_FLOW), len(MULTI_ITEM_STEPS) * items_in_order + 1)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    session = np.repeat(np.arange(len(counts)), counts)
    position = np.arange(len(session)) - offsets[session]
    is_single = single[session]
    single_types = np.array([TYPE[name] for name in SINGLE_ITEM_FLOW])
    multi_types = np.array([TYPE[name] for name in MULTI_ITEM_STEPS])
    last = position == counts[session] - 1
    event_type = np.where(
        is_single,
        single_types[np.minimum(position, len(SINGLE_ITEM_FLOW) - 1)],
        np.where(last, TYPE["purchase"], multi_types[position % len(MULTI_ITEM_STEPS)]),
    )
    # The step after each event; an n-item purchase is the last thing its session does.
    steps = rng.integers(0, EVENT_GAP_SECONDS, len(session)) * US_PER_SECOND
    steps[~is_single & last] = 0
    elapsed_after = np.cumsum(steps)
    session_base = np.concatenate([[0], elapsed_after])[offsets]
    elapsed_before = elapsed_after - steps - session_base[session]
    purchase_days = np.where(
        single, 0, rng.integers(0, MULTI_ITEM_PURCHASE_DAYS, len(counts)) * US_PER_DAY
    )
    created = item_start[session] + elapsed_before + np.where(last, purchase_days[session], 0)
    item_end = item_start + elapsed_after[offsets + counts - 1] - session_base + purchase_days
    block = _Sessions(
        event_session=session,
        sequence_number=position + 1,
        created=created,
        event_type=event_type,
        product_row=product_row,
    )
    return block, item_end


def _anonymous_sessions(
    rng: np.random.Generator, clock: int, n_sessions: int, catalogue: Catalogue
) -> _Sessions:
    """Visitors' sessions: a start at a uniform day and minute, 0-29 minutes before each event."""
    kind = rng.integers(0, len(ANONYMOUS_KINDS), n_sessions)
    lengths = np.array([len(steps) for steps in ANONYMOUS_KINDS])
    counts = lengths[kind]
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    session = np.repeat(np.arange(n_sessions), counts)
    position = np.arange(len(session)) - offsets[session]
    table = np.full((len(ANONYMOUS_KINDS), lengths.max()), -1)
    for row, steps in enumerate(ANONYMOUS_KINDS):
        table[row, : len(steps)] = [TYPE[name] for name in steps]
    start = (
        rng.integers(1, _days_between(0, clock), n_sessions) * US_PER_DAY
        + rng.integers(0, SIGNUP_MINUTES, n_sessions) * US_PER_MINUTE
    )
    gaps = rng.integers(0, ANONYMOUS_GAP_MINUTES, len(session)) * US_PER_MINUTE
    elapsed = np.cumsum(gaps)
    elapsed -= np.concatenate([[0], elapsed])[offsets][session]
    department = rng.integers(0, len(DEPARTMENTS), n_sessions)
    return _Sessions(
        event_session=session,
        sequence_number=position + 1,
        created=start[session] + elapsed,
        event_type=table[kind[session], position],
        product_row=_uniform_product(rng, catalogue, department),
    )


def _status_times(
    rng: np.random.Generator, created: np.ndarray
) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Status per order and (time, present) for shipped / delivered / returned."""
    names = np.array(list(STATUS_SHARES), dtype=object)
    status = names[_choice(rng, tuple(STATUS_SHARES.values()), len(created))]
    n = len(created)
    shipped = created + rng.integers(0, SHIP_MINUTES, n) * US_PER_MINUTE
    delivered = shipped + rng.integers(0, DELIVER_MINUTES, n) * US_PER_MINUTE
    returned = delivered + rng.integers(0, RETURN_MINUTES, n) * US_PER_MINUTE
    reached = {
        "shipped_at": (shipped, np.isin(status, ["Returned", "Complete", "Shipped"])),
        "delivered_at": (delivered, np.isin(status, ["Returned", "Complete"])),
        "returned_at": (returned, status == "Returned"),
    }
    return status, reached


def simulate_thelook_process(
    rng: np.random.Generator,
    n_users: int,
    end_date: dt.date,
    places: Places,
    catalogue: Catalogue,
) -> ProcessWorld:
    """Users, orders, order items, stock and events of one run of the process (no products or
    distribution centres: those are the catalogue's)."""
    clock = clock_microseconds(rng, end_date)
    profiles = sample_user_profiles(rng, places, n_users)
    signup = sample_signups(rng, clock, n_users)
    users = dict(profiles.items())
    users.update(
        id=np.arange(1, n_users + 1),
        city=profiles["location_city"],  # the original writes no 'null' city
        created_at=to_datetime64(signup),
    )
    orders = _orders(rng, clock, signup, profiles["gender"].to_numpy())
    order_items, purchases, item_owner, inventory_items = _order_items(
        rng, clock, catalogue, orders
    )

    # Events: every item's session, user by user, then the anonymous sessions.
    user_locations = {
        name: profiles[column].to_numpy()[item_owner]
        for name, column in (
            ("city", "location_city"),
            ("state", "state"),
            ("postal_code", "postal_code"),
        )
    }
    registered_ids = pa.array(item_owner[purchases.event_session] + 1, type=pa.int64())
    registered = _session_columns(rng, catalogue, purchases, registered_ids, user_locations)
    n_anonymous = ANONYMOUS_SESSIONS_PER_USER * n_users
    visitors = _anonymous_sessions(rng, clock, n_anonymous, catalogue)
    visitor_places = sample_locations(rng, places, n_anonymous)
    anonymous = _session_columns(
        rng,
        catalogue,
        visitors,
        pa.nulls(len(visitors.event_session), type=pa.int64()),
        {name: visitor_places[name].to_numpy() for name in ("city", "state", "postal_code")},
    )
    events = {
        name: pa.concat_arrays([pa.array(registered[name]), pa.array(anonymous[name])])
        for name in registered
    }
    events["id"] = np.arange(1, len(events["event_type"]) + 1)
    orders = {name: values for name, values in orders.items() if not name.startswith("_")}
    tables = {
        "users": users,
        "orders": orders,
        "order_items": order_items,
        "inventory_items": inventory_items,
        "events": events,
    }
    return ProcessWorld(tables=tables, clock=to_datetime64(np.array([clock]))[0])


def _orders(
    rng: np.random.Generator, clock: int, signup: np.ndarray, gender: np.ndarray
) -> dict[str, np.ndarray]:
    """0-4 orders per user, each at a uniform second between its user's sign-up and the clock.

    Keys starting with "_" are the process's own (owner index, creation time in microseconds),
    not columns.
    """
    n_users = len(signup)
    orders_per_user = _choice(rng, ORDERS_PER_USER_SHARES, n_users)
    owner = np.repeat(np.arange(n_users), orders_per_user)
    n_orders = len(owner)
    seconds_available = (clock - signup[owner]) // US_PER_SECOND
    created = (
        signup[owner] + (rng.random(n_orders) * seconds_available).astype(np.int64) * US_PER_SECOND
    )
    status, reached = _status_times(rng, created)
    orders = {
        "order_id": np.arange(1, n_orders + 1),
        "user_id": owner + 1,
        "status": status,
        "gender": gender[owner],
        "created_at": to_datetime64(created),
        "num_of_item": _choice(rng, ITEMS_PER_ORDER_SHARES, n_orders) + 1,
        "_owner": owner,
        "_created": created,
    }
    orders.update({name: _masked_datetime64(*value) for name, value in reached.items()})
    return orders


def _order_items(
    rng: np.random.Generator,
    clock: int,
    catalogue: Catalogue,
    orders: dict[str, np.ndarray],
) -> tuple[dict[str, Any], _Sessions, np.ndarray, dict[str, Any]]:
    """Order items (each a purchase session of its own), their events, owners and stock."""
    items_per_order = orders["num_of_item"]
    item_order = np.repeat(np.arange(len(items_per_order)), items_per_order)
    n_items = len(item_order)
    item_owner = orders["_owner"][item_order]
    department = (orders["gender"][item_order] == "M").astype(np.int64)  # Women, Men
    product_row = _uniform_product(rng, catalogue, department)
    lead = rng.integers(0, ITEM_LEAD_SECONDS, n_items) * US_PER_SECOND
    purchases, item_end = _purchase_sessions(
        rng, orders["_created"][item_order] - lead, items_per_order[item_order], product_row
    )
    # Stock: the sold unit, then 1-3 unsold units of the same product, ids in that order.
    unsold_units = _choice(rng, UNSOLD_UNITS_SHARES, n_items) + 1
    sold_unit_id = np.concatenate([[0], np.cumsum(unsold_units + 1)[:-1]]) + 1
    products = catalogue.products
    order_items = {
        "id": np.arange(1, n_items + 1),
        "order_id": orders["order_id"][item_order],
        "user_id": item_owner + 1,
        "product_id": products["id"].to_numpy()[product_row],
        "inventory_item_id": sold_unit_id,
        "status": orders["status"][item_order],
        "created_at": to_datetime64(item_end),
        **{
            name: orders[name][item_order] for name in ("shipped_at", "delivered_at", "returned_at")
        },
        "sale_price": products["retail_price"].to_numpy()[product_row],
    }
    inventory_items = _inventory(rng, clock, catalogue, product_row, item_end, unsold_units)
    return order_items, purchases, item_owner, inventory_items


def _inventory(
    rng: np.random.Generator,
    clock: int,
    catalogue: Catalogue,
    product_row: np.ndarray,
    item_end: np.ndarray,
    unsold_units: np.ndarray,
) -> dict[str, Any]:
    """Per item its sold unit (received up to 60 days before it sold) and its unsold units."""
    n_items = len(product_row)
    sold_received = item_end - rng.integers(0, SOLD_STOCK_AGE_MINUTES, n_items) * US_PER_MINUTE
    unsold_item = np.repeat(np.arange(n_items), unsold_units)
    since = (UNSOLD_STOCK_SINCE - DATA_START.date()).days * US_PER_DAY
    unsold_received = (
        since
        + rng.integers(1, _days_between(since, clock), len(unsold_item)) * US_PER_DAY
        + rng.integers(0, SIGNUP_MINUTES, len(unsold_item)) * US_PER_MINUTE
    )
    # Interleave: item i's sold unit, then its unsold units, in id order.
    item_of_row = np.concatenate([np.arange(n_items), unsold_item])
    is_sold = np.concatenate([np.ones(n_items, bool), np.zeros(len(unsold_item), bool)])
    order = np.lexsort((~is_sold, item_of_row))
    item_of_row, is_sold = item_of_row[order], is_sold[order]
    received = np.concatenate([sold_received, unsold_received])[order]
    rows = product_row[item_of_row]
    products = catalogue.products
    columns: dict[str, Any] = {
        "id": np.arange(1, len(rows) + 1),
        "product_id": products["id"].to_numpy()[rows],
        "created_at": to_datetime64(received),
        "sold_at": _masked_datetime64(item_end[item_of_row], is_sold),
    }
    for column, source in (
        ("cost", "cost"),
        ("product_category", "category"),
        ("product_name", "name"),
        ("product_brand", "brand"),
        ("product_retail_price", "retail_price"),
        ("product_department", "department"),
        ("product_sku", "sku"),
        ("product_distribution_center_id", "distribution_center_id"),
    ):
        columns[column] = products[source].to_numpy()[rows]
    return columns
