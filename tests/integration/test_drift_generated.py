"""Planted drift is flagged; without it, several seeds raise no false alarm.

Each world is generated small (8,000 users: at 4,000 the snapshot's ~350 rows made the
distances noisy enough that a no-drift world, seed 7, reached the threshold), loaded and built
with dbt into its own database; the reference is the test split's feature rows (the latest cutoffs, as the champion's run
records them for drift) and the current side is the scoring snapshot, exactly the pair
`ecom drift` compares.
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from ecom.churn.split import apply_cutoff_split, plan_cutoff_split
from ecom.config import Settings
from ecom.db import connect
from ecom.monitoring.drift import detect_drift
from ecom.synth import generate_dataset
from ecom.synth.drift import DriftPlan
from ecom.transform import build_warehouse
from tests.integration.dbt_databases import load_directory, private_database

pytestmark = pytest.mark.integration

END_DATE = dt.date(2025, 6, 2)
USERS = 8_000  # measured: planted drift 10/20 features; seeds 5, 6, 7 without it 5, 0, 6
KEYS = ("user_id", "cutoff_date", "feature_timestamp")
SHARE_THRESHOLD = Settings.model_fields["drift_share_threshold"].default  # what `ecom drift` uses
# The churn marts and what they read, without dbt's data tests (other modules run those).
MODELS_ONLY = "+mart_churn_labels,resource_type:model +mart_churn_scoring,resource_type:model"


def _frame(database_url: str, sql: str) -> pd.DataFrame:
    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            columns = [d[0] for d in cursor.description]
            return pd.DataFrame(cursor.fetchall(), columns=columns)
    finally:
        connection.close()


def drift_between_training_and_scoring(
    settings: Settings, tmp: Path, seed: int, drift: DriftPlan | None
):
    data_dir = tmp / f"world_{seed}_{'drift' if drift else 'plain'}"
    generate_dataset(USERS, seed, data_dir, END_DATE, progress=False, drift=drift)
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
    split = plan_cutoff_split(history["feature_timestamp"], embargo=timedelta(days=30))
    latest = apply_cutoff_split(history, split, "feature_timestamp")["test"]
    features = [c for c in scoring.columns if c not in KEYS]
    return detect_drift(
        latest, scoring, features, share_threshold=SHARE_THRESHOLD, prediction_column=None
    )


def test_planted_drift_is_flagged(ecom_settings, tmp_path):
    summary = drift_between_training_and_scoring(ecom_settings, tmp_path, 5, DriftPlan(weeks=8))
    assert summary.alarm, summary.summary_line()
    drifted = set(summary.drifted_features)
    # The planted change: sign-up channels and recent purchasing.
    assert "traffic_source" in drifted, summary.summary_line()
    assert {"frequency_orders", "purchase_events", "cart_adds"} <= drifted
    for column in summary.features:
        assert column.method and column.threshold > 0


@pytest.mark.parametrize("seed", [5, 6, 7])  # 5 is also the drifted world's seed
def test_no_false_alarm_without_planted_drift(ecom_settings, tmp_path, seed):
    summary = drift_between_training_and_scoring(ecom_settings, tmp_path, seed, None)
    assert not summary.alarm, summary.summary_line()
