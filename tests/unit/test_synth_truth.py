"""The planted truth: the oracle is exact, churn is learnable but not trivially, the A/B lift is real."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecom.synth.behaviour import BehaviourParameters, sample_latent_users
from ecom.synth.calendar import build_timeline, days_to_datetime64
from ecom.synth.calibration import learnability_check, load_observed
from ecom.synth.experiment import design_experiment, sample_latent_variants
from ecom.synth.sessions import build_registered_sessions
from ecom.synth.truth import load_truth, true_churn_probability
from tests.synth_worlds import generated_world

END_DATE = dt.date(2025, 11, 24)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_world(tmp_path_factory, "synth_truth", 8000, 2024, END_DATE)


def _expected_capped_orders(rate_mass: np.ndarray, room: np.ndarray) -> np.ndarray:
    """E[min(N, room)] for N ~ Poisson(rate_mass): the orders a user can still place in a
    horizon when the cap stops them after `room` more (sum over j < room of P(N > j))."""
    expected = np.zeros(len(rate_mass))
    term = np.exp(-rate_mass)  # P(N = j), from j = 0
    cumulative = term.copy()  # P(N <= j)
    for j in range(int(room.max(initial=0))):
        expected += np.where(j < room, 1.0 - cumulative, 0.0)
        term = term * rate_mass / (j + 1)
        cumulative = cumulative + term
    return expected


def test_oracle_matches_observed_churn(data_dir: Path) -> None:
    """Summed over users, the oracle's expected no-order share and order count match the data."""
    truth = load_truth(data_dir)
    observed = load_observed(data_dir)
    orders = observed.orders
    cap = int(truth.model["max_orders_per_user"])
    # Disjoint 30-day horizons: given the latent state and the orders placed before the cutoff,
    # a user's orders in the horizon are a Poisson draw stopped at the cap, independent across
    # users, so the totals over all of them pin the purchase rates down to a few percent.
    total_expected, total_counted = 0.0, 0
    for cutoff_day in np.arange(1500.0, truth.timeline.span_days - 30, 30.0):
        # Users signed up before the cutoff whose sign-up order (if any: its purchase may lag the
        # cart by days) came before it too: their orders in the horizon are all Poisson.
        users = truth.users
        signup_order_before = ~(users["signup_order_days"] >= cutoff_day)
        existing = users[(users["signup_days"] < cutoff_day - 1 / 24) & signup_order_before]
        cutoff = days_to_datetime64(np.array([cutoff_day]))[0]
        probability = true_churn_probability(truth, existing["user_id"], cutoff, 30)
        in_horizon = orders[(orders["days"] >= cutoff_day) & (orders["days"] < cutoff_day + 30)]
        churned = ~existing["user_id"].isin(in_horizon["user_id"]).to_numpy()
        spread = np.sqrt(np.sum(probability * (1 - probability)))
        assert abs(churned.sum() - probability.sum()) < 4 * spread + 1, cutoff
        placed = (
            orders[orders["days"] < cutoff_day]
            .groupby("user_id")
            .size()
            .reindex(existing["user_id"], fill_value=0)
            .to_numpy()
        )
        assert placed.max() <= cap
        rate_mass = -np.log(np.clip(probability, 1e-300, 1))
        expected_orders = _expected_capped_orders(rate_mass, cap - placed).sum()
        counted = in_horizon["user_id"].isin(existing["user_id"]).sum()
        assert abs(counted - expected_orders) < 4 * np.sqrt(expected_orders) + 1, cutoff
        total_expected += expected_orders
        total_counted += counted
    assert abs(total_counted - total_expected) < 4 * np.sqrt(total_expected), (
        total_counted,
        total_expected,
    )


def test_users_long_past_their_lifetime_are_churned_in_oracle_and_data(data_dir: Path) -> None:
    """At the day after a user's lifetime ends, the oracle calls them (almost) surely churned,
    and the generated orders agree: as many of those users order in the next 30 days as the
    oracle expects, within sampling error (with no purchases after a lifetime, none)."""
    truth = load_truth(data_dir)
    users = truth.users
    after_death = users["signup_days"] + users["lifetime_days"] + 1
    # Lifetimes are short (scale 25 days) against a span of years: most users qualify. A sign-up
    # order whose purchase lags the cart past that day is certain, so those users are left out.
    signup_order_before = ~(users["signup_order_days"] >= after_death)
    long_dead = users[(after_death < truth.timeline.span_days - 30) & signup_order_before]
    assert len(long_dead) > len(users) / 2, "the check must run on a large set of users"
    cutoff_days = after_death.loc[long_dead.index].to_numpy()
    probability = true_churn_probability(
        truth, long_dead["user_id"], days_to_datetime64(cutoff_days), 30
    )
    assert (probability > 0.9).all()

    orders = load_observed(data_dir).orders.merge(
        pd.DataFrame({"user_id": long_dead["user_id"].to_numpy(), "cutoff": cutoff_days}),
        on="user_id",
    )
    in_horizon = orders[
        (orders["days"] >= orders["cutoff"]) & (orders["days"] < orders["cutoff"] + 30)
    ]
    churned = ~long_dead["user_id"].isin(in_horizon["user_id"]).to_numpy()
    spread = np.sqrt(np.sum(probability * (1 - probability)))
    assert abs(churned.sum() - probability.sum()) < 4 * spread + 1


def test_oracle_edge_cases(data_dir: Path) -> None:
    truth = load_truth(data_dir)
    buyer = truth.users[truth.users["signup_order_days"].notna()].iloc[0]
    day_of_signup = days_to_datetime64(np.array([np.floor(buyer["signup_days"])]))[0]
    assert true_churn_probability(truth, [buyer["user_id"]], day_of_signup)[0] == 0.0
    with pytest.raises(KeyError, match="not in the truth"):
        true_churn_probability(truth, [10**9], day_of_signup)
    # A date string means midnight UTC of that day, the same as the datetime64 for it; users
    # alive that day have a churn probability below 1, each their own.
    day = float((dt.date(2025, 6, 1) - dt.date.fromisoformat(truth.model["data_start"])).days)
    users = truth.users
    alive = users[
        (users["signup_days"] < day)
        & (users["signup_days"] + users["lifetime_days"] > day)
        & ~(users["signup_order_days"] >= day)  # a sign-up order still to come is certain
        & ~(users["order_cap_days"] < day)  # so is no order after the capping one
    ]
    assert len(alive) > 10
    from_string = true_churn_probability(truth, alive["user_id"], "2025-06-01")
    from_datetime = true_churn_probability(
        truth, alive["user_id"], np.datetime64("2025-06-01T00:00:00")
    )
    np.testing.assert_array_equal(from_string, from_datetime)
    assert 0 < from_string.min() < from_string.max() < 1


def test_the_order_cap_ends_activity_and_the_oracle_knows(data_dir: Path) -> None:
    """No buyer places more than the cap; a user who reached it does nothing afterwards (no
    session, no order), and from then on the oracle says churned with certainty."""
    truth = load_truth(data_dir)
    cap = int(truth.model["max_orders_per_user"])
    observed = load_observed(data_dir)
    per_buyer = observed.orders.groupby("user_id").size()
    assert per_buyer.max() == cap
    capped = truth.users[truth.users["order_cap_days"].notna()]
    assert 0.02 < len(capped) / len(truth.users) < 0.10
    assert set(per_buyer[per_buyer == cap].index) == set(capped["user_id"])
    # A sign-up purchase can lag its cart by days; the rare one landing after the capping
    # order is the user's last order instead.
    capped = capped[~(capped["signup_order_days"] > capped["order_cap_days"])]
    # The capping order is the user's last order and nothing at all comes after it.
    last_order = observed.orders.groupby("user_id")["days"].max()
    last_event = observed.events.groupby("user_id")["days"].max()
    at = capped.set_index("user_id")["order_cap_days"]
    np.testing.assert_allclose(last_order.loc[at.index], at, atol=1.5 / 86_400)
    assert (last_event.loc[at.index] <= at + 1.5 / 86_400).all()
    # The oracle: certain churn at any cutoff after the capping order, not before it.
    after = days_to_datetime64(at.to_numpy() + 0.5)
    assert (true_churn_probability(truth, at.index, after) == 1.0).all()
    # Just before it, the capping order is still a Poisson point to come: uncertain.
    before = days_to_datetime64(at.to_numpy() - 1e-3)
    assert (true_churn_probability(truth, at.index, before) < 1.0).all()


def test_churn_is_learnable_but_not_trivial(data_dir: Path) -> None:
    report = learnability_check(data_dir, n_cutoffs=20, n_test_cutoffs=8)
    assert 0.6 < report.oracle_auc < 0.97
    assert report.model_auc > 0.6
    assert report.ratio >= 0.9, report
    assert 0.6 < report.churn_base_rate < 0.97


def test_treatment_lifts_cart_to_purchase_in_the_model() -> None:
    """At a large population the realised lift of the session process equals the planted one."""
    rng = np.random.default_rng(5)
    params = BehaviourParameters()
    timeline = build_timeline(END_DATE)
    design = design_experiment(timeline)
    n_users = 60_000
    signup = rng.uniform(design.start_days - 120, design.end_days - 5, n_users)
    latent = sample_latent_users(rng, n_users, params)
    treated = sample_latent_variants(rng, n_users)
    sessions = build_registered_sessions(rng, timeline, params, latent, signup, design, treated)
    repeat = (sessions.kind == 1) & design.in_window(sessions.anchor_days)
    carted = repeat & (sessions.depth >= 2)
    conversion = {
        arm: (sessions.depth[carted & (sessions.treated == arm)] == 3).mean()
        for arm in (False, True)
    }
    realised = conversion[True] / conversion[False] - 1
    assert realised == pytest.approx(design.relative_lift, abs=0.04)
    outside = (sessions.kind == 1) & ~design.in_window(sessions.anchor_days) & (sessions.depth >= 2)
    assert not sessions.treated[outside].any()


def test_observed_lift_in_the_data_points_the_right_way(data_dir: Path) -> None:
    truth = load_truth(data_dir)
    events = pd.read_csv(
        data_dir / "events.csv", usecols=["user_id", "session_id", "created_at", "event_type"]
    )
    assignments = pd.read_csv(data_dir / "experiment_assignments.csv")
    end = pd.Timestamp(truth.experiment["end"].removesuffix(" UTC"))
    events["time"] = pd.to_datetime(
        events["created_at"].str.slice(0, 26), format="%Y-%m-%d %H:%M:%S.%f"
    )
    sessions = events.groupby("session_id").agg(
        user_id=("user_id", "first"),
        start=("time", "min"),
        cart=("event_type", lambda kinds: "cart" in set(kinds)),
        purchase=("event_type", lambda kinds: "purchase" in set(kinds)),
    )
    sessions = sessions.merge(assignments, on="user_id")
    exposed = sessions[
        (sessions["start"] >= pd.to_datetime(sessions["assigned_at"].str.slice(0, 26)))
        & (sessions["start"] < end)
        & sessions["cart"]
    ]
    conversion = exposed.groupby("variant")["purchase"].mean()
    assert conversion["treatment"] > conversion["control"]
    recorded = truth.experiment["observed"]
    assert recorded["treatment_conversion"] > recorded["control_conversion"]
