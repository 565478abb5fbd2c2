"""Planted drift in the generator, and the fingerprint that ties a truth folder to its data."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from ecom.churn.oracle import TruthMismatch, check_truth_matches, oracle_ratios
from ecom.synth import generate_dataset
from ecom.synth.drift import DriftPlan
from ecom.synth.fingerprint import read_fingerprint

END_DATE = dt.date(2025, 6, 2)


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    out = {}
    for name, seed, drift in (("plain", 3, None), ("drifted", 3, DriftPlan(weeks=8)),
                              ("other_seed", 4, None)):  # fmt: skip
        folder = tmp_path_factory.mktemp(name)
        generate_dataset(1_500, seed, folder, END_DATE, progress=False, drift=drift)
        out[name] = folder
    return out


def _recent(frame: pd.DataFrame, weeks: int) -> pd.DataFrame:
    stamps = pd.to_datetime(frame["created_at"].str.replace(" UTC", ""), utc=True)
    return frame[stamps >= pd.Timestamp(END_DATE, tz="UTC") - pd.Timedelta(weeks=weeks)]


def test_drift_lowers_recent_purchases_and_shifts_sources(worlds):
    events = {n: pd.read_csv(worlds[n] / "events.csv") for n in ("plain", "drifted")}
    users = {n: pd.read_csv(worlds[n] / "users.csv") for n in ("plain", "drifted")}
    recent = {n: _recent(e, 8) for n, e in events.items()}
    purchases_per_session = {
        n: (r["event_type"] == "purchase").sum() / r["session_id"].nunique()
        for n, r in recent.items()
    }
    # Sign-up sessions (high intent) keep their purchases: measured 0.66 of the plain rate.
    assert purchases_per_session["drifted"] < 0.8 * purchases_per_session["plain"]
    youtube = {n: (r["traffic_source"] == "YouTube").mean() for n, r in recent.items()}
    # YouTube: 10% of sessions (TheLook's mix), 30% under the plan.
    assert youtube["drifted"] > 2 * youtube["plain"]
    new_users = {n: _recent(u, 8) for n, u in users.items()}
    search = {n: (u["traffic_source"] == "Search").mean() for n, u in new_users.items()}
    assert search["drifted"] < 0.5 * search["plain"]
    model = json.loads((worlds["drifted"] / "_truth" / "model.json").read_text())
    assert model["drift"]["weeks"] == 8
    assert json.loads((worlds["plain"] / "_truth" / "model.json").read_text())["drift"] is None


def test_the_fingerprint_describes_the_written_files(worlds):
    fingerprint = read_fingerprint(worlds["plain"])
    for table in ("users", "orders", "order_items", "events"):
        rows = sum(1 for _ in (worlds["plain"] / f"{table}.csv").open()) - 1
        assert fingerprint[f"{table}_rows"] == rows, table
    events = pd.read_csv(worlds["plain"] / "events.csv", usecols=["created_at"])
    last = pd.to_datetime(events["created_at"].str.replace(" UTC", ""), utc=True).max()
    assert fingerprint["events_last_epoch_second"] == int(last.timestamp())


def test_a_truth_folder_of_another_seed_is_refused(worlds):
    loaded = read_fingerprint(worlds["plain"])
    check_truth_matches(worlds["plain"], loaded)  # its own data: accepted
    with pytest.raises(TruthMismatch, match="events_rows truth") as error:
        check_truth_matches(worlds["other_seed"], loaded)
    assert str(worlds["other_seed"]) in str(error.value)


def test_oracle_ratios_state_the_lift_share():
    ratios = oracle_ratios(0.80, 0.90)
    assert ratios["model_to_oracle_auc_ratio"] == pytest.approx(0.80 / 0.90)
    assert ratios["model_to_oracle_lift_ratio"] == pytest.approx(0.30 / 0.40)


def test_a_bad_plan_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        DriftPlan(weeks=0)
    with pytest.raises(ValueError, match="sum to 1"):
        DriftPlan(weeks=2, user_source_shares=(0.5, 0.5, 0.5, 0.0, 0.0))
