"""Batch scoring against real PostgreSQL and an MLflow champion.

The module has its own MLflow store holding two versions: v1, trained on the marts and
champion, and v2, trained on shuffled labels, registered but not promoted. So the latest
version is not the champion, and a scorer that took it would store v2's scores and name.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from ecom.churn import models as churn_models
from ecom.churn import scoring, training
from ecom.churn.predict import POPULATION_BANDS, population_band, population_percentile
from ecom.churn.registry import MODEL_NAME
from ecom.db import fetch_all, transaction
from ecom.features import store as features
from ecom.services import Endpoints
from ecom.targeting.targets import FALLBACK_BASIS, build_retention_targets
from tests.integration.champion import assert_scores_are_the_champions, labels_shuffled_before_test
from tests.integration.churn_marts import load_churn_marts

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def endpoints(database_url: str, redis_url: str) -> Endpoints:
    return Endpoints(database_url, redis_url, embedded=False)


@pytest.fixture(scope="module")
def settings(ecom_settings, endpoints, tmp_path_factory):
    registry = tmp_path_factory.mktemp("scoring_mlflow") / "mlflow.db"
    settings = ecom_settings.with_overrides(
        mlflow_tracking_uri=f"sqlite:///{registry}", retention_target_count=25
    )
    load_churn_marts(settings, endpoints, n_users=300, n_cutoffs=22, seed=5)
    frame = features.training_frame(settings, endpoints)
    columns = features.feature_service_columns(settings, endpoints)
    champion = training.train_on_frame(
        settings, frame, columns, candidates=(churn_models.XGB_PLAIN,)
    )
    assert (champion.model_version, champion.promoted) == ("1", True)
    noisy = training.train_on_frame(
        settings,
        labels_shuffled_before_test(frame, settings.label_horizon_days),
        columns,
        candidates=(churn_models.XGB_PLAIN,),
    )
    assert (noisy.model_version, noisy.promoted) == ("2", False), noisy.decision.reason
    return settings


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
    champion = assert_scores_are_the_champions(settings, day)
    assert (champion.version, champion.latest_version) == ("1", "2")
    assert second.model_version == "1"
    assert sum(second.risk_bands.values()) == users
    assert second.summary_line().startswith(f"scored {users:,} users on {day}")


def test_without_campaign_data_the_list_is_the_labelled_risk_fallback(settings, endpoints):
    """The one retention list, built on the stored scores: no campaign was loaded here, so it
    is the churn-risk list, and every row, the summary and the reason say so."""
    day = date(2024, 7, 1)
    scoring.score_users(settings, endpoints, scoring_date=day)
    scores = _scores(endpoints.database_url, day)
    summary = build_retention_targets(settings, endpoints)
    assert summary.list_basis == FALLBACK_BASIS
    assert "FALLBACK" in summary.summary_line() and "no campaign data" in summary.summary_line()
    rows = fetch_all(
        endpoints.database_url,
        "select target_rank, user_id, churn_probability, expected_incremental_value, "
        "list_basis, reason, churn_model_version, scored_at "
        "from analytics.retention_targets where scoring_date = %s order by target_rank",
        (day,),
    )
    assert {row[4] for row in rows} == {FALLBACK_BASIS}
    assert all(row[5].startswith("FALLBACK") for row in rows)
    assert {row[6] for row in rows} == {"1"}  # the champion's scores, not v2's
    assert {row[7] for row in rows} == set(scores["scored_at"])  # the stored scores it cites
    targets = [row[:4] for row in rows]
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


def test_every_score_carries_its_percentile_and_population_band(settings, endpoints):
    day = date(2024, 7, 1)
    summary = scoring.score_users(settings, endpoints, scoring_date=day)
    rows = fetch_all(
        endpoints.database_url,
        "select user_id, churn_probability, risk_percentile, population_band "
        "from analytics.churn_scores where scoring_date = %s",
        (day,),
    )
    scores = pd.DataFrame(rows, columns=["user_id", "p", "percentile", "band"])
    assert scores["percentile"].notna().all() and scores["band"].notna().all()
    # The percentile is the stored probability's place among the stored probabilities: what
    # the service computes from `read_score_population`.
    population = scoring.read_score_population(endpoints.database_url, day, "1")
    assert len(population) == len(scores) and (np.diff(population) >= 0).all()
    expected = population_percentile(scores["p"].to_numpy(), population)
    np.testing.assert_allclose(scores["percentile"], expected, rtol=0, atol=1e-12)
    assert list(scores["band"]) == list(population_band(expected))
    assert scoring.read_score_population(endpoints.database_url, day, "2").size == 0
    # Riskier users never sit in a lower percentile.
    ordered = scores.sort_values("p")
    assert ordered["percentile"].is_monotonic_increasing
    # The bands follow the population, not absolute probabilities: they separate users even
    # where the absolute bands do not, and the top band stays small (a tied block takes the
    # band of its middle, so at most twice its nominal 5%).
    users = len(scores)
    assert sum(1 for count in summary.population_bands.values() if count) >= 3
    assert 0 < summary.population_bands["top 5%"] <= 0.10 * users + 1
    assert list(summary.population_bands) == [name for name, _ in reversed(POPULATION_BANDS)]
    assert sum(summary.population_bands.values()) == users
    # Lift at the top decile is the champion's realised one on its test split.
    client = MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
    run = client.get_run(client.get_model_version(MODEL_NAME, "1").run_id)
    assert summary.test_lift_top_decile == run.data.metrics["test_lift_top_decile"]
    assert summary.test_base_rate == run.data.metrics["test_base_rate"]
    assert f"top-decile lift {summary.test_lift_top_decile:.2f}" in summary.summary_line()


def test_tied_targets_are_ordered_by_recency_then_user_id(settings, endpoints):
    day = date(2024, 7, 1)
    everyone = settings.with_overrides(retention_target_count=10_000)
    scoring.score_users(everyone, endpoints, scoring_date=day)
    build_retention_targets(everyone, endpoints)
    rows = fetch_all(
        endpoints.database_url,
        "select target_rank, user_id, expected_incremental_value, recency_days, risk_percentile "
        "from analytics.retention_targets where scoring_date = %s order by target_rank",
        (day,),
    )
    targets = pd.DataFrame(rows, columns=["rank", "user_id", "value", "recency", "percentile"])
    features = fetch_all(
        endpoints.database_url, "select user_id, recency_days from analytics.mart_churn_scoring"
    )
    recency = dict(features)
    assert targets["recency"].tolist() == pytest.approx([recency[u] for u in targets["user_id"]])
    expected = targets.sort_values(
        ["value", "recency", "user_id"], ascending=[False, True, True], na_position="last"
    )
    assert targets["user_id"].tolist() == expected["user_id"].tolist()
    assert targets["percentile"].notna().all()
    # This small model ties no one; tests/unit/test_scoring_logic.py breaks ties on purpose.
