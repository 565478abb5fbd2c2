"""Planted drift is flagged; without it, several seeds raise no false alarm, with the alarm
threshold calibrated on each world's own history as `ecom drift` calibrates it.

Each world is generated small (8,000 users: at 4,000 the snapshot's ~350 rows made the
distances noisy enough that a no-drift world, seed 7, reached the threshold), loaded and built
with dbt into its own database; the reference is the test split's feature rows (the latest
cutoffs, as the champion's run records them for drift) and the current side is the scoring
snapshot, exactly the pair `ecom drift` compares, through the same `check_snapshot`.
The drifted world has 16,000 users: its snapshot must hold enough users for the two-sample
tests to confirm a moderate shift (at 8,000, 6 of 20 features were confirmed, at 16,000 8).
Measured (established users, each feature against its own history's bar, each distance
confirmed by its two-sample test; `python benchmarks/drift_power.py`): eight planted weeks move
7 of 20 features at 16,000 users (0.35: frequency_orders, monetary_value, events_count,
cart_adds, purchase_events, view_to_cart_rate, traffic_source) against a threshold at the
floor, 0.20; without drift seeds 6 / 7 move 0 / 0. Distance alone (one 0.1 bar for every
feature) moved 7 with drift (8,000 users) and up to 6 without, so no fixed share separated them.
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecom.churn.split import apply_cutoff_split, plan_cutoff_split
from ecom.config import Settings
from ecom.db import connect
from ecom.monitoring.column_drift import over_threshold
from ecom.monitoring.drift import check_snapshot, detect_drift, fast_column_verdicts
from ecom.monitoring.drift_history import ESTABLISHED_TENURE_DAYS
from ecom.synth import generate_dataset
from ecom.synth.drift import DriftPlan
from ecom.transform import build_warehouse
from tests.integration.dbt_databases import load_directory, private_database

pytestmark = pytest.mark.integration

END_DATE = dt.date(2025, 6, 2)
USERS = 8_000
DRIFTED_USERS = 16_000
KEYS = ("user_id", "cutoff_date", "feature_timestamp")
FLOOR = Settings.model_fields["drift_share_floor"].default  # what `ecom drift` uses
# The churn marts and what they read, without dbt's data tests (other modules run those).
MODELS_ONLY = (
    "+mart_churn_labels,resource_type:model +mart_churn_scoring,resource_type:model "
    "+mart_churn_seasonal_features,resource_type:model"
)


def _frame(database_url: str, sql: str) -> pd.DataFrame:
    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            columns = [d[0] for d in cursor.description]
            return pd.DataFrame(cursor.fetchall(), columns=columns)
    finally:
        connection.close()


def sign_up_burst(scoring: pd.DataFrame, users: int, seed: int) -> pd.DataFrame:
    """The snapshot with `users` more brand-new users (TheLook's generator puts 2.5% of all
    users' sign-ups in its last week), drawn from its users who registered within a month and
    shopped since (young in every feature), their accounts made days old."""
    young = scoring[scoring["tenure_days"] < 30]
    assert len(young) >= 5, "the world has too few new users to draw a burst from"
    burst = young.sample(n=users, replace=True, random_state=seed)
    days_old = np.random.default_rng(seed).integers(0, 7, users)
    burst = burst.assign(
        user_id=scoring["user_id"].max() + 1 + np.arange(users),
        tenure_days=np.minimum(burst["tenure_days"].to_numpy(), days_old),
    )
    return pd.concat([scoring, burst], ignore_index=True)


def drift_between_training_and_scoring(
    settings: Settings, tmp: Path, seed: int, drift: DriftPlan | None, burst: int = 0
):
    data_dir = tmp / f"world_{seed}_{'drift' if drift else 'plain'}"
    users = DRIFTED_USERS if drift else USERS
    generate_dataset(users, seed, data_dir, END_DATE, progress=False, drift=drift)
    with private_database(settings, f"drift_{seed}") as (db_settings, endpoints):
        load_directory(endpoints, data_dir)
        summary = build_warehouse(db_settings, endpoints, select=MODELS_ONLY)
        assert summary.success, summary.failed_nodes
        url = endpoints.database_url
        history = _frame(
            url,
            "select f.* from analytics.mart_churn_features f join analytics.mart_churn_labels l "
            "using (user_id, cutoff_date)",
        )
        scoring = _frame(url, "select * from analytics.mart_churn_scoring")
        if burst:
            scoring = sign_up_burst(scoring, burst, seed)
        split = plan_cutoff_split(history["feature_timestamp"], embargo=timedelta(days=30))
        latest = apply_cutoff_split(history, split, "feature_timestamp")["test"]
        latest = latest.assign(event_timestamp=latest["feature_timestamp"])
        features = [c for c in scoring.columns if c not in KEYS]
        settings = db_settings.with_overrides(drift_share_threshold=None)
        return check_snapshot(settings, url, latest, scoring, features), latest, scoring


def test_planted_drift_is_flagged(ecom_settings, tmp_path):
    summary, latest, scoring = drift_between_training_and_scoring(
        ecom_settings, tmp_path, 5, DriftPlan(weeks=8)
    )
    assert summary.alarm, summary.summary_line()
    drifted = set(summary.drifted_features)
    # The planted change: sign-up channels and recent purchasing.
    assert "traffic_source" in drifted, summary.summary_line()
    assert {"frequency_orders", "purchase_events", "cart_adds"} <= drifted
    for column in summary.features:
        assert column.method and column.threshold > 0
    # The threshold came from the world's history, and the summary says how.
    calibration = summary.calibration
    assert calibration.method == "history"
    assert len(calibration.history_shares) >= 6, calibration.describe()
    assert calibration.threshold >= FLOOR
    assert max(share for _, share in calibration.history_shares) < summary.drift_share
    written = summary.as_dict()["calibration"]
    assert written["threshold"] == summary.share_threshold
    assert "historical shares" in summary.summary_line()
    # History is judged by Evidently's stat tests called directly: the report's own scores.
    features = [column.column for column in summary.features]
    fast = fast_column_verdicts(
        latest[latest["tenure_days"] >= ESTABLISHED_TENURE_DAYS],
        scoring[scoring["tenure_days"] >= ESTABLISHED_TENURE_DAYS],
        features,
    )
    thresholds = calibration.column_thresholds
    for column in summary.features:
        verdict = fast[column.column]
        assert verdict.score == pytest.approx(column.score, abs=1e-12)
        assert verdict.p_value == pytest.approx(column.p_value, rel=1e-9)
        # Each feature is judged against its own history's bar (at least the distance's 0.1).
        assert column.threshold == thresholds[column.column] >= 0.1
        assert column.drifted == over_threshold(verdict, column.threshold, column.significance)


@pytest.mark.parametrize("seed", [5, 6, 7])  # 5 is also the drifted world's seed
def test_no_false_alarm_without_planted_drift(ecom_settings, tmp_path, seed):
    summary, _, _ = drift_between_training_and_scoring(ecom_settings, tmp_path, seed, None)
    assert not summary.alarm, summary.summary_line()
    calibration = summary.calibration
    assert calibration.method == "history"
    # The same season in earlier years is in the history too: up to five analogs around the
    # snapshot's date 52 weeks earlier in each of the three previous years, at the live lag.
    assert 9 <= len(calibration.seasonal_shares) <= 15, calibration.describe()
    for cutoff, _ in calibration.seasonal_shares:
        years = round((END_DATE - dt.date.fromisoformat(cutoff)).days / 364)
        assert 1 <= years <= 3
        year_ago = END_DATE - timedelta(days=364 * years)
        assert abs((dt.date.fromisoformat(cutoff) - year_ago).days) <= 14
    assert "same-season shares in earlier years" in summary.summary_line()


def test_a_final_week_sign_up_burst_is_not_drift(ecom_settings, tmp_path):
    """2.5% of all users signing up in the last week (TheLook's own generator does this) would
    move the young features of a third of the snapshot; those users are compared apart."""
    burst = int(0.025 * USERS)
    summary, latest, scoring = drift_between_training_and_scoring(
        ecom_settings, tmp_path, 6, None, burst=burst
    )
    assert not summary.alarm, summary.summary_line()
    assert summary.calibration.new_users_set_aside["current"] >= burst
    # Without setting them apart the burst alone is an alarm: the check above can fail.
    features = [column.column for column in summary.features]
    naive = detect_drift(
        latest, scoring, features, share_threshold=summary.share_threshold, prediction_column=None
    )
    assert naive.alarm, naive.summary_line()
