"""The MLflow model registry: which version is `champion`, and when a new one takes over.

The rule: a new version becomes champion only when the evidence says it beats the current
champion on the same test cutoffs (the champion is re-scored on the new test set rather than
trusted on the numbers it earned on older data): a paired, user-clustered bootstrap interval of
the AUC gain must clear a margin and calibration must not get worse. The decision itself is a
pure function, tested on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ecom.churn.evaluation import PairedComparison

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
    comparison: PairedComparison | None = None


def decide_champion(
    candidate_score: float,
    comparison: PairedComparison | None,
    champion_version: str | None = None,
    *,
    min_auc_gain: float = 0.0,
    max_brier_increase: float = 0.002,
    refusal: str | None = None,
) -> ChampionDecision:
    """Promote when there is no champion, when it could not be scored on the new test set
    (`comparison` None with a version), or when the evidence says the challenger is better:
    the lower bound of the paired bootstrap interval of its AUC gain exceeds `min_auc_gain`
    and its Brier score is at most `max_brier_increase` worse. A challenger better only by
    noise has an interval that straddles zero and keeps the incumbent. A `refusal` (the
    quality gate failed on the training data) keeps the incumbent whatever the evidence."""
    if refusal is not None:
        kept = f"champion stays v{champion_version}" if champion_version else "no champion"
        return ChampionDecision(
            False, f"not crowned, {refusal}; {kept}", candidate_score, None, champion_version
        )
    if champion_version is None:
        return ChampionDecision(True, "no champion yet", candidate_score, None, None)
    if comparison is None:
        return ChampionDecision(
            True,
            f"champion v{champion_version} cannot score the current features",
            candidate_score,
            None,
            champion_version,
        )
    c = comparison
    evidence = (
        f"AUC {c.challenger_auc:.4f} vs champion v{champion_version} {c.champion_auc:.4f}, "
        f"gain {c.auc_difference:+.4f} [{c.confidence:.0%} CI {c.auc_difference_low:+.4f}, "
        f"{c.auc_difference_high:+.4f}]; Brier change {c.brier_difference:+.4f} "
        f"[{c.brier_difference_low:+.4f}, {c.brier_difference_high:+.4f}] "
        f"over {c.users:,} users on the same test cutoffs"
    )
    if c.auc_difference_low <= min_auc_gain:
        verdict = f"kept: the AUC gain's lower bound does not clear {min_auc_gain:+.4f}"
        promote = False
    elif c.brier_difference > max_brier_increase:
        verdict = f"kept: calibration worsens by more than {max_brier_increase:.4f} Brier"
        promote = False
    else:
        verdict = "promoted: the AUC gain clears the margin and calibration holds"
        promote = True
    return ChampionDecision(
        promote, f"{verdict} ({evidence})", candidate_score, c.champion_auc, champion_version, c
    )


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
