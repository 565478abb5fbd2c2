"""The statistics of TheLook's own generator process, measured from any folder of CSVs.

Every real copy of TheLook comes out of one program (`fake.py`, see `ecom.synth.thelook_process`),
so its process has figures a faithful copy must show: who carries the events, which sessions
exist, items per order, when orders fall between sign-up and the generator's clock, the rows
past that clock. `THELOOK_TARGETS` holds them, measured on that process's output at 100,000
users (issue 19's table) or following from its published shares, each with its tolerance (2
points for shares, 10% for means and quantiles unless a tighter one is stated).
`DEFAULT_PROFILE_FIGURES` names the ones the default profile is held to as well: it keeps its
planted churn process (registered users browse), so the others differ there on purpose
(data/README.md says why).

The data's clock is the last order placed: the process places orders up to its clock and only
follow-up stamps (purchase events, deliveries, stock sold) after it.

    python -m ecom.synth.figures DIR [--profile thelook|default]   # the table; exit 1 on a miss
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ecom.synth.marginals import Target
from ecom.synth.marginals import format_table as marginals_table
from ecom.thelook import TRAFFIC_SOURCES_EVENTS

DAY = np.timedelta64(1, "D")
EVENT_TYPE_SHARES = {
    "product": 34.8,
    "department": 24.4,
    "cart": 24.5,
    "purchase": 7.5,
    "cancel": 5.2,
    "home": 3.6,
}
# The anonymous kinds, as their event types read in sequence order, equally likely; their mix
# of event types follows (per session: product 1, department 0.5, cart 0.5, cancel 0.25).
ANONYMOUS_KINDS = {
    "product>cart>cancel": "cancelled_cart",
    "department>product>cart": "abandoned_cart",
    "product": "product_only",
    "department>product": "department_product",
}
ANONYMOUS_EVENT_SHARES = {"product": 44.4, "department": 22.2, "cart": 22.2, "cancel": 11.1}
SESSION_SOURCE_SHARES = {
    "Email": 45.0,
    "Adwords": 30.0,
    "Facebook": 10.0,
    "YouTube": 10.0,
    "Organic": 5.0,
}


def _share(value: float, label: str, tolerance: float = 2.0) -> Target:
    return Target(value, tolerance, label)


def _relative(value: float, label: str, fraction: float = 0.10) -> Target:
    return Target(value, abs(value) * fraction, label)


THELOOK_TARGETS: dict[str, Target] = {
    "events_with_user_pct": _share(53.4, "events with a user_id, %"),
    **{
        f"event_{name}_pct": _share(value, f"events of type {name}, %")
        for name, value in EVENT_TYPE_SHARES.items()
    },
    "registered_sessions_per_user": _relative(1.81, "registered users' sessions per user"),
    "users_without_session_pct": _share(20.0, "users with no session, %"),
    "registered_purchase_sessions_pct": _share(
        100.0, "registered sessions that end in a purchase, %"
    ),
    "anonymous_sessions_per_user": _relative(5.0, "anonymous sessions per user"),
    **{
        f"anonymous_{kind}_pct": _share(25.0, f"anonymous sessions {sequence}, %")
        for sequence, kind in ANONYMOUS_KINDS.items()
    },
    **{
        f"anonymous_event_{name}_pct": _share(value, f"anonymous events of type {name}, %")
        for name, value in ANONYMOUS_EVENT_SHARES.items()
    },
    "purchase_events_per_item_pct": _share(100.0, "purchase events per order item, %"),
    "items_1_pct": _share(70.1, "orders with 1 item, %"),
    "items_2_pct": _share(20.0, "orders with 2 items, %"),
    "items_3_pct": _share(5.0, "orders with 3 items, %"),
    "items_4_pct": _share(4.9, "orders with 4 items, %"),
    "first_order_days_p10": _relative(30.0, "days sign-up -> first order, p10"),
    "first_order_days_p50": _relative(401.0, "days sign-up -> first order, p50"),
    "first_order_days_p90": _relative(1498.0, "days sign-up -> first order, p90"),
    "order_position_mean": _relative(0.5, "order's place between sign-up and clock, mean (0-1)"),
    **{
        f"session_source_{name.lower()}_pct": _share(value, f"sessions from {name}, %")
        for name, value in SESSION_SOURCE_SHARES.items()
    },
    "buyers_1_order_pct": _share(62.7, "buyers with 1 order, %"),
    "buyers_2_orders_pct": _share(24.9, "buyers with 2 orders, %"),
    "buyers_3_orders_pct": _share(6.2, "buyers with 3 orders, %"),
    "buyers_4plus_orders_pct": _share(6.1, "buyers with 4+ orders, %"),
    "max_orders_per_buyer": Target(4.0, 0.0, "most orders of one buyer"),
    "growth_2020_2024": _relative(5.44, "orders 2024 / orders 2020"),
    "delivery_lag_mean_days": _relative(2.49, "shipped -> delivered, mean days"),
    "late_multi_item_purchases_pct": _share(
        80.0, "purchase events of multi-item orders 12+ h after the order, %"
    ),
    "latest_purchase_lag_days": Target(4.0, 0.25, "latest purchase event after its order, days"),
    "latest_delivery_lead_days": Target(7.5, 0.5, "latest delivered_at after the clock, days"),
    "future_events_per_1000_users": _relative(17.1, "events after the clock, per 1,000 users"),
    "future_orders_per_1000_users": _relative(
        21.4, "orders with a shipped/delivered/returned stamp after the clock, per 1,000 users"
    ),
    "final_week_signups_pct": Target(2.74, 0.5, "users signed up in the clock's last 7 days, %"),
}

# Counts of rows near the clock: a few hundred at 20k users, clustered (an n-item order's
# purchases come together, the burst's orders crowd the last days), so their sampling error is
# several times a share's. Their tolerance holds at 100k users (four seeds: 1,772-1,850 future
# events, 2,029-2,138 orders; issue 19 measured 1,708 and 2,137); at n users it widens by
# sqrt(100k / n) (eight seeds at 20k: 15.0-19.6 events per 1,000 users).
COUNTS_NEAR_THE_CLOCK = ("future_events_per_1000_users", "future_orders_per_1000_users")

# What the default profile shares with TheLook's process (the rest differs on purpose).
DEFAULT_PROFILE_FIGURES: tuple[str, ...] = (
    *(f"anonymous_{kind}_pct" for kind in ANONYMOUS_KINDS.values()),
    *(f"anonymous_event_{name}_pct" for name in ANONYMOUS_EVENT_SHARES),
    "purchase_events_per_item_pct",
    "items_1_pct",
    "items_2_pct",
    "items_3_pct",
    "items_4_pct",
    "first_order_days_p10",
    "first_order_days_p50",
    "first_order_days_p90",
    *(f"session_source_{name.lower()}_pct" for name in SESSION_SOURCE_SHARES),
    "delivery_lag_mean_days",
)


@dataclass(frozen=True)
class Folder:
    """The columns the figures read, timestamps parsed (naive UTC)."""

    users: pd.DataFrame
    orders: pd.DataFrame
    order_items: pd.DataFrame
    events: pd.DataFrame


def _timestamps(values: pd.Series) -> pd.Series:
    """Export (`... UTC`) or generator (no zone, microseconds optional) timestamps, NaT for NULL."""
    text = values.astype("string").str.removesuffix(" UTC")
    return pd.to_datetime(text.where(text != ""), format="ISO8601")


def _read(path: Path, columns: dict[str, pa.DataType], stamps: tuple[str, ...]) -> pd.DataFrame:
    """Selected columns of one CSV (either format: quoted empty fields are NULL)."""
    frame = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            include_columns=list(columns), column_types=columns, strings_can_be_null=True
        ),
    ).to_pandas()
    for column in stamps:
        frame[column] = _timestamps(frame[column])
    return frame


def read_folder(data_dir: Path) -> Folder:
    data_dir = Path(data_dir)
    text, number = pa.string(), pa.int64()
    return Folder(
        users=_read(data_dir / "users.csv", {"id": number, "created_at": text}, ("created_at",)),
        orders=_read(
            data_dir / "orders.csv",
            {
                "order_id": number,
                "user_id": number,
                "created_at": text,
                "shipped_at": text,
                "delivered_at": text,
                "returned_at": text,
                "num_of_item": number,
            },
            ("created_at", "shipped_at", "delivered_at", "returned_at"),
        ),
        order_items=_read(
            data_dir / "order_items.csv",
            {"id": number, "order_id": number, "created_at": text},
            ("created_at",),
        ),
        events=_read(
            data_dir / "events.csv",
            {
                "user_id": number,
                "sequence_number": number,
                "session_id": text,
                "created_at": text,
                "traffic_source": text,
                "event_type": text,
            },
            ("created_at",),
        ),
    )


def _session_figures(events: pd.DataFrame, n_users: int) -> dict[str, float]:
    """Who carries the events, which sessions exist and where they come from."""
    result: dict[str, float] = {}
    registered = events["user_id"].notna()
    result["events_with_user_pct"] = 100 * float(registered.mean())
    types = events["event_type"].value_counts(normalize=True)
    for name in EVENT_TYPE_SHARES:
        result[f"event_{name}_pct"] = 100 * float(types.get(name, 0.0))
    sessions = events.groupby("session_id", sort=False).agg(
        user_id=("user_id", "first"), source=("traffic_source", "first")
    )
    sources = sessions["source"].value_counts(normalize=True)
    for name in TRAFFIC_SOURCES_EVENTS:
        result[f"session_source_{name.lower()}_pct"] = 100 * float(sources.get(name, 0.0))
    owned = sessions["user_id"].dropna()
    result["registered_sessions_per_user"] = len(owned) / n_users
    result["users_without_session_pct"] = 100 * (1 - owned.nunique() / n_users)
    purchase_sessions = events.loc[events["event_type"] == "purchase", "session_id"].unique()
    result["registered_purchase_sessions_pct"] = 100 * float(
        owned.index.isin(purchase_sessions).mean()
    )

    anonymous = events[~registered].sort_values(["session_id", "sequence_number"])
    result["anonymous_sessions_per_user"] = anonymous["session_id"].nunique() / n_users
    sequences = anonymous.groupby("session_id", sort=False)["event_type"].agg(">".join)
    kinds = sequences.value_counts(normalize=True)
    for sequence, kind in ANONYMOUS_KINDS.items():
        result[f"anonymous_{kind}_pct"] = 100 * float(kinds.get(sequence, 0.0))
    anonymous_types = anonymous["event_type"].value_counts(normalize=True)
    for name in ANONYMOUS_EVENT_SHARES:
        result[f"anonymous_event_{name}_pct"] = 100 * float(anonymous_types.get(name, 0.0))
    return result


def _order_figures(folder: Folder) -> dict[str, float]:
    """Items per order, orders per buyer and per year, and when orders fall after sign-up."""
    orders, users = folder.orders, folder.users
    result: dict[str, float] = {}
    items = orders["num_of_item"]
    for count in (1, 2, 3, 4):
        result[f"items_{count}_pct"] = 100 * float((items == count).mean())
    per_buyer = orders.groupby("user_id").size()
    result["buyers_1_order_pct"] = 100 * float((per_buyer == 1).mean())
    result["buyers_2_orders_pct"] = 100 * float((per_buyer == 2).mean())
    result["buyers_3_orders_pct"] = 100 * float((per_buyer == 3).mean())
    result["buyers_4plus_orders_pct"] = 100 * float((per_buyer >= 4).mean())
    result["max_orders_per_buyer"] = float(per_buyer.max())
    years = orders["created_at"].dt.year.value_counts()
    result["growth_2020_2024"] = float(years.get(2024, 0)) / max(float(years.get(2020, 0)), 1.0)
    result["delivery_lag_mean_days"] = float(
        ((orders["delivered_at"] - orders["shipped_at"]) / DAY).mean()
    )
    signup = users.set_index("id")["created_at"]
    first_order = orders.groupby("user_id")["created_at"].min()
    gap = (first_order - signup.reindex(first_order.index)) / DAY
    for quantile in (10, 50, 90):
        result[f"first_order_days_p{quantile}"] = float(np.percentile(gap, quantile))
    clock = orders["created_at"].max().to_datetime64()
    order_signup = signup.reindex(orders["user_id"]).to_numpy()
    position = (orders["created_at"].to_numpy() - order_signup) / (clock - order_signup)
    result["order_position_mean"] = float(np.nanmean(position))
    return result


def _clock_figures(folder: Folder, n_users: int) -> dict[str, float]:
    """Purchase events per item, the lag of multi-item purchases and the rows past the clock."""
    orders, events = folder.orders, folder.events
    clock = orders["created_at"].max()
    result: dict[str, float] = {}
    purchases = events[events["event_type"] == "purchase"]
    result["purchase_events_per_item_pct"] = 100 * len(purchases) / max(len(folder.order_items), 1)
    # Each purchase event against its order: the user's order nearest in time (a session starts
    # up to 4 hours before its order's timestamp and an n-item purchase comes days after it).
    owned = purchases.dropna(subset=["user_id"]).sort_values("created_at")
    placed = orders[["user_id", "created_at", "num_of_item"]].sort_values("created_at")
    matched = pd.merge_asof(
        owned.assign(user_id=owned["user_id"].astype(np.int64)),
        placed.rename(columns={"created_at": "order_created_at"}),
        left_on="created_at",
        right_on="order_created_at",
        by="user_id",
        direction="nearest",
        tolerance=pd.Timedelta(days=5),
    )
    lag = (matched["created_at"] - matched["order_created_at"]) / DAY
    multi = matched["num_of_item"] > 1
    result["late_multi_item_purchases_pct"] = 100 * float((lag[multi] >= 0.5).mean())
    result["latest_purchase_lag_days"] = float(lag.max())
    result["latest_delivery_lead_days"] = float((orders["delivered_at"].max() - clock) / DAY)
    result["future_events_per_1000_users"] = (
        1000 * float((events["created_at"] > clock).sum()) / n_users
    )
    stamped_later = np.zeros(len(orders), dtype=bool)
    for column in ("shipped_at", "delivered_at", "returned_at"):
        stamped_later |= (orders[column] > clock).to_numpy()
    result["future_orders_per_1000_users"] = 1000 * float(stamped_later.sum()) / n_users
    final_week = folder.users["created_at"] > clock - pd.Timedelta(days=7)
    result["final_week_signups_pct"] = 100 * float(final_week.mean())
    return result


def process_figures(data_dir: Path) -> dict[str, float]:
    """Every figure of THELOOK_TARGETS for the CSVs in `data_dir` (either CSV format)."""
    folder = read_folder(data_dir)
    n_users = len(folder.users)
    return {
        **_session_figures(folder.events, n_users),
        **_order_figures(folder),
        **_clock_figures(folder, n_users),
    }


def misses(measured: dict[str, float], names: tuple[str, ...] | None = None) -> dict[str, float]:
    """The figures (all, or `names`) outside their target's tolerance."""
    chosen = names if names is not None else tuple(THELOOK_TARGETS)
    return {
        name: measured[name] for name in chosen if not THELOOK_TARGETS[name].holds(measured[name])
    }


def format_table(measured: dict[str, float], names: tuple[str, ...] | None = None) -> str:
    """A markdown table of the figures (all, or `names`) against TheLook's, misses marked."""
    chosen = names if names is not None else tuple(THELOOK_TARGETS)
    targets = {name: THELOOK_TARGETS[name] for name in chosen}
    return marginals_table(measured, targets, reference="TheLook's generator")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="TheLook generator's statistics of a folder.")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--profile", choices=("thelook", "default"), default="thelook")
    args = parser.parse_args(argv)
    names = None if args.profile == "thelook" else DEFAULT_PROFILE_FIGURES
    measured = process_figures(args.data_dir)
    print(format_table(measured, names))
    return 1 if misses(measured, names) else 0


if __name__ == "__main__":
    raise SystemExit(main())
