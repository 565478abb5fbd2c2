"""Small churn marts with the shared contract's exact columns, for feature/training/scoring tests.

Users place orders as a Poisson process with a personal rate until a personal "lifetime" ends;
features at each weekly cutoff are computed from the orders and sessions strictly before it,
and the label is "no order in the 30 days from the cutoff". So the marts are point-in-time
correct and carry a real, learnable churn signal (recency and frequency), like the dbt marts.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from ecom.config import Settings
from ecom.db import transaction
from ecom.features import contract
from ecom.features import store as features
from ecom.services import Endpoints

FEATURE_WINDOW_DAYS = 60
LABEL_HORIZON_DAYS = 30

# The feature marts' DDL is the feature contract's, so these tests read what dbt builds.
FEATURE_COLUMNS_DDL = contract.mart_column_types()
LABEL_COLUMNS_DDL = {
    "user_id": "bigint",
    "cutoff_date": "date",
    "feature_timestamp": "timestamptz",
    "churned": "integer",
    "label_horizon_end": "timestamptz",
}


@dataclass
class ChurnMarts:
    features: pd.DataFrame
    labels: pd.DataFrame
    scoring: pd.DataFrame
    data_end: date


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _feature_row(
    user: dict, cutoff: date, orders: np.ndarray, sessions: np.ndarray, rng: np.random.Generator
) -> dict | None:
    """Features of one user at one cutoff from event day-offsets strictly before the cutoff."""
    c = (cutoff - user["origin"]).days
    window_start = c - FEATURE_WINDOW_DAYS
    past_orders = orders[orders < c]
    window_orders = past_orders[past_orders >= window_start]
    past_sessions = sessions[sessions < c]
    window_sessions = past_sessions[past_sessions >= window_start]
    if len(window_orders) == 0 and len(window_sessions) == 0:
        return None
    prices = rng.gamma(2.0, 30.0, size=len(window_orders))
    views = int(rng.poisson(3.0 * len(window_sessions)))
    carts = int(rng.binomial(views, 0.3)) if views else 0
    purchases = len(window_orders)
    frequency = len(window_orders)
    row = {
        "user_id": user["user_id"],
        "cutoff_date": cutoff,
        "feature_timestamp": _midnight(cutoff),
        "recency_days": float(c - past_orders.max()) if len(past_orders) else None,
        "frequency_orders": frequency,
        "monetary_value": float(prices.sum()),
        "avg_order_value": float(prices.mean()) if frequency else None,
        "avg_days_between_orders": float(np.diff(past_orders).mean())
        if len(past_orders) >= 2
        else None,
        "sessions_count": len(window_sessions),
        "events_count": len(window_sessions) * 4 + views,
        "product_views": views,
        "cart_adds": carts,
        "purchase_events": purchases,
        "view_to_cart_rate": carts / views if views else None,
        "cart_to_purchase_rate": min(purchases / carts, 1.0) if carts else None,
        "cancelled_orders": int(rng.binomial(frequency, 0.15)),
        "returned_orders": int(rng.binomial(frequency, 0.1)),
        "days_since_last_session": float(c - past_sessions.max()) if len(past_sessions) else None,
        "tenure_days": c - user["signup"],
        "traffic_source": user["traffic_source"],
        "age": user["age"],
        "gender": user["gender"],
        "country": user["country"],
    }
    return _contract_columns(row)


def _contract_columns(row: dict) -> dict:
    """The simulated row, if it has exactly the feature contract's columns: a feature added to
    the contract must be simulated here too, not left NULL by pandas without a word."""
    missing = [name for name in FEATURE_COLUMNS_DDL if name not in row]
    extra = [name for name in row if name not in FEATURE_COLUMNS_DDL]
    if missing or extra:
        raise ValueError(
            "tests/integration/churn_marts.py: the simulated feature row differs from "
            f"ecom.features.contract: missing {missing}, not in the contract {extra}"
        )
    return row


def simulate_churn_marts(
    n_users: int = 300, n_cutoffs: int = 14, seed: int = 7, data_end: date = date(2024, 6, 30)
) -> ChurnMarts:
    rng = np.random.default_rng(seed)
    as_of = data_end + timedelta(days=1)
    cutoffs = [as_of - timedelta(days=7 * k) for k in range(n_cutoffs, 0, -1)]
    origin = cutoffs[0] - timedelta(days=400)
    horizon_days = (as_of - origin).days
    feature_rows, label_rows, scoring_rows = [], [], []
    for index in range(n_users):
        user = {
            "user_id": 1000 + index,
            "origin": origin,
            "signup": int(rng.integers(0, 300)),
            "traffic_source": str(rng.choice(["Search", "Organic", "Email", "Facebook"])),
            "age": int(rng.integers(18, 70)),
            "gender": str(rng.choice(["F", "M"])),
            "country": str(rng.choice(["Brasil", "China", "United States"])),
        }
        # Buyers differ tenfold in rate and some stop for good: recency and frequency carry it.
        rate = float(rng.lognormal(np.log(1 / 20), 0.8))
        lifetime_end = user["signup"] + float(rng.exponential(250.0))
        n_orders = rng.poisson(rate * horizon_days)
        orders = np.sort(rng.uniform(user["signup"], horizon_days, size=n_orders)).astype(int)
        orders = orders[orders < lifetime_end]
        n_sessions = rng.poisson(3 * rate * horizon_days)
        sessions = np.sort(rng.uniform(user["signup"], horizon_days, size=n_sessions)).astype(int)
        sessions = sessions[sessions < lifetime_end + 20]
        sessions = np.union1d(sessions, orders)
        for cutoff in cutoffs:
            row = _feature_row(user, cutoff, orders, sessions, rng)
            if row is None:
                continue
            feature_rows.append(row)
            c = (cutoff - origin).days
            if cutoff + timedelta(days=LABEL_HORIZON_DAYS) <= as_of:
                future = orders[(orders >= c) & (orders < c + LABEL_HORIZON_DAYS)]
                label_rows.append(
                    {
                        "user_id": user["user_id"],
                        "cutoff_date": cutoff,
                        "feature_timestamp": _midnight(cutoff),
                        "churned": int(len(future) == 0),
                        "label_horizon_end": _midnight(cutoff + timedelta(days=LABEL_HORIZON_DAYS)),
                    }
                )
        scoring_row = _feature_row(user, as_of, orders, sessions, rng)
        if scoring_row is not None:
            scoring_rows.append(scoring_row)
    features = pd.DataFrame(feature_rows, columns=list(FEATURE_COLUMNS_DDL))
    labels = pd.DataFrame(label_rows, columns=list(LABEL_COLUMNS_DDL))
    scoring = pd.DataFrame(scoring_rows, columns=list(FEATURE_COLUMNS_DDL))
    return ChurnMarts(features, labels, scoring, data_end)


def _copy_frame(cursor, table: str, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, na_rep="\\N")
    buffer.seek(0)
    cursor.copy_expert(
        f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
        buffer,
    )


def _integer_columns(frame: pd.DataFrame, ddl: dict[str, str]) -> pd.DataFrame:
    """Nullable ints print as `3`, not `3.0`, so COPY accepts them into integer columns."""
    frame = frame.copy()
    for column, kind in ddl.items():
        if kind in {"integer", "bigint"}:
            frame[column] = frame[column].astype("Int64")
    return frame


def write_table(database_url: str, table: str, frame: pd.DataFrame, ddl: dict[str, str]) -> None:
    """(Re)create `analytics.<table>` with the contract's types and COPY the frame into it."""
    columns = ", ".join(f"{name} {kind}" for name, kind in ddl.items())
    with transaction(database_url) as cursor:
        cursor.execute("create schema if not exists analytics")
        cursor.execute(f"drop table if exists analytics.{table}")
        cursor.execute(f"create table analytics.{table} ({columns})")
        _copy_frame(cursor, f"analytics.{table}", _integer_columns(frame[list(ddl)], ddl))


def write_churn_marts(database_url: str, marts: ChurnMarts) -> None:
    write_table(database_url, "mart_churn_features", marts.features, FEATURE_COLUMNS_DDL)
    write_table(database_url, "mart_churn_labels", marts.labels, LABEL_COLUMNS_DDL)
    write_table(database_url, "mart_churn_scoring", marts.scoring, FEATURE_COLUMNS_DDL)


def load_churn_marts(
    settings: Settings, endpoints: Endpoints, *, n_users: int, n_cutoffs: int, seed: int
) -> ChurnMarts:
    """Simulate the marts, write them into the test database and register the Feast repo over
    them: what every feature/training/scoring test module needs before its first test."""
    marts = simulate_churn_marts(n_users=n_users, n_cutoffs=n_cutoffs, seed=seed)
    write_churn_marts(endpoints.database_url, marts)
    features.apply_feature_repo(settings, endpoints)
    return marts


def train_xgboost_on_marts(settings: Settings, endpoints: Endpoints) -> None:
    """One plain XGBoost on the Feast training set of the loaded marts, registered in MLflow
    (it becomes champion unless an earlier, better one stays)."""
    from ecom.churn import models as churn_models
    from ecom.churn import training

    training.train_on_frame(
        settings,
        features.training_frame(settings, endpoints),
        features.feature_service_columns(settings, endpoints),
        candidates=(churn_models.XGB_PLAIN,),
    )
