"""Training end to end: Feast training set, MLflow tracking and the champion alias."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ecom.churn import models as churn_models
from ecom.churn import training
from ecom.churn.registry import MODEL_NAME, champion_version, promote, publish_version
from ecom.churn.split import plan_cutoff_split
from ecom.features import store as features
from ecom.services import Endpoints
from tests.integration.churn_marts import load_churn_marts

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def endpoints(database_url: str, redis_url: str) -> Endpoints:
    return Endpoints(database_url, redis_url, embedded=False)


@pytest.fixture(scope="module")
def trained(ecom_settings, endpoints):
    load_churn_marts(ecom_settings, endpoints, n_users=400, n_cutoffs=26, seed=11)
    return training.train_churn_models(ecom_settings, endpoints)


def _client(settings) -> MlflowClient:
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def test_training_finds_the_signal_and_logs_everything(ecom_settings, trained):
    result = trained
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

    client = _client(ecom_settings)
    run = client.get_run(result.run_id)
    assert run.data.params["feature_service"] == "churn_v1"
    assert len(run.data.params["training_frame_fingerprint"]) == 16
    assert run.data.params["test_first_cutoff"] == result.windows["test"][0]
    for metric in ("test_roc_auc", "test_pr_auc", "test_f1", "test_precision", "test_recall",
                   "test_precision_top_decile", "test_lift_top_decile", "test_brier"):  # fmt: skip
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


def test_a_worse_model_never_becomes_champion(ecom_settings, endpoints, trained):
    client = _client(ecom_settings)
    champion_before = champion_version(client)
    assert champion_before is not None

    # Same cutoffs and test labels, but labels shuffled in train/validation: the candidate
    # learns noise, while the champion is re-scored on the real test cutoffs.
    frame = features.training_frame(ecom_settings, endpoints)
    split = plan_cutoff_split(frame["event_timestamp"], embargo=timedelta(days=30))
    before_test = frame["event_timestamp"] < min(split.test)
    noisy = frame.copy()
    rng = np.random.default_rng(0)
    noisy.loc[before_test, "churned"] = rng.permutation(
        noisy.loc[before_test, "churned"].to_numpy()
    )
    feature_columns = features.feature_service_columns(ecom_settings, endpoints)
    worse = training.train_on_frame(
        ecom_settings, noisy, feature_columns, candidates=(churn_models.XGB_PLAIN,)
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


def test_a_clearly_better_model_takes_the_alias_from_a_bad_champion(
    ecom_settings, endpoints, trained
):
    client = _client(ecom_settings)
    frame = features.training_frame(ecom_settings, endpoints)
    feature_columns = features.feature_service_columns(ecom_settings, endpoints)
    split = plan_cutoff_split(frame["event_timestamp"], embargo=timedelta(days=30))
    noisy = frame.copy()
    before_test = noisy["event_timestamp"] < min(split.test)
    noisy.loc[before_test, "churned"] = np.random.default_rng(1).permutation(
        noisy.loc[before_test, "churned"].to_numpy()
    )
    bad = training.train_on_frame(
        ecom_settings, noisy, feature_columns, candidates=(churn_models.XGB_PLAIN,)
    )
    promote(client, bad.model_version)  # a bad model holds the alias

    better = training.train_on_frame(
        ecom_settings, frame, feature_columns, candidates=(churn_models.XGB_PLAIN,)
    )
    assert better.promoted, better.decision.reason
    assert champion_version(client) == better.model_version
    comparison = better.decision.comparison
    assert comparison.auc_difference_low > 0
    metrics = client.get_run(better.run_id).data.metrics
    for name in ("gate_auc_difference_low", "gate_auc_difference_high",
                 "gate_brier_difference_low", "gate_brier_difference_high"):  # fmt: skip
        assert metrics[name] == pytest.approx(getattr(comparison, name.removeprefix("gate_")))
    assert "[" in better.gate_line() and "Brier change" in better.gate_line()
    # The drift reference and the split went with the run, for monitoring and the model card.
    artifacts = {a.path for a in client.list_artifacts(better.run_id, "reference")}
    assert artifacts == {
        "reference/training_features.parquet",
        "reference/test_predictions.parquet",
    }


def test_a_failed_publication_leaves_no_registered_version(ecom_settings, trained):
    client = _client(ecom_settings)
    run = client.get_run(trained.run_id)
    versions_before = {v.version for v in client.search_model_versions(f"name='{MODEL_NAME}'")}
    champion_before = champion_version(client)
    with pytest.raises(MlflowException):
        publish_version(
            client, f"runs:/{run.info.run_id}/model", {"feature_service": "churn_v1", "../not a tag": "x"},
            make_champion=True,
        )  # fmt: skip
    versions_after = {v.version for v in client.search_model_versions(f"name='{MODEL_NAME}'")}
    assert versions_after == versions_before
    assert champion_version(client) == champion_before
