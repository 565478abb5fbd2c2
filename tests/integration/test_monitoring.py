"""Monitoring against a real champion: drift report, model_performance and the model card,
each read back from the champion's MLflow run and the database."""

from __future__ import annotations

import json
from datetime import date

import pytest
from mlflow.tracking import MlflowClient

from ecom.churn import models as churn_models
from ecom.churn import scoring, tracking, training
from ecom.churn.registry import MODEL_NAME, champion_version, promote
from ecom.features import store as features
from ecom.monitoring import drift, model_card, performance
from ecom.services import Endpoints
from tests.integration.churn_marts import load_churn_marts

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def endpoints(database_url: str, redis_url: str) -> Endpoints:
    return Endpoints(database_url, redis_url, embedded=False)


@pytest.fixture(scope="module")
def settings(ecom_settings, endpoints):
    load_churn_marts(ecom_settings, endpoints, n_users=300, n_cutoffs=22, seed=8)
    frame = features.training_frame(ecom_settings, endpoints)
    result = training.train_on_frame(
        ecom_settings, frame, features.feature_service_columns(ecom_settings, endpoints),
        candidates=(churn_models.XGB_PLAIN,),
    )  # fmt: skip
    # Other modules train on other marts in the same registry: monitor this module's model.
    client = MlflowClient(ecom_settings.tracking_uri, registry_uri=ecom_settings.tracking_uri)
    promote(client, result.model_version)
    settings = ecom_settings.with_overrides(retention_target_count=50)
    scoring.score_users(settings, endpoints, scoring_date=date(2024, 7, 1))
    return settings


def _champion_run(settings):
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    version = champion_version(client)
    return version, client.get_run(client.get_model_version(MODEL_NAME, version).run_id)


def test_drift_report_reads_the_champions_latest_cutoffs(settings, endpoints, tmp_path):
    summary = drift.run_drift_check(settings, endpoints, out_dir=tmp_path)
    version, run = _champion_run(settings)
    assert summary.model_version == version
    # The reference is the run's test rows: its latest cutoffs, the closest to the snapshot.
    assert summary.reference_rows == min(int(run.data.params["test_rows"]), 20_000)
    assert summary.reference_window == (
        run.data.params["test_first_cutoff"],
        run.data.params["test_last_cutoff"],
    )
    written = json.loads((tmp_path / drift.SUMMARY_JSON).read_text())
    assert (tmp_path / drift.REPORT_HTML).stat().st_size > 100_000
    assert written["drift_share"] == pytest.approx(summary.drift_share)
    assert {f["column"] for f in written["features"]} >= {"recency_days", "traffic_source"}
    assert all(f["method"] in {"wasserstein", "jensenshannon"} for f in written["features"])
    # Each verdict is the distance confirmed by a two-sample test, and says so.
    for column in written["features"]:
        assert 0.0 <= column["p_value"] <= 1.0
        confirmed = column["score"] >= column["threshold"] and column["p_value"] < 0.01
        assert column["drifted"] == confirmed, column
    assert "sampling noise" in (tmp_path / drift.REPORT_HTML).read_text()
    assert written["prediction"]["column"] == "churn_probability"
    # The threshold is calibrated on the marts' history, and the summary says how.
    calibration = written["calibration"]
    assert calibration["method"] == "history"
    assert calibration["threshold"] == summary.share_threshold >= settings.drift_share_floor
    assert calibration["floor"] == settings.drift_share_floor
    assert set(calibration["new_users_set_aside"]) == {"reference", "current"}
    assert written["alarm"] == (summary.drift_share > calibration["threshold"])
    page = (tmp_path / drift.REPORT_HTML).read_text()
    assert summary.calibration.describe() in page
    # Columns Evidently's verdicts below count (over 0.1) but their own bar does not are named.
    within = page.split("within what their history moved at this lag", 1)[1].split("</p>")[0]
    for column in summary.features:
        named = f"{column.column} {column.score:.3f} (bar {column.threshold:.3f})" in within
        assert named == (0.1 <= column.score < column.threshold), column
    assert summary.calibration.describe() in summary.summary_line()

    strict = settings.with_overrides(drift_share_threshold=-1.0)
    overridden = drift.run_drift_check(strict, endpoints, out_dir=tmp_path)
    assert overridden.alarm
    assert overridden.calibration.method == "override"
    assert drift.run_drift_check(settings, endpoints, out_dir=tmp_path, threshold=-1.0).alarm


def test_ecom_drift_exits_1_on_an_alarm_and_0_without(settings, endpoints, tmp_path):
    """The exit code is what a cron job or CI step alarms on."""
    from typer.testing import CliRunner

    from ecom.cli.main import app

    runner = CliRunner()
    alarm = runner.invoke(app, ["drift", "--threshold=-1", "--out", str(tmp_path)])
    assert alarm.exit_code == 1, alarm.output
    assert "drift ALARM" in alarm.output
    calm = runner.invoke(app, ["drift", "--threshold=1", "--out", str(tmp_path)])
    assert calm.exit_code == 0, calm.output
    assert "drift ok" in calm.output


@pytest.fixture(scope="module")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_monitor_flow_fails_on_an_alarm_and_not_without(settings, endpoints, prefect_server):
    """The daily deployment's failure is the alert: the flow must raise on an alarm."""
    from flows.monitor import monitor_flow

    with pytest.raises(drift.DriftDetected, match="drift ALARM"):
        monitor_flow(fail_on_drift=True, drift_threshold=-1.0)
    summary, _ = monitor_flow(fail_on_drift=True, drift_threshold=1.0)
    assert not summary.alarm
    assert summary.calibration.method == "override"
    reported, _ = monitor_flow(fail_on_drift=False, drift_threshold=-1.0)
    assert reported.alarm  # reported, not raised


def test_a_champion_without_a_drift_reference_is_judged_against_its_training_rows(
    settings, endpoints, tmp_path
):
    """Runs logged before the drift reference existed still get a drift check."""
    import shutil
    from urllib.parse import urlparse

    _, run = _champion_run(settings)
    artifacts = urlparse(run.info.artifact_uri).path
    recorded = f"{artifacts}/{tracking.REFERENCE_ARTIFACT_DIR}/{tracking.DRIFT_REFERENCE_FILE}"
    cached = settings.resolved_home / "monitoring" / run.info.run_id
    shutil.move(recorded, tmp_path / "kept.parquet")
    shutil.rmtree(cached, ignore_errors=True)
    try:
        summary = drift.run_drift_check(settings, endpoints, out_dir=tmp_path)
        assert summary.reference_rows == min(int(run.data.params["train_rows"]), 20_000)
    finally:
        shutil.move(tmp_path / "kept.parquet", recorded)
        shutil.rmtree(cached, ignore_errors=True)


def test_model_performance_covers_every_matured_cutoff_idempotently(settings, endpoints):
    first = performance.update_model_performance(settings, endpoints)
    second = performance.update_model_performance(settings, endpoints)
    version, run = _champion_run(settings)
    rows = second.rows
    mine = rows[
        (rows["model_version"].astype(str) == version) & (rows["source"] == "history_cutoff")
    ]
    labelled = features.training_frame(settings, endpoints)["event_timestamp"].dt.date.nunique()
    assert len(mine) == labelled
    assert len(first.rows) == len(second.rows)
    assert not mine.duplicated(["cutoff_date", "model_version", "source"]).any()
    last_validation = date.fromisoformat(run.data.params["validation_last_cutoff"])
    first_test = date.fromisoformat(run.data.params["test_first_cutoff"])
    cutoffs = mine["cutoff_date"].map(lambda d: date.fromisoformat(str(d)))
    assert set(mine.loc[cutoffs <= last_validation, "sample"]) == {"in_sample"}
    assert set(mine.loc[cutoffs >= first_test, "sample"]) == {"out_of_sample"}
    assert mine["roc_auc"].between(0.5, 1.0).all()
    assert (mine["k"] <= 50).all()
    # On the test cutoffs, the realised AUC is the AUC of the run's own stored test
    # predictions at that cutoff (same model, same users, same labels), to the last digits.
    from sklearn.metrics import roc_auc_score

    from ecom.monitoring.champion import load_champion_run

    stored = load_champion_run(settings).test_predictions()
    stored_cutoffs = stored[training.EVENT_TIMESTAMP].dt.date
    expected = {
        cutoff: roc_auc_score(rows[training.LABEL_COLUMN], rows["churn_probability"])
        for cutoff, rows in stored.groupby(stored_cutoffs)
    }
    tested = cutoffs >= first_test
    realised = dict(zip(cutoffs[tested], mine.loc[tested, "roc_auc"], strict=True))
    assert set(realised) == set(expected) and expected
    for cutoff, auc in expected.items():
        assert realised[cutoff] == pytest.approx(auc, abs=1e-9), cutoff


def test_model_card_numbers_come_from_the_run(settings, endpoints, tmp_path):
    performance.update_model_performance(settings, endpoints)
    path = model_card.write_model_card(settings, endpoints, path=tmp_path / "model_card.md")
    card = path.read_text()
    version, run = _champion_run(settings)
    metrics, params = run.data.metrics, run.data.params
    assert f"# Model card: {MODEL_NAME} v{version}" in card
    for key in ("test_roc_auc", "test_roc_auc_low", "test_roc_auc_high", "test_brier"):
        assert f"{metrics[key]:.4f}" in card, key
    for key in ("train_first_cutoff", "test_last_cutoff", "training_frame_fingerprint",
                "code_version", "feature_service"):  # fmt: skip
        assert params[key] in card, key
    assert len(params["code_version"]) >= 40  # a git commit
    for section in ("Intended use", "Calibration", "SHAP top features", "Performance over time",
                    "Known limits", "Lineage"):  # fmt: skip
        assert f"## {section}" in card
    assert "recency_days" in card
    # Features are described by the feature contract: group and why each matters.
    from ecom.features import contract

    recency = next(feature for feature in contract.FEATURES if feature.name == "recency_days")
    assert f"| recency_days | numeric | rfm | {recency.description} |" in card


def test_one_registry_object_reads_the_champion_and_proves_its_fast_path(settings, tmp_path):
    import pandas as pd

    from ecom.churn.registry import MissingRunArtifact, ModelRegistry

    registry = ModelRegistry.at(settings.tracking_uri)
    assert ModelRegistry.at(settings.tracking_uri) is registry  # one client per store
    version, run = _champion_run(settings)
    assert registry.champion_version() == version
    assert registry.run(version).info.run_id == run.info.run_id
    loaded = registry.load(version)
    assert isinstance(loaded.input_example, pd.DataFrame) and len(loaded.input_example) == 5
    assert registry.artifact(version, tracking.SPLIT_ARTIFACT, tmp_path).exists()
    with pytest.raises(MissingRunArtifact, match=r"no/such\.json"):
        registry.artifact(version, "no/such.json", tmp_path)
    # Loaded for scoring, the champion was checked against its own predict_proba and
    # pred_contribs on its logged example rows (and those rows with every value missing).
    predictor = scoring.champion_predictor(settings, version)
    assert predictor.check is not None and predictor.check.passed, predictor.check
    assert predictor.check.rows == 10
    assert predictor.engine == ("compiled trees" if predictor.compiled is not None else "xgboost")
