"""The whole Prefect pipeline on a small generated dataset, against real servers.

This is `make demo` at test scale: generate -> load -> dbt -> GX -> Feast -> train -> score,
run through Prefect (ephemeral server), then checked table by table.
"""

from __future__ import annotations

import csv
import shutil

import pytest

from ecom.db import fetch_all
from ecom.quality.report import QualityGateFailed
from ecom.services import Endpoints
from tests.integration.champion import assert_scores_are_the_champions, labels_shuffled_before_test

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

E2E_USERS = 3000

# How much of the planted signal the model must find. The README reports test ROC-AUC 0.910
# against the oracle's 0.963 (ratio 0.94) at 100k users. At this scale (3,000 users) the
# pipeline's stages (generate, load, dbt, Feast, train), measured on seeds 11-13 with the
# TheLook-shaped generator (at most 4 orders per buyer; 2026-12-01), gave AUC/oracle
# 0.867-0.927 and (AUC - 0.5)/(oracle - 0.5) 0.727-0.849 (seed 11, the one used here: 0.920 and
# 0.836, from the class-weighted variant; SMOTE won on 12 and 13). The same training with
# labels shuffled before the test cutoffs (SMOTE) gave ratios 0.47-0.62 and -0.09-0.21. The
# bounds stay where they were: 0.07 and 0.13 under the worst seed, room for the day-to-day
# change of the data (it ends today), and 0.18 and 0.39 over the shuffled model's best.
MIN_ORACLE_RATIO = 0.80
MIN_EXCESS_OVER_CHANCE_RATIO = 0.60


def excess_over_chance_ratio(model_auc: float, oracle_auc: float) -> float:
    """The share of the oracle's lift over chance that the model reaches (0 = coin toss)."""
    return (model_auc - 0.5) / (oracle_auc - 0.5)


@pytest.fixture(scope="module")
def prefect_server():
    """A throwaway Prefect server for this module, stopped before pytest closes its streams."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def pipeline_run(ecom_settings, prefect_server, tmp_path_factory):
    from flows.pipeline import churn_pipeline

    data_dir = tmp_path_factory.mktemp("thelook_e2e")
    summary = churn_pipeline(data_dir=str(data_dir), users=E2E_USERS, seed=11)
    return data_dir, summary


@pytest.fixture(scope="module")
def losing_version(pipeline_run, ecom_settings, database_url, redis_url):
    """A model trained on the pipeline's training set with labels shuffled before the test
    cutoffs, registered after the pipeline's champion: it must lose, and it makes the latest
    registered version differ from the champion's."""
    from ecom.churn import models as churn_models
    from ecom.churn import training
    from ecom.churn.oracle import loaded_data_fingerprint
    from ecom.features import store as features

    data_dir, _ = pipeline_run
    endpoints = Endpoints(database_url, redis_url, embedded=False)
    frame = features.training_frame(ecom_settings, endpoints)
    return training.train_on_frame(
        ecom_settings,
        labels_shuffled_before_test(frame, ecom_settings.label_horizon_days),
        features.feature_service_columns(ecom_settings, endpoints),
        truth_dir=data_dir,
        loaded_fingerprint=loaded_data_fingerprint(database_url),
        candidates=(churn_models.XGB_SMOTE,),  # the variant that learns at this scale
    )


def _count(database_url: str, table: str) -> int:
    return fetch_all(database_url, f"select count(*) from {table}")[0][0]


def test_pipeline_generates_when_the_folder_is_empty_and_loads_every_table(
    pipeline_run, database_url
):
    data_dir, summary = pipeline_run
    assert (data_dir / "users.csv").exists() and (data_dir / "_truth").is_dir()
    assert _count(database_url, "raw.users") == E2E_USERS
    for table in ("orders", "order_items", "events", "products", "experiment_assignments"):
        assert _count(database_url, f"raw.{table}") > 0, table
    assert [stage for stage, _ in summary.lines] == [
        "load",
        "transform",
        "quality",
        "features",
        "train",
        "uplift",
        "score",
        "targets",
        "drift",
        "monitor",
        "experiment",
    ]
    # No campaign is planted here: the retention list is the labelled churn-risk fallback.
    assert dict(summary.lines)["uplift"].startswith("skipped: no campaign data"), summary.lines
    # The generated data carries an experiment: the pipeline analysed it and says its verdict.
    experiment = summary.details["experiment"]
    assert experiment.analysis is not None, experiment.message
    assert experiment.json_path.is_file()


def test_pipeline_summary_prints_every_stage_result(pipeline_run):
    """What `ecom pipeline` (and so `make demo`) prints after the run: each stage's own result,
    the model comparison and the table title, rendered as the command renders them."""
    from rich.console import Console

    from ecom.stages import render_pipeline_summary

    _, summary = pipeline_run
    console = Console(record=True, width=1000)
    render_pipeline_summary(summary, console)
    printed = console.export_text()
    assert "pipeline summary" in printed
    for stage, result in summary.lines:
        assert f"{stage} " in printed and result in printed, (stage, result)


def test_pipeline_builds_the_marts(pipeline_run, database_url):
    for mart in (
        "mart_funnel",
        "mart_retention",
        "mart_rfm",
        "mart_churn_features",
        "mart_churn_labels",
    ):
        assert _count(database_url, f"analytics.{mart}") > 0, mart


def test_champion_scores_every_active_user_once(pipeline_run, database_url):
    active = _count(database_url, "analytics.mart_churn_scoring")
    rows = fetch_all(
        database_url,
        "select count(*), count(distinct user_id), min(churn_probability), max(churn_probability),"
        " count(distinct scoring_date) from analytics.churn_scores",
    )[0]
    assert rows[0] == active == rows[1]
    assert 0.0 <= rows[2] <= rows[3] <= 1.0
    assert rows[4] == 1
    targets = _count(database_url, "analytics.retention_targets")
    assert 0 < targets <= 500


def test_monitoring_ran_after_scoring(pipeline_run, database_url):
    from ecom.config import get_settings

    _, summary = pipeline_run
    settings = get_settings()
    assert (settings.reports_dir / "drift_summary.json").is_file()
    card = settings.model_card_path.read_text()
    assert f"v{summary.details['train'].champion_version}" in card
    out_of_sample = _count(
        database_url, "analytics.model_performance where sample = 'out_of_sample'"
    )
    assert out_of_sample > 0
    assert "model_performance" in dict(summary.lines)["monitor"]


def test_stored_scores_are_the_champions_predictions(pipeline_run, ecom_settings, database_url):
    _, summary = pipeline_run
    scoring_date = summary.details["score"].scoring_date
    champion = assert_scores_are_the_champions(ecom_settings, scoring_date)
    assert champion.version == summary.details["train"].champion_version


def test_the_service_answers_the_batch_scores_over_http_on_dbt_built_marts(
    pipeline_run, ecom_settings, database_url, redis_url, tmp_path
):
    """`ecom serve` on the pipeline's world (marts built by dbt from generated data, Redis
    filled by the features stage): `/predict_batch` and `/predict` equal
    `analytics.churn_scores` to 1e-6 for every scored user. The integration tests hold this on
    marts written by pandas; this is the path `make demo` users take."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    from ecom.config import connection_env

    _, summary = pipeline_run
    rows = fetch_all(
        database_url,
        "select user_id, churn_probability, risk_band from analytics.churn_scores"
        " where scoring_date = %s",
        (summary.details["score"].scoring_date,),
    )
    batch = {int(user): (probability, band) for user, probability, band in rows}
    assert len(batch) > 100
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        **connection_env(database_url, redis_url, ecom_settings),
        "ECOM_HOME": str(tmp_path / "home"),
    }
    env.pop("ECOM_API_KEY", None)
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "ecom"), "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                assert server.poll() is None, "ecom serve exited before it answered"
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(1)
            users = sorted(batch)
            served = {}
            for start in range(0, len(users), 500):
                response = client.post(
                    "/predict_batch", json={"user_ids": users[start : start + 500]}
                )
                assert response.status_code == 200, response.text
                assert response.json()["unknown_user_ids"] == []
                served |= {answer["user_id"]: answer for answer in response.json()["predictions"]}
            assert set(served) == set(batch)
            for user, (probability, band) in batch.items():
                assert abs(served[user]["churn_probability"] - probability) <= 1e-6, user
                assert served[user]["risk_band"] == band, user
            for user in users[:: max(1, len(users) // 5)]:
                single = client.post("/predict", json={"user_id": user}).json()
                assert abs(single["churn_probability"] - batch[user][0]) <= 1e-6, user
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def test_rescoring_after_a_losing_version_still_uses_the_champion(
    pipeline_run, losing_version, ecom_settings
):
    from flows.score import score_flow

    _, summary = pipeline_run
    assert not losing_version.promoted, losing_version.decision.reason
    rescored = score_flow().scores
    champion = assert_scores_are_the_champions(ecom_settings, rescored.scoring_date)
    assert champion.latest_version == losing_version.model_version != champion.version
    assert rescored.model_version == champion.version == summary.details["train"].champion_version


def test_training_found_the_planted_signal(pipeline_run, losing_version):
    _, summary = pipeline_run
    training = summary.details["train"]
    assert training.oracle_auc is not None
    ratio = training.test_auc / training.oracle_auc
    excess = excess_over_chance_ratio(training.test_auc, training.oracle_auc)
    assert ratio >= MIN_ORACLE_RATIO, training.summary_line()
    assert excess >= MIN_EXCESS_OVER_CHANCE_RATIO, training.summary_line()
    # The bounds have power: a model that learned noise, on the same test cutoffs, fails both.
    assert losing_version.oracle_auc == pytest.approx(training.oracle_auc)
    assert losing_version.test_auc / losing_version.oracle_auc < MIN_ORACLE_RATIO
    noise_excess = excess_over_chance_ratio(losing_version.test_auc, losing_version.oracle_auc)
    assert noise_excess < MIN_EXCESS_OVER_CHANCE_RATIO


def test_report_draws_every_dashboard_and_the_champions_shap(
    pipeline_run, ecom_settings, database_url, redis_url, tmp_path
):
    """`ecom report` on the pipeline's warehouse: every card has rows and draws in Chromium."""
    from ecom.reports.browser import check_page
    from ecom.reports.dashboards import load_dashboards
    from ecom.reports.page import write_report
    from ecom.services import Endpoints

    summary = write_report(
        ecom_settings, Endpoints(database_url, redis_url, embedded=False), tmp_path / "reports"
    )
    # Only the experiment analysis (its own issue adds it) and the uplift champion's charts may
    # be missing: this pipeline plants no campaign, so no uplift model trains, and those panels
    # say `ecom uplift train` fills them (tests/integration/test_uplift.py draws them).
    uplift_charts = (
        "Qini curve of the uplift champion",
        "Incremental conversions by budget and policy",
    )
    assert all(item.startswith(("experiment lift", *uplift_charts)) for item in summary.missing), (
        summary.missing
    )
    assert sum("run `ecom uplift train`" in item for item in summary.missing) == 2
    cards = {
        f"chart-{card.key}"
        for board in load_dashboards()
        for card in board.cards
        if card.key not in ("uplift_qini_curve", "uplift_policy_value")
    }
    assert cards | {"chart-shap_importance"} <= set(summary.charts)
    assert "shap_summary.png" in {image.name for image in summary.images}
    check = check_page(summary.page, tmp_path / "report.png")
    assert check.problems == []
    assert all(check.charts[chart] for chart in cards)
    assert check.images == {"shap-summary": True}


def test_a_failed_quality_gate_stops_the_pipeline_and_no_model_of_that_load_is_crowned(
    pipeline_run, ecom_settings, database_url, redis_url, tmp_path
):
    """Runs last: it reloads `raw` from a copy of the data in which one user without orders
    signed up in 2099, a clock bug that dbt's tests let through and the GX gate does not.
    Training run by hand on that load afterwards (as `ecom train` would) registers its model
    but leaves the champion where it was."""
    import mlflow

    from ecom.churn.registry import CHAMPION_ALIAS, MODEL_NAME
    from ecom.churn.training import train_churn_models
    from ecom.ingest.load import load_raw_tables
    from ecom.quality.verdicts import latest_verdict
    from flows.pipeline import churn_pipeline

    data_dir, _ = pipeline_run
    bad_dir = tmp_path / "thelook_bad"
    shutil.copytree(data_dir, bad_dir)
    with (bad_dir / "orders.csv").open(newline="") as handle:
        buyers = {row["user_id"] for row in csv.DictReader(handle)}
    users_path = bad_dir / "users.csv"
    with users_path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    created_at = rows[0].index("created_at")
    bad_user = next(row for row in rows[1:] if row[0] not in buyers)
    bad_user[created_at] = "2099-01-01 00:00:00.000000 UTC"
    with users_path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)

    client = mlflow.MlflowClient(tracking_uri=ecom_settings.tracking_uri)
    versions_before = len(client.search_model_versions("name='churn_prediction_advanced'"))
    scores_before = _count(database_url, "analytics.churn_scores")

    with pytest.raises(QualityGateFailed, match=r"raw\.users") as failure:
        churn_pipeline(data_dir=str(bad_dir), users=E2E_USERS, seed=11)
    assert "created_at" in str(failure.value)
    assert _count(database_url, "raw.users where created_at > now()") == 1  # it was loaded
    assert len(client.search_model_versions("name='churn_prediction_advanced'")) == versions_before
    assert _count(database_url, "analytics.churn_scores") == scores_before

    try:
        verdict = latest_verdict(database_url)
        assert verdict is not None and not verdict.passed, verdict
        assert "raw.users" in verdict.summary
        champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS).version
        result = train_churn_models(
            ecom_settings, Endpoints(database_url, redis_url, embedded=False)
        )
        assert not result.promoted
        assert "quality gate failed on this load" in result.decision.reason
        assert client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS).version == champion
        assert int(result.model_version) != int(champion)  # registered, for inspection, not crowned
    finally:
        # Put the good load back (new tables, so no verdict yet): later modules share this
        # database and must not train on the refused load.
        load_raw_tables(database_url, data_dir, progress=False)
