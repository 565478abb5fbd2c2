"""The uplift model in MLflow: its own experiment, registered model and champion gate.

The gate mirrors the churn gate: the champion is re-scored on the new test users rather than
trusted on the numbers it earned on older data, and the new version takes `champion` only when
the lower bound of the paired bootstrap interval of its Qini gain clears the margin. Registering,
tagging and crowning reuse the churn registry's functions with this model's name.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ecom.config import Settings
from ecom.targeting import metrics

if TYPE_CHECKING:
    from ecom.churn.registry import ModelRegistry

log = logging.getLogger(__name__)


def uplift_registry(settings: Settings) -> ModelRegistry:
    """The one registry object (`ecom.churn.registry.ModelRegistry`) for the uplift model,
    with this process's MLflow pointed at the same store (runs and `register_model` use it)."""
    from ecom.churn.registry import ModelRegistry, use_store
    from ecom.targeting.training import UPLIFT_MODEL_NAME

    use_store(settings.tracking_uri)
    return ModelRegistry.at(settings.tracking_uri, UPLIFT_MODEL_NAME)


def decide_uplift_champion(
    gain: metrics.Interval | None, champion: str | None, margin: float
) -> tuple[bool, str]:
    """Promote with no champion, when it cannot score the test users, or when the Qini gain's
    lower bound clears `margin`; otherwise keep it, saying why."""
    if champion is None:
        return True, "promoted: the first champion"
    if gain is None:
        return True, f"promoted: champion v{champion} cannot score the current features"
    if gain.low > margin:
        return True, f"promoted: Qini gain {gain} over champion v{champion} clears {margin:+.4f}"
    return False, f"kept champion v{champion}: Qini gain {gain} does not clear {margin:+.4f}"


def _champion_gain(
    registry: ModelRegistry, result, champion: str | None, n_boot: int
) -> metrics.Interval | None:
    """Paired bootstrap of (challenger Qini - champion Qini) on the same test users."""
    if champion is None:
        return None
    try:
        incumbent = registry.load_model(champion)
        incumbent_effect = incumbent.effect(result.test)
    except Exception as error:  # an old champion on other features: say so, do not crash
        log.warning("uplift champion v%s cannot score the test users: %s", champion, error)
        return None
    test = result.test
    ipw = metrics.ipw_terms(test["converted"], test["is_treated"], test["treatment_share"])

    def gain(effect: np.ndarray, old: np.ndarray, terms: np.ndarray) -> float:
        return metrics.qini_coefficient(effect, terms) - metrics.qini_coefficient(old, terms)

    return metrics.bootstrap_interval(
        gain,
        metrics.bootstrap_samples(len(test), n_boot, 1),
        test["estimated_effect"].to_numpy(),
        np.asarray(incumbent_effect, dtype=float),
        ipw,
    )


def log_and_gate(settings: Settings, result, margin: float = 0.0) -> None:
    """Log the run (params, metrics, policy table, model), register it, and move `champion`
    only when the gate says so. Fills result.model_version, promoted and gate_reason."""
    import mlflow

    from ecom.churn.lineage import code_version
    from ecom.churn.registry import publish_version
    from ecom.targeting.training import UPLIFT_EXPERIMENT, UPLIFT_MODEL_NAME

    registry = uplift_registry(settings)
    experiment_id = registry.experiment_id(UPLIFT_EXPERIMENT, settings.artifact_root.as_uri())
    incumbent = registry.champion_version()
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"uplift_{result.chosen}") as run:
        mlflow.log_params({**result.params, "gate_min_qini_gain": margin})
        mlflow.log_metrics({k: float(v) for k, v in result.metrics.items() if np.isfinite(v)})
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "policy_evaluation.csv"
            result.policies.to_csv(path, index=False)
            mlflow.log_artifact(str(path))
        gain = _champion_gain(registry, result, incumbent, int(result.params["bootstrap_samples"]))
        promote, reason = decide_uplift_champion(gain, incumbent, margin)
        if gain is not None:
            mlflow.log_metrics(gain.as_dict("qini_gain_over_champion"))
        mlflow.log_params({"champion_decision": "promoted" if promote else "kept"})
        model_info = mlflow.sklearn.log_model(
            sk_model=result.model,
            name="model",
            serialization_format="cloudpickle",
            pip_requirements=[],
        )
        tags = {
            "run_id": run.info.run_id,
            "learner": result.chosen,
            "code_version": code_version(),
            "test_qini": f"{result.metrics['test_qini']:.5f}",
        }
        version = publish_version(
            registry.client,
            model_info.model_uri,
            tags,
            make_champion=promote,
            name=UPLIFT_MODEL_NAME,
        )
    result.model_version, result.promoted, result.gate_reason = version, promote, reason
    log.info("%s v%s: %s", UPLIFT_MODEL_NAME, version, reason)


def load_uplift_champion(settings: Settings):
    """The champion uplift model and its version, or (None, None) when none is registered."""
    return uplift_registry(settings).champion()
