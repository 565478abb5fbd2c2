"""Without a champion, scoring, drift and monitoring say why: never trained, or trained on a
load the quality gate refused (and what it refused), or trained but not crowned.

"run `ecom train`" was the only advice before, wrong when training ran and the gate had
refused its load. Real MLflow (SQLite under a private ECOM_HOME) and a real PostgreSQL hold the
model versions and the gate's verdicts.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression

from ecom.churn.registry import configure_tracking, register_version
from ecom.churn.scoring import NoChampionModel, champion_predictor
from ecom.db import transaction
from ecom.quality.verdicts import record_verdict
from tests.integration.dbt_databases import private_database

pytestmark = pytest.mark.integration

REFUSAL = (
    "quality gate FAILED: 280 of 281 expectations met on 8 tables in 9.0 s; failing tables: "
    "raw.users\nraw.users: expect_column_values_to_be_between(created_at, max 2025-06-15) "
    "failed: 1 of 300 rows (e.g. 2099-01-01 00:00:00+00:00)"
)


def _register_an_uncrowned_version(settings) -> None:
    configure_tracking(settings.tracking_uri, settings.artifact_root.as_uri())
    features = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(features, [0, 0, 1, 1])
    with mlflow.start_run():
        logged = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    register_version(client, logged.model_uri)


def test_no_champion_says_never_trained_or_what_the_gate_refused(ecom_settings, tmp_path):
    with private_database(ecom_settings, "no_champion") as (settings, endpoints):
        settings = settings.with_overrides(home=tmp_path / "home")
        with pytest.raises(NoChampionModel) as never:
            champion_predictor(settings)
        assert "was ever trained" in str(never.value) and "`ecom train`" in str(never.value)

        with transaction(endpoints.database_url) as cursor:  # a load for the verdict to be on
            cursor.execute("create schema raw; create table raw.users (id bigint)")
        record_verdict(endpoints.database_url, False, REFUSAL)
        _register_an_uncrowned_version(settings)
        with pytest.raises(NoChampionModel) as refused:
            champion_predictor(settings)
        message = str(refused.value)
        assert "1 version(s)" in message and "none is the champion" in message
        assert "the quality gate failed on this load" in message
        assert "created_at" in message and "2099-01-01" in message  # what it refused
        assert "`ecom train`" not in message

        record_verdict(endpoints.database_url, True, "quality gate passed")
        with pytest.raises(NoChampionModel, match="no challenger beat the champion gate"):
            champion_predictor(settings)
