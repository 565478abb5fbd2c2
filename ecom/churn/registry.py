"""The MLflow model registry: which version is `champion`, registering and crowning versions.

Whether a new version deserves the alias is the champion gate's decision (`ecom.churn.gate`);
the registry only records it.

`ModelRegistry` is the one way to the registry for everything that reads it (scoring, the
service's model holder, monitoring, the report, and the uplift model under its own name in
`ecom.targeting.registry`): the champion's version, a version's model and input example, its
training run, that run's artifacts by name, and an experiment's id, over one `MlflowClient`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

if TYPE_CHECKING:
    from ecom.config import Settings

log = logging.getLogger(__name__)

MODEL_NAME = "churn_prediction_advanced"
CHAMPION_ALIAS = "champion"
EXPERIMENT_NAME = "churn_prediction"


class MissingRunArtifact(FileNotFoundError):
    """A version's training run lacks an artifact (trained before runs recorded it)."""


@dataclass(frozen=True)
class LoadedVersion:
    """A registered version's model and the input example logged with it (None if none)."""

    version: str
    model: Any
    input_example: Any


class ModelRegistry:
    """One registered model (`name`) in one tracking store, through one `MlflowClient`.

    Reads (and finds or creates an experiment): training registers and crowns with the module
    functions below, given this object's `client`. Build it with
    `ModelRegistry.at(tracking_uri)`, which keeps one per store per process (the first client
    call on a sqlite store costs seconds)."""

    _instances: ClassVar[dict[tuple[str, str], ModelRegistry]] = {}
    _instances_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, tracking_uri: str, name: str = MODEL_NAME) -> None:
        self.tracking_uri = tracking_uri
        self.name = name
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    @classmethod
    def at(cls, tracking_uri: str, name: str = MODEL_NAME) -> ModelRegistry:
        with cls._instances_lock:
            registry = cls._instances.get((tracking_uri, name))
            if registry is None:
                registry = cls._instances[(tracking_uri, name)] = cls(tracking_uri, name)
            return registry

    def champion_version(self) -> str | None:
        """The version the `champion` alias points at, or None when there is none yet."""
        return champion_version(self.client, self.name)

    def champion(self) -> tuple[Any, str | None]:
        """The champion's model and version, or (None, None) when no version holds the alias."""
        version = self.champion_version()
        if version is None:
            return None, None
        return self.load_model(version), version

    def _download(self, version: str) -> str:
        """`name` v`version`'s model directory, fetched by number (so a promotion meanwhile
        cannot mix models) from this store rather than the process-wide MLflow URI."""
        return mlflow.artifacts.download_artifacts(
            f"models:/{self.name}/{version}", tracking_uri=self.tracking_uri
        )

    def load_model(self, version: str) -> Any:
        """`name` v`version`'s model as logged."""
        return mlflow.sklearn.load_model(self._download(version))

    def load(self, version: str) -> LoadedVersion:
        """`name` v`version` as logged, with its input example."""
        local = self._download(version)
        model = mlflow.sklearn.load_model(local)
        example = mlflow.models.Model.load(local).load_input_example(local)
        return LoadedVersion(str(version), model, example)

    def experiment_id(self, experiment: str, artifact_root: str) -> str:
        """The id of `experiment` in this store, created on first use with artifacts under
        `artifact_root` (so runs never write into the working directory)."""
        found = self.client.get_experiment_by_name(experiment)
        if found is not None:
            return found.experiment_id
        return self.client.create_experiment(experiment, artifact_location=artifact_root)

    def run_id(self, version: str) -> str | None:
        """The training run that logged `version` (None if it names none)."""
        return self.client.get_model_version(self.name, version).run_id or None

    def run(self, version: str):
        """The `mlflow.entities.Run` that logged `version` (its params, metrics, tags)."""
        run_id = self.run_id(version)
        if run_id is None:
            raise MissingRunArtifact(f"{self.name} v{version} names no training run")
        return self.client.get_run(run_id)

    def artifact(self, version: str, path: str, destination: Path) -> Path:
        """One artifact of `version`'s run, downloaded under `destination`; raises
        `MissingRunArtifact` (naming the run and the path) when the run lacks it."""
        run_id = self.run_id(version)
        try:
            if run_id is None:
                raise MlflowException("the version names no training run")
            destination.mkdir(parents=True, exist_ok=True)
            return Path(self.client.download_artifacts(run_id, path, str(destination)))
        except (MlflowException, OSError) as error:  # MLflow raises both for a missing path
            raise MissingRunArtifact(
                f"run {run_id} of {self.name} v{version} has no artifact {path!r}: retrain "
                f"(`ecom train`) so the run records it ({error})"
            ) from error


def use_store(tracking_uri: str) -> None:
    """Point this process's MLflow (runs, `register_model`, `models:/` URIs) at the store."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)


def configure_tracking(tracking_uri: str, artifact_root: str) -> str:
    """Point MLflow at the project's store and return the experiment id (created on first use
    with artifacts under `artifact_root`, so runs never write into the working directory)."""
    use_store(tracking_uri)
    experiment_id = ModelRegistry.at(tracking_uri).experiment_id(EXPERIMENT_NAME, artifact_root)
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
        first = False
    except MlflowException:
        first = True
    # `register_model` creates the name itself; creating it first made MLflow print "already
    # exists. Creating a new version" on the very first run.
    version = str(mlflow.register_model(model_uri, name).version)
    if first:
        client.update_registered_model(
            name, description="Churn in the next 30 days from churn_v1 features (XGBoost)."
        )
    return version


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


def champion_test_lift(settings: Settings, version: str) -> tuple[float | None, float | None]:
    """(top-decile lift, base rate) on the champion's test split, as its MLflow run logged them.

    Here rather than in `ecom.churn.scoring`, so `ecom report` reads them without importing
    the model libraries scoring needs (xgboost, imbalanced-learn, scikit-learn)."""
    metrics = ModelRegistry.at(settings.tracking_uri).run(version).data.metrics
    return metrics.get("test_lift_top_decile"), metrics.get("test_base_rate")
