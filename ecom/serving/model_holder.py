"""The champion the service answers with: loaded once, swapped when the alias moves.

`models:/churn_prediction_advanced@champion` is resolved to a version and that version is
loaded (so a promotion half-way through a request cannot mix models). `refresh()` asks the
registry where the alias points now and loads the new version before swapping it in; the
service calls it every `ECOM_SERVING_REFRESH_SECONDS` from a background thread and on
`POST /reload`, so a promotion is picked up without a restart. MLflow calls stay out of the
request path (the first client call on a sqlite store takes seconds).
"""

from __future__ import annotations

import logging
import threading

from ecom.churn.predict import ChurnPredictor
from ecom.churn.registry import MODEL_NAME, ModelRegistry
from ecom.churn.scoring import NoChampionModel, champion_predictor
from ecom.config import Settings

log = logging.getLogger(__name__)


class ModelHolder:
    """The current `ChurnPredictor`; raises `NoChampionModel` at construction if none."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._registry = ModelRegistry.at(settings.tracking_uri)
        self._lock = threading.Lock()
        version = self._registry.champion_version()
        if version is None:
            raise NoChampionModel(
                f"no version of {MODEL_NAME} is aliased 'champion' in {settings.tracking_uri}: "
                "train one first (`ecom train`)"
            )
        self._predictor = champion_predictor(settings, version)
        log.info("serving %s v%s", MODEL_NAME, version)

    @property
    def predictor(self) -> ChurnPredictor:
        return self._predictor

    def refresh(self) -> tuple[ChurnPredictor, bool]:
        """Follow the alias: (the predictor now in use, whether it changed). A registry that
        lost the alias keeps the model being served rather than serving nothing."""
        with self._lock:
            version = self._registry.champion_version()
            if version is None or version == self._predictor.model_version:
                return self._predictor, False
            predictor = champion_predictor(self._settings, version)
            log.info(
                "champion moved: %s v%s -> v%s", MODEL_NAME, self._predictor.model_version, version
            )
            self._predictor = predictor
            return predictor, True
