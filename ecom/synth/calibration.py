"""Check that the planted churn signal is learnable, and how close a model gets to the oracle.

This recomputes, with pandas and straight from the generated CSVs, the churn features and labels
of the shared data contract (the same definitions dbt's `mart_churn_features` /
`mart_churn_labels` implement), fits a quick gradient-boosting model on earlier weekly cutoffs
and scores later ones, and compares its AUC with the AUC of the generator's exact churn
probability on the same user-cutoffs. It is the generator's calibration instrument, independent
of the warehouse, so the generator can be tuned and tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

import ecom.features.contract as contract
from ecom.synth.calendar import datetime_to_days
from ecom.synth.truth import load_truth, true_churn_probability

FEATURE_WINDOW_DAYS = 60
LABEL_HORIZON_DAYS = 30
# The model's inputs, as the feature contract types them (mart order).
CATEGORICAL_FEATURES = contract.features_of_kind(contract.Kind.CATEGORICAL)
NUMERIC_FEATURES = contract.features_of_kind(contract.Kind.NUMERIC)


def _days(values: pd.Series) -> np.ndarray:
    """Export timestamps ('2025-09-12 01:11:58.000000 UTC', empty for NULL) as days since 2019-01-01."""
    text = values.fillna("").astype(str).str.slice(0, 26)
    stamps = pd.to_datetime(text.where(text != ""), format="%Y-%m-%d %H:%M:%S.%f")
    return datetime_to_days(stamps.to_numpy(dtype="datetime64[us]"))


@dataclass(frozen=True)
class Observed:
    """The columns the check needs, with times as float days."""

    users: pd.DataFrame
    orders: pd.DataFrame
    order_items: pd.DataFrame
    events: pd.DataFrame
    tries: pd.DataFrame  # per registered session: when each funnel try opened and converted


def _first_at_or_after(events: pd.DataFrame, event_type: str, since: pd.Series) -> pd.Series:
    """Per session, the first `event_type` event at or after `since` (indexed by session)."""
    steps = events.loc[events["event_type"] == event_type, ["session_id", "days"]]
    steps = steps.join(since.rename("since"), on="session_id")
    return steps[steps["days"] >= steps["since"]].groupby("session_id")["days"].min()


def session_tries(events: pd.DataFrame) -> pd.DataFrame:
    """Each session's two tries, as dbt's int_sessions dates them (times in days, NaN if none).

    A view try opens at the session's first product view and converts at its first cart at or
    after it; a cart try opens at the first cart and converts at the first purchase at or after
    it. Counting sessions, not events, keeps the rates in [0, 1] however many purchase events a
    session repeats or however long after the cart it buys.
    """
    first = events.groupby(["session_id", "event_type"])["days"].min().unstack()
    tries = pd.DataFrame(
        {
            "user_id": events.groupby("session_id")["user_id"].first(),
            "view_opened": first.get("product"),
            "cart_opened": first.get("cart"),
        }
    )
    tries["view_converted"] = _first_at_or_after(events, "cart", tries["view_opened"].dropna())
    tries["cart_converted"] = _first_at_or_after(events, "purchase", tries["cart_opened"].dropna())
    return tries.reset_index(drop=True)


def _try_rate(tries: pd.DataFrame, kind: str, window_start: float, cutoff_days: float) -> pd.Series:
    """Per user, the share of tries opened in [window_start, cutoff) that converted before it."""
    opened = tries[f"{kind}_opened"]
    in_window = tries[(opened >= window_start) & (opened < cutoff_days)]
    converted = in_window[f"{kind}_converted"] < cutoff_days
    return converted.groupby(in_window["user_id"]).mean()


def load_observed(data_dir: Path) -> Observed:
    data_dir = Path(data_dir)
    users = pd.read_csv(
        data_dir / "users.csv",
        usecols=["id", "age", "gender", "country", "traffic_source", "created_at"],
        engine="pyarrow",
    )
    users["created_days"] = _days(users.pop("created_at"))
    orders = pd.read_csv(
        data_dir / "orders.csv",
        usecols=["order_id", "user_id", "status", "created_at"],
        engine="pyarrow",
    )
    orders["days"] = _days(orders.pop("created_at"))
    order_items = pd.read_csv(
        data_dir / "order_items.csv", usecols=["order_id", "status", "sale_price"], engine="pyarrow"
    )
    events = pd.read_csv(
        data_dir / "events.csv",
        usecols=["user_id", "session_id", "created_at", "event_type"],
        engine="pyarrow",
    )
    events = events[events["user_id"].notna()].reset_index(drop=True)
    events["user_id"] = events["user_id"].astype(np.int64)
    events["days"] = _days(events.pop("created_at"))
    return Observed(
        users=users,
        orders=orders,
        order_items=order_items,
        events=events,
        tries=session_tries(events),
    )


def features_at_cutoff(observed: Observed, cutoff_days: float) -> pd.DataFrame:
    """Features (data strictly before the cutoff) and label for users active in the window before it."""
    window_start = cutoff_days - FEATURE_WINDOW_DAYS
    orders_before = observed.orders[observed.orders["days"] < cutoff_days]
    events_before = observed.events[observed.events["days"] < cutoff_days]
    orders_window = orders_before[orders_before["days"] >= window_start]
    events_window = events_before[events_before["days"] >= window_start]
    active = np.union1d(orders_window["user_id"].unique(), events_window["user_id"].unique())
    frame = pd.DataFrame(index=pd.Index(active, name="user_id"))

    lifetime = orders_before.groupby("user_id")["days"].agg(["min", "max", "count"])
    frame["recency_days"] = cutoff_days - lifetime["max"]
    span = (lifetime["max"] - lifetime["min"]) / (lifetime["count"] - 1)
    frame["avg_days_between_orders"] = span.where(lifetime["count"] >= 2)

    frame["frequency_orders"] = orders_window.groupby("user_id").size()
    items = observed.order_items.merge(orders_window[["order_id", "user_id"]], on="order_id")
    items = items[items["status"] != "Cancelled"]
    frame["monetary_value"] = items.groupby("user_id")["sale_price"].sum()
    frame["cancelled_orders"] = (
        orders_window[orders_window["status"] == "Cancelled"].groupby("user_id").size()
    )
    frame["returned_orders"] = (
        orders_window[orders_window["status"] == "Returned"].groupby("user_id").size()
    )

    by_user = events_window.groupby("user_id")
    frame["sessions_count"] = by_user["session_id"].nunique()
    frame["events_count"] = by_user.size()
    event_counts = events_window.groupby(["user_id", "event_type"]).size().unstack(fill_value=0)
    for column, event_type in (
        ("product_views", "product"),
        ("cart_adds", "cart"),
        ("purchase_events", "purchase"),
    ):
        frame[column] = event_counts.get(event_type, 0)
    count_columns = [
        "frequency_orders", "monetary_value", "cancelled_orders", "returned_orders",
        "sessions_count", "events_count", "product_views", "cart_adds", "purchase_events",
    ]  # fmt: skip
    frame[count_columns] = frame[count_columns].fillna(0)
    frame["avg_order_value"] = frame["monetary_value"] / frame["frequency_orders"].where(
        frame["frequency_orders"] > 0
    )
    # Rates per session, as the contract's dbt models count them (NULL without a try).
    frame["view_to_cart_rate"] = _try_rate(observed.tries, "view", window_start, cutoff_days)
    frame["cart_to_purchase_rate"] = _try_rate(observed.tries, "cart", window_start, cutoff_days)
    frame["days_since_last_session"] = cutoff_days - events_before.groupby("user_id")["days"].max()

    profile = observed.users.set_index("id").reindex(frame.index)
    frame["tenure_days"] = np.floor(cutoff_days - profile["created_days"])
    for column in ("age", *CATEGORICAL_FEATURES):
        frame[column] = profile[column]

    horizon = observed.orders[
        (observed.orders["days"] >= cutoff_days)
        & (observed.orders["days"] < cutoff_days + LABEL_HORIZON_DAYS)
    ]
    frame["churned"] = (~frame.index.isin(horizon["user_id"].unique())).astype(int)
    frame["cutoff_days"] = cutoff_days
    return frame.reset_index()


@dataclass(frozen=True)
class LearnabilityReport:
    model_auc: float
    oracle_auc: float
    ratio: float
    churn_base_rate: float
    rows_per_cutoff: float
    train_rows: int
    test_rows: int
    cutoffs: list[str]


def weekly_cutoffs(observed: Observed, n_cutoffs: int) -> np.ndarray:
    """The latest n weekly cutoffs (midnights) whose label horizon lies inside the data."""
    latest_day = np.floor(max(observed.events["days"].max(), observed.orders["days"].max()))
    last_cutoff = latest_day - LABEL_HORIZON_DAYS
    return last_cutoff - 7.0 * np.arange(n_cutoffs)[::-1]


def learnability_check(
    data_dir: Path, n_cutoffs: int = 20, n_test_cutoffs: int = 8, seed: int = 0
) -> LearnabilityReport:
    """Train on the earlier cutoffs, test on the later ones, compare the AUC with the oracle's."""
    observed = load_observed(data_dir)
    cutoffs = weekly_cutoffs(observed, n_cutoffs)
    frame = pd.concat(
        [features_at_cutoff(observed, cutoff) for cutoff in cutoffs], ignore_index=True
    )
    for column in CATEGORICAL_FEATURES:
        frame[column] = frame[column].astype("category")
    columns = [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]
    test = frame["cutoff_days"] >= cutoffs[-n_test_cutoffs]
    model = HistGradientBoostingClassifier(
        max_iter=300,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        categorical_features="from_dtype",
        random_state=seed,
    )
    test_frame = frame[test]
    # One thread: on a shared 2-core machine OpenMP threads fight each other and run 4x slower.
    with threadpool_limits(1):
        model.fit(frame.loc[~test, columns], frame.loc[~test, "churned"])
        churn_score = model.predict_proba(test_frame[columns])[:, 1]
    model_auc = roc_auc_score(test_frame["churned"], churn_score)

    truth = load_truth(data_dir)
    cutoff_stamps = np.datetime64("2019-01-01T00:00:00", "us") + (
        test_frame["cutoff_days"].to_numpy() * 86_400e6
    ).astype("timedelta64[us]")
    oracle = true_churn_probability(
        truth, test_frame["user_id"].to_numpy(), cutoff_stamps, LABEL_HORIZON_DAYS
    )
    oracle_auc = roc_auc_score(test_frame["churned"], oracle)
    all_cutoffs = np.datetime64("2019-01-01", "D") + cutoffs.astype(int)
    return LearnabilityReport(
        model_auc=float(model_auc),
        oracle_auc=float(oracle_auc),
        ratio=float(model_auc / oracle_auc),
        churn_base_rate=float(frame["churned"].mean()),
        rows_per_cutoff=float(len(frame) / len(cutoffs)),
        train_rows=int((~test).sum()),
        test_rows=int(test.sum()),
        cutoffs=[str(day) for day in all_cutoffs],
    )
