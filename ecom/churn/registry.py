"""The MLflow model registry: which version is `champion`, and when a new one takes over.

The rule: a new version becomes champion only when it beats the current champion on the same
test cutoffs, so the champion is re-scored on the new test set rather than trusted on the
numbers it earned on older data. The decision itself is a pure function, tested on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

MODEL_NAME = "churn_prediction_advanced"
CHAMPION_ALIAS = "champion"
EXPERIMENT_NAME = "churn_prediction"


@dataclass(frozen=True)
class ChampionDecision:
    promote: bool
    reason: str
    candidate_score: float
    champion_score: float | None
    champion_version: str | None


def decide_champion(
    candidate_score: float,
    champion_score: float | None,
    champion_version: str | None = None,
    *,
    metric: str = "roc_auc",
    min_improvement: float = 0.0,
) -> ChampionDecision:
    """Promote when there is no champion, when it could not be scored on the new test set
    (`champion_score` None with a version), or when the candidate beats it by more than
    `min_improvement`; a tie keeps the incumbent."""
    if champion_version is None:
        return ChampionDecision(True, "no champion yet", candidate_score, None, None)
    if champion_score is None:
        return ChampionDecision(
            True,
            f"champion v{champion_version} cannot score the current features",
            candidate_score,
            None,
            champion_version,
        )
    if candidate_score > champion_score + min_improvement:
        reason = (
            f"candidate {metric} {candidate_score:.4f} beats champion v{champion_version} "
            f"{champion_score:.4f} on the same test cutoffs"
        )
        return ChampionDecision(True, reason, candidate_score, champion_score, champion_version)
    reason = (
        f"candidate {metric} {candidate_score:.4f} does not beat champion v{champion_version} "
        f"{champion_score:.4f} on the same test cutoffs"
    )
    return ChampionDecision(False, reason, candidate_score, champion_score, champion_version)


def configure_tracking(tracking_uri: str, artifact_root: str) -> str:
    """Point MLflow at the project's store and return the experiment id (created on first use
    with artifacts under `artifact_root`, so runs never write into the working directory)."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is None:
        experiment_id = client.create_experiment(EXPERIMENT_NAME, artifact_location=artifact_root)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def champion_version(client: MlflowClient, name: str = MODEL_NAME) -> str | None:
    """The version the `champion` alias points at, or None when there is none yet."""
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION_ALIAS).version)
    except MlflowException:
        return None


def champion_uri(name: str = MODEL_NAME) -> str:
    return f"models:/{name}@{CHAMPION_ALIAS}"


def register_version(client: MlflowClient, model_uri: str, name: str = MODEL_NAME) -> str:
    """Register a logged model as a new version of `name` (creating the name on first use);
    registering never moves the champion alias."""
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="Churn in the next 30 days from churn_v1 features (XGBoost)."
        )
    return str(mlflow.register_model(model_uri, name).version)


def promote(client: MlflowClient, version: str, name: str = MODEL_NAME) -> None:
    client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
    log.info("%s@%s -> version %s", name, CHAMPION_ALIAS, version)
