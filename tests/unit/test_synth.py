"""Invariants of the generated TheLook data: schema, keys, references, funnels, timestamps, determinism."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecom.synth import generate_dataset
from ecom.synth.campaign import CampaignPlan
from ecom.synth.truth import load_truth
from ecom.thelook import ALL_TABLES, EVENT_TYPES, ORDER_STATUSES
from tests.synth_worlds import generated_world

END_DATE = dt.date(2025, 11, 24)
END = pd.Timestamp(END_DATE)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6} UTC$")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_world(tmp_path_factory, "synth", 3000, 7, END_DATE, campaign=CampaignPlan())


def _read(data_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(data_dir / f"{name}.csv", dtype=str, keep_default_na=False)


def _ts(values: pd.Series) -> pd.Series:
    return pd.to_datetime(
        values.where(values != "").str.slice(0, 26), format="%Y-%m-%d %H:%M:%S.%f"
    )


@pytest.fixture(scope="module")
def tables(data_dir: Path) -> dict[str, pd.DataFrame]:
    return {table.name: _read(data_dir, table.name) for table in ALL_TABLES}


def test_headers_match_the_raw_contract(data_dir: Path) -> None:
    for table in ALL_TABLES:
        header = (data_dir / table.csv_name).open().readline().strip()
        assert header == ",".join(table.column_names), table.name


def test_primary_keys_are_unique(tables: dict[str, pd.DataFrame]) -> None:
    for table in ALL_TABLES:
        frame = tables[table.name]
        assert len(frame) > 0, table.name
        assert not frame.duplicated(list(table.primary_key)).any(), table.name


def test_referential_integrity(tables: dict[str, pd.DataFrame]) -> None:
    users = set(tables["users"]["id"])
    orders = tables["orders"]
    items = tables["order_items"]
    products = set(tables["products"]["id"])
    inventory = tables["inventory_items"].set_index("id")
    assert set(orders["user_id"]) <= users
    assert set(items["order_id"]) <= set(orders["order_id"])
    assert set(items["product_id"]) <= products
    assert set(items["inventory_item_id"]) <= set(inventory.index)
    assert (
        inventory.loc[items["inventory_item_id"], "product_id"].to_numpy()
        == items["product_id"].to_numpy()
    ).all()
    assert set(tables["products"]["distribution_center_id"]) <= set(
        tables["distribution_centers"]["id"]
    )
    assert set(tables["inventory_items"]["product_id"]) <= products
    event_users = set(tables["events"]["user_id"]) - {""}
    assert event_users <= users
    assert (tables["events"]["user_id"] == "").any(), "anonymous sessions must exist"
    assert set(tables["experiment_assignments"]["user_id"]) <= users
    per_order = items.groupby("order_id").size()
    num_of_item = orders.set_index("order_id")["num_of_item"].astype(int)
    assert (per_order.reindex(num_of_item.index).to_numpy() == num_of_item.to_numpy()).all()


def test_export_formats(tables: dict[str, pd.DataFrame]) -> None:
    users = tables["users"]
    assert users["created_at"].str.match(TIMESTAMP).all()
    assert users["user_geom"].str.match(r"^POINT\(-?\d+(\.\d+)? -?\d+(\.\d+)?\)$").all()
    assert (users["city"] == "null").any()
    assert users["postal_code"].str.match(r"^\d{5}-\d{3}$").any()  # Brazilian CEP
    assert tables["distribution_centers"]["distribution_center_geom"].str.startswith("POINT(").all()
    for column in ("shipped_at", "delivered_at", "returned_at"):
        present = tables["orders"][column]
        assert present[present != ""].str.match(TIMESTAMP).all()
    assert set(tables["orders"]["status"]) == set(ORDER_STATUSES)
    assert set(tables["events"]["event_type"]) == set(EVENT_TYPES)


def test_realistic_shape(tables: dict[str, pd.DataFrame]) -> None:
    orders = tables["orders"]
    n_users = len(tables["users"])
    buyers = orders["user_id"].nunique()
    assert 0.7 < buyers / n_users < 0.9
    assert 1.3 < len(orders) / buyers < 1.9
    assert 0.6 < (orders["num_of_item"] == "1").mean() < 0.8
    shares = orders["status"].value_counts(normalize=True)
    for status, share in {
        "Shipped": 0.30,
        "Complete": 0.25,
        "Processing": 0.20,
        "Cancelled": 0.15,
        "Returned": 0.10,
    }.items():
        assert abs(shares[status] - share) < 0.04, (status, shares[status])
    events = tables["events"]
    registered = events[events["user_id"] != ""]
    first_visit = _ts(registered.groupby("user_id")["created_at"].min())
    first_half = (first_visit < first_visit.min() + (END - first_visit.min()) / 2).mean()
    assert first_half < 0.4, "first visits must grow over time"
    created = _ts(tables["users"].set_index("id")["created_at"])
    assert (created.reindex(first_visit.index) <= first_visit).all(), "accounts come first"
    assert (created < first_visit.reindex(created.index) - pd.Timedelta(days=30)).mean() > 0.5, (
        "most accounts are months older than their first visit, as in TheLook's process"
    )


def test_timestamps_are_consistent(tables: dict[str, pd.DataFrame]) -> None:
    users = tables["users"].set_index("id")
    user_created = _ts(users["created_at"])
    orders = tables["orders"]
    created = _ts(orders["created_at"])
    shipped, delivered, returned = (
        _ts(orders[c]) for c in ("shipped_at", "delivered_at", "returned_at")
    )
    for stamps in (created, shipped, delivered, returned, user_created):
        present = stamps.dropna()
        assert (present >= pd.Timestamp("2019-01-01")).all() and (present < END).all()
    assert (created.to_numpy() > user_created.loc[orders["user_id"]].to_numpy()).all()
    assert (shipped.dropna() >= created[shipped.notna()]).all()
    assert (delivered.dropna() >= shipped[delivered.notna()]).all()
    assert (returned.dropna() >= delivered[returned.notna()]).all()
    status = orders["status"]
    assert shipped[status.isin(["Processing", "Cancelled"])].isna().all()
    assert shipped[status.isin(["Shipped", "Complete", "Returned"])].notna().all()
    assert (
        delivered[status == "Shipped"].isna().all()
        and delivered[status.isin(["Complete", "Returned"])].notna().all()
    )
    assert (
        returned[status != "Returned"].isna().all() and returned[status == "Returned"].notna().all()
    )

    items = tables["order_items"].merge(
        orders[["order_id", "status", "created_at"]], on="order_id", suffixes=("", "_order")
    )
    assert (items["status"] == items["status_order"]).all()
    assert (items["created_at"] == items["created_at_order"]).all()
    inventory = tables["inventory_items"].set_index("id")
    sold_at = inventory.loc[items["inventory_item_id"], "sold_at"].to_numpy()
    cancelled = (items["status"] == "Cancelled").to_numpy()
    assert (sold_at[~cancelled] == items["created_at"].to_numpy()[~cancelled]).all()
    assert (sold_at[cancelled] == "").all()
    assert (_ts(inventory["created_at"]) <= _ts(inventory["sold_at"]).fillna(END)).all()

    events = tables["events"]
    registered = events[events["user_id"] != ""]
    event_time = _ts(registered["created_at"])
    assert (event_time.to_numpy() > user_created.loc[registered["user_id"]].to_numpy()).all()
    all_times = _ts(events["created_at"])
    assert (all_times < END).all() and (all_times >= pd.Timestamp("2019-01-01")).all()


def test_sessions_follow_the_funnel(tables: dict[str, pd.DataFrame]) -> None:
    events = tables["events"].copy()
    events["sequence_number"] = events["sequence_number"].astype(int)
    events["time"] = _ts(events["created_at"])
    events = events.sort_values(["session_id", "sequence_number"])
    grouped = events.groupby("session_id")
    size = grouped["sequence_number"].transform("size")
    rank = grouped.cumcount() + 1
    assert (events["sequence_number"] == rank).all(), "sequence numbers must be 1..k"
    assert (grouped["user_id"].nunique() == 1).all(), "one user (or none) per session"
    step = grouped["time"].diff()
    after_purchase = events["event_type"].eq("purchase") & grouped["event_type"].shift().eq(
        "purchase"
    )
    assert (step[~after_purchase].dropna() > pd.Timedelta(0)).all(), "time increases with sequence"
    assert (step[after_purchase] == pd.Timedelta(0)).all(), "an order's purchases share its time"
    first = {
        kind: events[events["event_type"] == kind].groupby("session_id")["sequence_number"].min()
        for kind in ("product", "cart", "purchase", "cancel")
    }
    carts = first["cart"]
    assert (first["product"].reindex(carts.index) < carts).all(), "a product page precedes the cart"
    purchases = first["purchase"]
    assert (carts.reindex(purchases.index) < purchases).all(), "a cart precedes the purchase"
    cancels = events[events["event_type"] == "cancel"]
    assert (cancels["sequence_number"] == size[cancels.index]).all(), "a cancel ends the session"
    last_purchase = events[events["event_type"] == "purchase"].groupby("session_id").tail(1)
    assert (last_purchase["sequence_number"] == size[last_purchase.index]).all(), (
        "the purchases end the session"
    )
    assert (events.loc[events["event_type"] == "purchase", "user_id"] != "").all()
    has_purchase = events.groupby("session_id")["event_type"].apply(
        lambda kinds: "purchase" in set(kinds)
    )
    assert (~has_purchase).sum() > has_purchase.sum(), "most sessions browse without buying"


def test_every_order_item_has_its_purchase_event(tables: dict[str, pd.DataFrame]) -> None:
    """As in TheLook: one purchase event per order item, at the order's timestamp."""
    purchases = tables["events"].query("event_type == 'purchase'")
    assert len(purchases) == len(tables["order_items"])
    per_order = purchases.groupby(["user_id", "created_at"]).size().rename("purchase_events")
    orders = tables["orders"].join(per_order, on=["user_id", "created_at"])
    assert (orders["purchase_events"] == orders["num_of_item"].astype(int)).all()


def test_traffic_sources_and_browsers_convert_differently(tables: dict[str, pd.DataFrame]) -> None:
    events = tables["events"]
    sessions = events.groupby("session_id").agg(
        source=("traffic_source", "first"),
        browser=("browser", "first"),
        bought=("event_type", lambda kinds: "purchase" in set(kinds)),
    )
    by_source = sessions.groupby("source")["bought"].mean()
    assert by_source["Email"] > by_source["YouTube"]
    by_browser = sessions.groupby("browser")["bought"].mean()
    assert by_browser["Safari"] > by_browser["IE"]


def test_truth_folder_and_experiment(data_dir: Path, tables: dict[str, pd.DataFrame]) -> None:
    truth = load_truth(data_dir)
    assert len(truth.users) == len(tables["users"])
    assert truth.relative_lift > 0
    experiment = json.loads((data_dir / "_truth" / "experiment.json").read_text())
    assignments = tables["experiment_assignments"]
    assert set(assignments["experiment_id"]) == {experiment["experiment_id"]}
    assert set(assignments["variant"]) == {"control", "treatment"}
    treated_share = (assignments["variant"] == "treatment").mean()
    assert abs(treated_share - 0.5) < 4 * np.sqrt(0.25 / len(assignments)), "fair 50/50 coin"
    latent = truth.users.set_index("user_id")["latent_treated"]
    assigned_treated = latent.loc[assignments["user_id"].astype(int)].to_numpy()
    assert (assigned_treated == (assignments["variant"] == "treatment").to_numpy()).all()
    assigned_at = _ts(assignments["assigned_at"])
    start = pd.Timestamp(experiment["start"].removesuffix(" UTC"))
    end = pd.Timestamp(experiment["end"].removesuffix(" UTC"))
    assert (assigned_at > start - pd.Timedelta(hours=1)).all() and (assigned_at < end).all()
    # The lift lives only in the truth folder, never in the data.
    for name in tables:
        assert "relative_lift" not in (data_dir / f"{name}.csv").read_text()[:10_000]


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    runs = {}
    for label, seed in (("a", 11), ("b", 11), ("c", 12)):
        out = tmp_path / label
        generate_dataset(
            400, seed=seed, out_dir=out, end_date=END_DATE, progress=False, campaign=CampaignPlan()
        )
        runs[label] = out
    for table in ALL_TABLES:
        assert (runs["a"] / table.csv_name).read_bytes() == (
            runs["b"] / table.csv_name
        ).read_bytes()
    for name in ("experiment.json", "model.json"):
        assert (runs["a"] / "_truth" / name).read_text() == (
            runs["b"] / "_truth" / name
        ).read_text()
    pd.testing.assert_frame_equal(load_truth(runs["a"]).users, load_truth(runs["b"]).users)
    assert (runs["a"] / "events.csv").read_bytes() != (runs["c"] / "events.csv").read_bytes()
    assert (runs["a"] / "users.csv").read_bytes() != (runs["c"] / "users.csv").read_bytes()


def test_rejects_an_end_date_before_the_span(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too early"):
        generate_dataset(
            10, seed=1, out_dir=tmp_path / "out", end_date=dt.date(2019, 2, 1), progress=False
        )
    assert not (tmp_path / "out").exists()


def test_default_end_date_is_today(tmp_path: Path) -> None:
    started = time.perf_counter()
    summary = generate_dataset(50, seed=3, out_dir=tmp_path, progress=False)
    elapsed = time.perf_counter() - started
    assert summary.end_date == dt.datetime.now(dt.UTC).date()
    created = _ts(_read(tmp_path, "events")["created_at"])
    assert created.max() < pd.Timestamp(summary.end_date)
    assert 0 < summary.seconds <= elapsed  # timed inside the call, so never longer than it


def test_account_ages_do_not_depend_on_where_the_data_ends() -> None:
    """The sign-up -> first-session gap has one distribution at every date: drawn against the
    data's end (TheLook's (T - s)^-k), users first seen in the last weeks got accounts days old
    and those seen a year earlier accounts years old, an end effect the drift check saw as
    tenure moving at every recent cutoff. Users first seen 900 days before the end and 10 days
    before it, with the same orders, get gaps of the same distribution below the earlier one's
    limit (an account cannot predate the data: only the data's start cuts the gap), and never
    an account after the first session."""
    from scipy.stats import ks_2samp

    from ecom.synth.users import account_creation_days

    rng = np.random.default_rng(7)
    n = 20_000
    for orders in range(4):
        count = np.full(n, orders)
        early_gap = 2_000.0 - account_creation_days(rng, np.full(n, 2_000.0), count)
        late_gap = 2_890.0 - account_creation_days(rng, np.full(n, 2_890.0), count)
        assert (early_gap >= 0).all() and (late_gap >= 0).all()
        common = ks_2samp(early_gap[early_gap < 1_500], late_gap[late_gap < 1_500])
        assert common.pvalue > 0.001, (orders, common)
    assert np.median(late_gap) > 100  # not days-old accounts near the end
