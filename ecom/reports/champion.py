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
    from ecom.churn.registry import (
        CHAMPION_ALIAS,
        MODEL_NAME,
        MissingRunArtifact,
        ModelRegistry,
        champion_test_lift,
    )

    # A progress bar per small artifact is noise in a command that prints a report path.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    registry = ModelRegistry.at(settings.tracking_uri)
    version = registry.champion_version()
    if version is None:
        return ChampionShap(missing=f"no {MODEL_NAME}@{CHAMPION_ALIAS} yet: run `ecom train`")
    result = ChampionShap(version=version, run_id=registry.run_id(version))
    if result.run_id is None:
        result.missing = f"champion v{version} names no training run"
        return result
    result.test_lift_top_decile, result.test_base_rate = champion_test_lift(settings, version)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            image = registry.artifact(version, SHAP_IMAGE, Path(tmp))
            importance = registry.artifact(version, SHAP_IMPORTANCE, Path(tmp))
        except MissingRunArtifact as error:
            result.missing = f"champion v{version} has no SHAP artifacts ({SHAP_IMAGE}): {error}"
            return result
        result.summary_png = image.read_bytes()
        result.mean_abs_shap = {
            str(name): float(value) for name, value in json.loads(importance.read_text()).items()
        }
    return result
