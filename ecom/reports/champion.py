"""The champion model's SHAP summary, as training logged it in MLflow.

Training logs `diagnostics/shap_summary.png` (the beeswarm) and `diagnostics/shap_mean_abs.json`
(mean |SHAP| per encoded feature) in the run that registered each version; the report shows
the ones of the version the `champion` alias points at, so the page explains the model that
scores users today.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ecom.config import Settings

SHAP_IMAGE = "diagnostics/shap_summary.png"
SHAP_IMPORTANCE = "diagnostics/shap_mean_abs.json"


@dataclass
class ChampionShap:
    """What the report shows about the champion; `missing` says why something is absent."""

    version: str | None = None
    run_id: str | None = None
    summary_png: bytes | None = None
    mean_abs_shap: dict[str, float] = field(default_factory=dict)
    missing: str | None = None
    # Realised on the test split: how much the riskiest tenth churns more than everyone.
    test_lift_top_decile: float | None = None
    test_base_rate: float | None = None


def champion_shap(settings: Settings) -> ChampionShap:
    """The champion's SHAP artifacts, or a `missing` reason (no champion, artifacts absent)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from ecom.churn.registry import CHAMPION_ALIAS, MODEL_NAME

    # A progress bar per small artifact is noise in a command that prints a report path.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    try:
        version = client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS)
    except MlflowException:
        return ChampionShap(missing=f"no {MODEL_NAME}@{CHAMPION_ALIAS} yet: run `ecom train`")
    result = ChampionShap(version=str(version.version), run_id=version.run_id)
    if not version.run_id:
        result.missing = f"champion v{version.version} names no training run"
        return result
    metrics = client.get_run(version.run_id).data.metrics
    result.test_lift_top_decile = metrics.get("test_lift_top_decile")
    result.test_base_rate = metrics.get("test_base_rate")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            image = client.download_artifacts(version.run_id, SHAP_IMAGE, tmp)
            importance = client.download_artifacts(version.run_id, SHAP_IMPORTANCE, tmp)
        except (MlflowException, OSError) as error:
            result.missing = (
                f"champion v{version.version}'s run {version.run_id} has no SHAP artifacts "
                f"({SHAP_IMAGE}): {error}"
            )
            return result
        result.summary_png = Path(image).read_bytes()
        result.mean_abs_shap = {
            str(name): float(value)
            for name, value in json.loads(Path(importance).read_text()).items()
        }
    return result
