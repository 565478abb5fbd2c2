"""Training end to end: Feast training set, MLflow tracking and the champion alias.

Each test that decides a champion uses an MLflow store of its own, so which version holds the
alias never depends on what other modules (or earlier tests) registered first.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ecom.churn import models as churn_models
from ecom.churn import training
from ecom.churn.registry import MODEL_NAME, champion_version, publish_version
from ecom.cli.churn import training_table
from ecom.config import Settings
from ecom.features import store as features
from ecom.services import Endpoints
from tests.integration.champion import labels_shuffled_before_test
from tests.integration.churn_marts import load_churn_marts

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def endpoints(database_url: str, redis_url: str) -> Endpoints:
    return Endpoints(database_url, redis_url, embedded=False)


def _own_registry(settings: Settings, folder: Path) -> Settings:
    return settings.with_overrides(mlflow_tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")


@pytest.fixture(scope="module")
def marts(ecom_settings, endpoints):
    return load_churn_marts(ecom_settings, endpoints, n_users=400, n_cutoffs=26, seed=11)


@pytest.fixture(scope="module")
def settings(ecom_settings, tmp_path_factory):
    return _own_registry(ecom_settings, tmp_path_factory.mktemp("training_mlflow"))


@pytest.fixture(scope="module")
def trained(settings, endpoints, marts):
    return training.train_churn_models(settings, endpoints)


def _client(settings) -> MlflowClient:
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def test_training_finds_the_signal_and_logs_everything(settings, trained):
    result = trained
    assert (result.model_version, result.promoted) == ("1", True)
    assert result.decision.reason == "no champion yet"
    assert training_table(result).caption.count("no champion yet") == 1
    assert set(result.candidates) == {churn_models.BASELINE, *churn_models.XGBOOST_VARIANTS}
    assert result.selected in churn_models.XGBOOST_VARIANTS
    # The selected variant is the best XGBoost on validation, not on test.
    best = max(
        churn_models.XGBOOST_VARIANTS, key=lambda n: result.candidates[n].validation["roc_auc"]
    )
    assert result.selected == best
    # Recency and frequency drive churn in the fixture: a model that learned nothing scores 0.5.
    assert result.test_auc > 0.75
    assert result.baseline_test_auc > 0.7
    assert result.windows["train"][1] < result.windows["validation"][0] < result.windows["test"][0]

    client = _client(settings)
    run = client.get_run(result.run_id)
    assert run.data.params["feature_service"] == "churn_v1"
    assert len(run.data.params["training_frame_fingerprint"]) == 16
    assert run.data.params["test_first_cutoff"] == result.windows["test"][0]
    for metric in (
        "test_roc_auc",
        "test_pr_auc",
        "test_f1",
        "test_precision",
        "test_recall",
        "test_precision_top_decile",
        "test_lift_top_decile",
        "test_brier",
    ):
        assert metric in run.data.metrics, metric
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "diagnostics")}
    assert {
        "diagnostics/shap_summary.png",
        "diagnostics/shap_bar.png",
        "diagnostics/confusion_matrix.png",
        "diagnostics/calibration.png",
    } <= artifacts
    assert champion_version(client) == result.champion_version
    assert f"v{result.model_version} ({result.selected})" in result.summary_line()


def test_a_worse_model_never_becomes_champion(settings, endpoints, trained):
    client = _client(settings)
    champion_before = champion_version(client)
    assert champion_before == trained.model_version

    # Same cutoffs and test labels, but labels shuffled in train/validation: the candidate
    # learns noise, while the champion is re-scored on the real test cutoffs.
    frame = features.training_frame(settings, endpoints)
    noisy = labels_shuffled_before_test(frame, settings.label_horizon_days)
    feature_columns = features.feature_service_columns(settings, endpoints)
    worse = training.train_on_frame(
        settings, noisy, feature_columns, candidates=(churn_models.XGB_PLAIN,)
    )

    assert not worse.promoted
    assert int(worse.model_version) > int(champion_before)  # registered, just not crowned
    assert champion_version(client) == champion_before
    assert worse.decision.champion_score > worse.decision.candidate_score
    params = client.get_run(worse.run_id).data.params
    assert params["champion_decision"] == "kept"
    metrics = client.get_run(worse.run_id).data.metrics
    assert metrics["champion_test_roc_auc"] == pytest.approx(worse.decision.champion_score)
    assert metrics["candidate_test_roc_auc"] == pytest.approx(worse.decision.candidate_score)
    assert client.get_model_version(MODEL_NAME, worse.model_version).aliases == []


def test_champion_moves_when_beaten(ecom_settings, endpoints, marts, tmp_path, capfd):
    """A champion that learned noise is replaced by a model trained on the real labels, judged
    on the same test rows by the paired bootstrap; the alias moves to the new version."""
    settings = _own_registry(ecom_settings, tmp_path)
    client = _client(settings)
    frame = features.training_frame(settings, endpoints)
    feature_columns = features.feature_service_columns(settings, endpoints)
    noisy = labels_shuffled_before_test(frame, settings.label_horizon_days)
    weak = training.train_on_frame(
        settings, noisy, feature_columns, candidates=(churn_models.XGB_PLAIN,)
    )
    assert (weak.model_version, weak.promoted, champion_version(client)) == ("1", True, "1")
    # The first registration says so, never that the model "already exists".
    first_run = capfd.readouterr()
    assert "already exists" not in first_run.out + first_run.err
    assert client.get_registered_model(MODEL_NAME).description.startswith("Churn in the next")

    better = training.train_on_frame(
        settings, frame, feature_columns, candidates=(churn_models.XGB_PLAIN,)
    )

    assert better.model_version == "2"
    assert better.promoted, better.decision.reason
    assert better.decision.champion_version == "1"
    assert better.decision.candidate_score > better.decision.champion_score + 0.1
    assert better.decision.reason.startswith("promoted: the AUC gain clears the margin")
    assert champion_version(client) == better.champion_version == "2"
    assert client.get_model_version(MODEL_NAME, "2").aliases == ["champion"]
    assert client.get_model_version(MODEL_NAME, "1").aliases == []
    params = client.get_run(better.run_id).data.params
    assert (params["champion_decision"], params["previous_champion_version"]) == ("promoted", "1")
    comparison = better.decision.comparison
    assert comparison.auc_difference_low > 0
    metrics = client.get_run(better.run_id).data.metrics
    for name in (
        "gate_auc_difference_low",
        "gate_auc_difference_high",
        "gate_brier_difference_low",
        "gate_brier_difference_high",
    ):
        assert metrics[name] == pytest.approx(getattr(comparison, name.removeprefix("gate_")))
    assert "[" in better.decision.gate_line() and "Brier change" in better.decision.gate_line()
    # The drift reference and the split went with the run, for monitoring and the model card.
    artifacts = {a.path for a in client.list_artifacts(better.run_id, "reference")}
    assert artifacts == {
        "reference/training_features.parquet",
        "reference/drift_reference_features.parquet",
        "reference/test_predictions.parquet",
    }


def test_a_failed_publication_leaves_no_registered_version(settings, trained):
    client = _client(settings)
    run = client.get_run(trained.run_id)
    versions_before = {v.version for v in client.search_model_versions(f"name='{MODEL_NAME}'")}
    champion_before = champion_version(client)
    with pytest.raises(MlflowException):
        publish_version(
            client,
            f"runs:/{run.info.run_id}/model",
            {"feature_service": "churn_v1", "../not a tag": "x"},
            make_champion=True,
        )
    versions_after = {v.version for v in client.search_model_versions(f"name='{MODEL_NAME}'")}
    assert versions_after == versions_before
    assert champion_version(client) == champion_before
