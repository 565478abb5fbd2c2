"""Batch scoring against real PostgreSQL and an MLflow champion."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from ecom.churn import scoring
from ecom.db import fetch_all, transaction
from ecom.services import Endpoints
from tests.integration.churn_marts import load_churn_marts, train_xgboost_on_marts

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def endpoints(database_url: str, redis_url: str) -> Endpoints:
    return Endpoints(database_url, redis_url, embedded=False)


@pytest.fixture(scope="module")
def settings(ecom_settings, endpoints):
    load_churn_marts(ecom_settings, endpoints, n_users=300, n_cutoffs=22, seed=5)
    # Whichever model is champion afterwards (this one or an earlier, better one) scores.
    train_xgboost_on_marts(ecom_settings, endpoints)
    return ecom_settings.with_overrides(retention_target_count=25)


def _scores(database_url: str, day: date) -> pd.DataFrame:
    rows = fetch_all(
        database_url,
        "select user_id, churn_probability, risk_band, model_version, scored_at "
        "from analytics.churn_scores where scoring_date = %s",
        (day,),
    )
    return pd.DataFrame(rows, columns=["user_id", "p", "band", "version", "scored_at"])


def test_scoring_twice_on_a_date_leaves_one_set(settings, endpoints):
    day = date(2024, 7, 1)
    users = fetch_all(endpoints.database_url, "select count(*) from analytics.mart_churn_scoring")[
        0
    ][0]
    first = scoring.score_users(settings, endpoints, scoring_date=day)
    second = scoring.score_users(settings, endpoints, scoring_date=day)
    assert first.users_scored == second.users_scored == users

    scores = _scores(endpoints.database_url, day)
    assert len(scores) == users
    assert scores["user_id"].is_unique
    assert scores["p"].between(0, 1).all()
    assert scores["scored_at"].nunique() == 1  # only the second run's rows remain
    assert sum(second.risk_bands.values()) == users
    assert second.summary_line().startswith(f"scored {users:,} users on {day}")

    targets = fetch_all(
        endpoints.database_url,
        "select target_rank, user_id, churn_probability, expected_value "
        "from analytics.retention_targets where scoring_date = %s order by target_rank",
        (day,),
    )
    assert 0 < len(targets) <= 25
    assert [t[0] for t in targets] == list(range(1, len(targets) + 1))
    values = [t[3] for t in targets]
    assert values == sorted(values, reverse=True)
    for _, _, probability, value in targets:
        assert value == pytest.approx(probability * 150 * 0.30 - 10)
    # Nobody left out is worth more than the last target.
    p_by_user = scores.set_index("user_id")["p"]
    outside = p_by_user.drop(index=[t[1] for t in targets])
    if len(targets) == 25:
        assert (outside * 45 - 10).max() <= values[-1] + 1e-12


def test_a_date_other_than_the_snapshot_is_refused(settings, endpoints):
    with pytest.raises(scoring.ScoringDateMismatch, match="2024-07-01"):
        scoring.score_users(settings, endpoints, scoring_date=date(2024, 7, 2))


def test_older_scoring_dates_are_kept(settings, endpoints):
    older, newer = date(2024, 7, 1), date(2024, 7, 2)
    scoring.score_users(settings, endpoints)
    kept = _scores(endpoints.database_url, older)
    # The next day's snapshot: the same users, one day later.
    with transaction(endpoints.database_url) as cursor:
        cursor.execute(
            "update analytics.mart_churn_scoring set cutoff_date = cutoff_date + 1, "
            "feature_timestamp = feature_timestamp + interval '1 day'"
        )
    try:
        assert scoring.score_users(settings, endpoints).scoring_date == newer
        scoring.score_users(settings, endpoints, scoring_date=newer)
    finally:
        with transaction(endpoints.database_url) as cursor:
            cursor.execute(
                "update analytics.mart_churn_scoring set cutoff_date = cutoff_date - 1, "
                "feature_timestamp = feature_timestamp - interval '1 day'"
            )
    again = _scores(endpoints.database_url, older)
    pd.testing.assert_frame_equal(
        kept.sort_values("user_id").reset_index(drop=True),
        again.sort_values("user_id").reset_index(drop=True),
    )
    assert len(_scores(endpoints.database_url, newer)) == len(kept)
