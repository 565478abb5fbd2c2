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

# Rows the uplift fast path is proved on at load (about 0.1 s of econml).
CHECK_SAMPLE_ROWS = 256


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


class UpliftHolder:
    """The uplift champion `/predict` decides contacts with, or None: then the decision is the
    labelled churn-risk fallback, exactly as the retention list's. Held only while campaign
    data is loaded (an uplift model of another world must not decide for this one), followed
    like the churn champion by `refresh()`, and loaded only when its version changes."""

    def __init__(self, settings: Settings, database_url: str) -> None:
        self._settings = settings
        self._database_url = database_url
        self._lock = threading.Lock()
        self.model = None
        self.version: str | None = None
        self.refresh()

    def refresh(self) -> bool:
        """Follow the alias (and the campaign data); whether the model changed."""
        from ecom.targeting.data import campaign_users
        from ecom.targeting.training import UPLIFT_MODEL_NAME

        with self._lock:
            version = None
            if campaign_users(self._database_url) > 0:
                version = ModelRegistry.at(
                    self._settings.tracking_uri, UPLIFT_MODEL_NAME
                ).champion_version()
            if version == self.version:
                return False
            model = None
            if version is not None:
                import mlflow

                from ecom.targeting.fast_effect import FastEffect

                loaded = mlflow.sklearn.load_model(f"models:/{UPLIFT_MODEL_NAME}/{version}")
                model = FastEffect(loaded, self._check_sample())
                log.info("uplift v%s serves its effect through %s", version, model.engine)
            log.info("uplift champion: v%s -> v%s", self.version, version)
            self.model, self.version = model, (str(version) if version is not None else None)
            return True

    def _check_sample(self):
        """Real feature rows (a seeded sample of today's scoring mart) the fast path is proved
        on; None (all-missing rows only, and a warning) when the mart cannot be read."""
        from ecom.churn.scoring import read_scoring_features

        try:
            features = read_scoring_features(self._database_url)
        except Exception as error:  # proved on blank rows only, but said
            log.warning("no scoring rows to prove the uplift fast path on: %s", error)
            return None
        return features.sample(min(len(features), CHECK_SAMPLE_ROWS), random_state=0)
