"""The champion as monitoring sees it: its version, its MLflow run and what that run recorded.

Drift, performance over time and the model card all judge the model against what it was
trained on, so each reads the champion's own run (params, metrics, reference artifacts)
instead of recomputing anything from today's data.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ecom.churn.registry import MissingRunArtifact, ModelRegistry
from ecom.churn.scoring import NoChampionModel, champion_predictor
from ecom.churn.tracking import (
    DRIFT_REFERENCE_FILE,
    REFERENCE_ARTIFACT_DIR,
    REFERENCE_FEATURES_FILE,
    REFERENCE_PREDICTIONS_FILE,
    SPLIT_ARTIFACT,
)
from ecom.config import Settings

log = logging.getLogger(__name__)


__all__ = ["ChampionRun", "MissingRunArtifact", "load_champion_run"]


@dataclass
class ChampionRun:
    """The champion model, its registry version and its training run."""

    model: Any
    version: str
    run_id: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    settings: Settings

    def artifact(self, path: str) -> Path:
        """Download one artifact of the run (cached under ECOM_HOME) and return its local path."""
        cache = self.settings.resolved_home / "monitoring" / self.run_id
        if (cache / path).exists():
            return cache / path
        # Downloaded to `cache/path`: MLflow keeps the artifact's folders under the target.
        return ModelRegistry.at(self.settings.tracking_uri).artifact(self.version, path, cache)

    def reference_features(self) -> pd.DataFrame:
        return pd.read_parquet(self.artifact(f"{REFERENCE_ARTIFACT_DIR}/{REFERENCE_FEATURES_FILE}"))

    def drift_reference_features(self) -> pd.DataFrame:
        """The feature rows of the run's latest cutoffs (its test split), what drift compares
        today's snapshot with; a champion trained before runs recorded them is compared with
        its training rows, as it was then (a warning says so)."""
        try:
            path = self.artifact(f"{REFERENCE_ARTIFACT_DIR}/{DRIFT_REFERENCE_FILE}")
        except MissingRunArtifact:
            log.warning(
                "run %s has no %s (trained before runs recorded it): drift is judged against "
                "its training rows; retrain to compare with its latest cutoffs",
                self.run_id,
                DRIFT_REFERENCE_FILE,
            )
            return self.reference_features()
        return pd.read_parquet(path)

    def test_predictions(self) -> pd.DataFrame:
        return pd.read_parquet(
            self.artifact(f"{REFERENCE_ARTIFACT_DIR}/{REFERENCE_PREDICTIONS_FILE}")
        )

    def split(self) -> dict[str, list[str]]:
        return json.loads(self.artifact(SPLIT_ARTIFACT).read_text())

    def json_artifact(self, path: str) -> Any:
        return json.loads(self.artifact(path).read_text())


def load_champion_run(settings: Settings) -> ChampionRun:
    """The current champion with its run; raises `NoChampionModel` when there is none."""
    predictor = champion_predictor(settings)
    model, version = predictor.model, predictor.model_version
    try:
        run = ModelRegistry.at(settings.tracking_uri).run(version)
    except MissingRunArtifact as error:
        raise NoChampionModel(str(error)) from error
    return ChampionRun(
        model=model,
        version=version,
        run_id=run.info.run_id,
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
        settings=settings,
    )
