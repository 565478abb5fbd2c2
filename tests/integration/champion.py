"""What the registry's champion itself says, computed apart from the scoring code under test.

A scoring test compares `analytics.churn_scores` with this: the version the `champion` alias
names (asked of the registry, not of `ecom`) and that model's own probabilities on the rows of
the scoring mart, loaded by alias as the scikit-learn model it was logged as and fed the
contract's feature columns as PostgreSQL returns them (the model casts its own input). A
scorer that returns a constant, or uses the latest version instead of the champion, disagrees
with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from ecom.churn.split import plan_cutoff_split
from ecom.config import Settings
from ecom.db import connect
from ecom.features import contract

MODEL_NAME = "churn_prediction_advanced"
CHAMPION_URI = f"models:/{MODEL_NAME}@champion"
SCORING_MART = "analytics.mart_churn_scoring"
PROBABILITY_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ChampionView:
    version: str
    latest_version: str
    probabilities: pd.Series  # P(churn) by user_id, on every row of the scoring mart


def _scoring_rows(database_url: str) -> pd.DataFrame:
    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"select * from {SCORING_MART} order by user_id")
            names = [column.name for column in cursor.description]
            return pd.DataFrame(cursor.fetchall(), columns=names)
    finally:
        connection.close()


def _model_input(rows: pd.DataFrame) -> pd.DataFrame:
    """The contract's feature columns as PostgreSQL returned them: the logged model casts and
    encodes its own input (its first step), so it is given the raw values, NULLs as None."""
    columns = [feature.name for feature in contract.FEATURES]
    return rows[columns].astype("object").where(rows[columns].notna(), None)


def champion_view(settings: Settings) -> ChampionView:
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    version = str(client.get_model_version_by_alias(MODEL_NAME, "champion").version)
    latest = max(int(item.version) for item in client.search_model_versions(f"name='{MODEL_NAME}'"))
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    model = mlflow.sklearn.load_model(CHAMPION_URI)
    rows = _scoring_rows(settings.database_url or "")
    predicted = model.predict_proba(_model_input(rows))
    probabilities = predicted[:, list(model.classes_).index(1)]
    return ChampionView(
        version=version,
        latest_version=str(latest),
        probabilities=pd.Series(probabilities, index=rows["user_id"].astype("int64").to_numpy()),
    )


def stored_scores(database_url: str, scoring_date) -> pd.DataFrame:
    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "select user_id, churn_probability, model_name, model_version "
                "from analytics.churn_scores where scoring_date = %s order by user_id",
                (scoring_date,),
            )
            return pd.DataFrame(
                cursor.fetchall(), columns=["user_id", "churn_probability", "name", "version"]
            )
    finally:
        connection.close()


def assert_scores_are_the_champions(settings: Settings, scoring_date) -> ChampionView:
    """Every stored score of `scoring_date` is the champion's own prediction for that user
    (to 1e-9) and names the champion's version; returns what the champion said."""
    champion = champion_view(settings)
    stored = stored_scores(settings.database_url or "", scoring_date)
    assert len(stored) == len(champion.probabilities) > 0
    # Users differ, so a champion that learned anything does not give everyone one score, and
    # a constant scorer cannot agree with it by accident.
    assert champion.probabilities.nunique() > 1, "the champion scores every user the same"
    assert stored["user_id"].tolist() == champion.probabilities.index.tolist()
    assert set(stored["name"]) == {MODEL_NAME}
    assert set(stored["version"]) == {champion.version}, (
        f"scores name version(s) {sorted(set(stored['version']))}, "
        f"the champion alias names {champion.version}"
    )
    np.testing.assert_allclose(
        stored["churn_probability"].to_numpy(dtype=float),
        champion.probabilities.to_numpy(),
        rtol=0,
        atol=PROBABILITY_TOLERANCE,
    )
    return champion


def labels_shuffled_before_test(frame: pd.DataFrame, horizon_days: int, seed: int = 0):
    """The training frame with labels permuted on every cutoff before the test cutoffs: a model
    trained on it learns noise, while the test labels, on which the champion decision re-scores
    the incumbent, stay real. Registering it gives a latest version that is not the champion."""
    split = plan_cutoff_split(frame["event_timestamp"], embargo=timedelta(days=horizon_days))
    before_test = frame["event_timestamp"] < min(split.test)
    noisy = frame.copy()
    noisy.loc[before_test, "churned"] = np.random.default_rng(seed).permutation(
        noisy.loc[before_test, "churned"].to_numpy()
    )
    return noisy
