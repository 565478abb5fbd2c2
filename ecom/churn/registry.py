"""The MLflow model registry: which version is `champion`, registering and crowning versions.

Whether a new version deserves the alias is the champion gate's decision (`ecom.churn.gate`);
the registry only records it.
"""

from __future__ import annotations

import logging

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

MODEL_NAME = "churn_prediction_advanced"
CHAMPION_ALIAS = "champion"
EXPERIMENT_NAME = "churn_prediction"


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


def require_loadable(version: str, name: str = MODEL_NAME) -> None:
    """Load `name` v`version` from the registry (as scoring and the service do) or raise."""
    try:
        mlflow.sklearn.load_model(f"models:/{name}/{version}")
    except Exception as error:
        raise MlflowException(
            f"{name} v{version} cannot be loaded from the registry, so it does not take the "
            f"'{CHAMPION_ALIAS}' alias: {type(error).__name__}: {error}"
        ) from error


def publish_version(
    client: MlflowClient,
    model_uri: str,
    tags: dict[str, str],
    *,
    make_champion: bool,
    name: str = MODEL_NAME,
) -> str:
    """Register, tag and (when `make_champion`) crown a model as one step: called only after
    every check has passed, and if any part of it fails the new version is deleted again, so
    the registry never holds a half-registered version (untagged, or tagged but not crowned).
    A version is crowned only once it loads from the registry the way batch scoring and the
    service load it, so a champion can never be one whose artifacts are broken or missing."""
    version = register_version(client, model_uri, name)
    try:
        for key, value in tags.items():
            client.set_model_version_tag(name, version, key, value)
        if make_champion:
            require_loadable(version, name)
            promote(client, version, name)
    except Exception:
        log.error("publishing %s v%s failed; deleting the version again", name, version)
        client.delete_model_version(name, version)
        raise
    return version
