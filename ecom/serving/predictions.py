"""The churn service's request logic, free of HTTP: authorise, read Redis, predict, explain.

`services/churn_api/service.py` turns each method into an endpoint and each `ServingError`
into its status code and JSON body. The prediction itself is `ChurnPredictor.predict`, the
function `ecom score` calls, on the features Feast returns; a user is scored only if Redis
holds a row for it from the current snapshot, never from empty features.

A background thread re-reads the scoring snapshot's as-of (PostgreSQL) and the champion alias
(MLflow) every `ECOM_SERVING_REFRESH_SECONDS`, so neither is asked per request and a promotion
or a new snapshot is picked up without a restart (`reload()` does it at once). The same thread
reads the scoring population (the probabilities `ecom score` stored for the snapshot and the
champion) when either changes, so a user's risk percentile is computed in memory with the
function batch scoring uses, on the numbers batch wrote: no query per request.
"""

from __future__ import annotations

import gc
import hmac
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date

import numpy as np

from ecom.churn.predict import Predictions, population_band, population_percentile
from ecom.churn.scoring import read_score_population
from ecom.config import Settings
from ecom.features.store import get_feature_store
from ecom.services import Endpoints
from ecom.serving.model_holder import ModelHolder, UpliftHolder
from ecom.serving.online import OnlineFeatureReader, OnlineRows, OnlineStoreUnavailable
from ecom.serving.schemas import BatchPrediction, ChurnPrediction, Contribution, ReloadResult
from ecom.serving.snapshot import Snapshot, StoreState, read_snapshot, store_state
from ecom.targeting.targets import ContactDecisions, contact_decisions

log = logging.getLogger(__name__)

API_KEY_HEADER = "x-api-key"
STATE_CACHE_SECONDS = 1.0


class ServingError(Exception):
    """An answer other than 200: its status code, a short error code and a sentence."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail

    def body(self) -> dict[str, str]:
        return {"error": self.error, "detail": self.detail}


def _answers(
    predictions: Predictions,
    population: np.ndarray,
    decisions: ContactDecisions,
    uplift_version: str | None,
) -> list[ChurnPrediction]:
    """The response models, built without re-validation: every value is cast to its field's
    type here (validating 14 fields per user again cost more than the prediction's encoding).
    Percentile and population band are null when `population` is empty (not scored yet)."""
    contributions = predictions.top_contributions or [[] for _ in range(len(predictions))]
    percentiles: list[float | None] = [None] * len(predictions)
    bands: list[str | None] = [None] * len(predictions)
    if len(population):
        ranked = population_percentile(predictions.churn_probability, population)
        percentiles, bands = [float(p) for p in ranked], [str(b) for b in population_band(ranked)]
    effect = [None if np.isnan(e) else float(e) for e in decisions.estimated_effect]
    values = decisions.expected_incremental_value.tolist()
    contact = decisions.contact_recommended.tolist()
    return [
        ChurnPrediction.model_construct(
            user_id=int(predictions.user_id[i]),
            churn_probability=float(predictions.churn_probability[i]),
            risk_band=str(predictions.risk_band[i]),
            is_high_risk=bool(predictions.is_high_risk[i]),
            recommended_action=str(predictions.recommended_action[i]),
            expected_value=float(predictions.expected_value[i]),
            model_name=predictions.model_name,
            model_version=predictions.model_version,
            features_as_of=predictions.features_as_of[i],
            risk_percentile=percentiles[i],
            population_band=bands[i],
            top_features=[
                Contribution.model_construct(feature=name, contribution=value)
                for name, value in contributions[i]
            ],
            list_basis=decisions.list_basis,
            estimated_effect=effect[i],
            expected_incremental_value=float(values[i]),
            contact_recommended=bool(contact[i]),
            uplift_model_version=uplift_version,
        )
        for i in range(len(predictions))
    ]


def freeze_heap(*, collect: bool) -> None:
    """Move every object alive now out of the garbage collector's reach (`gc.freeze`).

    The served process holds about half a million long-lived objects (pandas, MLflow, Feast,
    XGBoost, econml and the models); each full collection walks them all, about 240 ms here, and
    requests wait behind it: wrk at 8 connections saw p99 near 200 ms in two 10-second windows of
    five, 10 ms in the rest. Frozen, they are never walked again; only what requests allocate
    is. `collect` first frees the start-up's garbage (once, before serving), so it is not kept."""
    if collect:
        gc.collect()
    gc.freeze()


class ChurnServing:
    """What lives for the service's process: the Feast reader, the champion, the snapshot."""

    def __init__(self, settings: Settings, endpoints: Endpoints, *, watch: bool = True) -> None:
        self.settings = settings
        self.endpoints = endpoints
        self.models = ModelHolder(settings)
        self.uplift = UpliftHolder(settings, endpoints.database_url)
        self.reader = OnlineFeatureReader(get_feature_store(settings, endpoints))
        self._snapshot: Snapshot | None = None
        self._state: tuple[float, StoreState] | None = None
        self._population: tuple[tuple[date, str], np.ndarray] | None = None
        self.refresh_snapshot()
        freeze_heap(collect=True)
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        if watch:
            self._watcher = threading.Thread(target=self._watch, name="churn-watch", daemon=True)
            self._watcher.start()

    # ------------------------------------------------------------------ background

    def refresh_snapshot(self) -> Snapshot | None:
        """Re-read the scoring mart's as-of; keep the last one if PostgreSQL cannot answer."""
        try:
            self._snapshot = read_snapshot(self.endpoints.database_url)
        except Exception as error:  # a database hiccup must not stop the service answering
            log.warning("cannot read the scoring snapshot: %s", error)
        self._state = None
        self.refresh_population()
        return self._snapshot

    def refresh_population(self, *, force: bool = False) -> None:
        """Read the batch scores of (snapshot date, champion version) when that pair changes,
        or while it has none yet (`ecom score` may run after the service starts)."""
        if self._snapshot is None:
            return
        # The snapshot's date in UTC, as Feast's event times (and batch's scoring_date) carry it.
        key = (self._snapshot.as_of.astimezone(UTC).date(), self.models.predictor.model_version)
        held = self._population
        if not force and held is not None and held[0] == key and len(held[1]):
            return
        try:
            self._population = (key, read_score_population(self.endpoints.database_url, *key))
        except Exception as error:  # keep answering; percentiles stay as they were
            log.warning("cannot read the scoring population: %s", error)

    def population_for(self, as_of: date, model_version: str) -> np.ndarray:
        """The population for answers of this date and model; empty if it is not the one held."""
        held = self._population
        if held is None or held[0] != (as_of, model_version):
            return np.array([], dtype=float)
        return held[1]

    def _watch(self) -> None:
        while not self._stop.wait(self.settings.serving_refresh_seconds):
            self.refresh_snapshot()
            changed = False
            try:
                changed = self.models.refresh()[1]
            except Exception as error:  # the registry may be briefly locked or unreachable
                log.warning("cannot check the champion alias: %s", error)
            try:
                changed = self.uplift.refresh() or changed
            except Exception as error:
                log.warning("cannot check the uplift champion: %s", error)
            self.refresh_population()
            if changed:  # a new model's objects join the frozen heap (no full pass: no stall)
                freeze_heap(collect=False)

    def close(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ checks

    def authorize(self, headers: Mapping[str, str]) -> None:
        expected = self.settings.api_key
        if not expected:
            return
        given = headers.get(API_KEY_HEADER) or ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise ServingError(
                401,
                "unauthorized",
                f"this service requires the API key (ECOM_API_KEY) in the {API_KEY_HEADER!r} header",
            )

    def store_state(self) -> StoreState:
        """Whether Redis holds the snapshot (cached for a second: a 404 burst costs one probe)."""
        now = time.monotonic()
        if self._state is not None and now - self._state[0] < STATE_CACHE_SECONDS:
            return self._state[1]
        try:
            state = store_state(self.reader, self._snapshot)
        except OnlineStoreUnavailable as error:
            state = StoreState(False, str(error), "online_store_unavailable")
        self._state = (now, state)
        return state

    def readiness(self) -> StoreState:
        if self._snapshot is None:
            self.refresh_snapshot()
        self._state = None
        return self.store_state()

    def _read(self, user_ids: Sequence[int]) -> OnlineRows:
        try:
            return self.reader.read(user_ids)
        except OnlineStoreUnavailable as error:
            self._state = None
            raise ServingError(503, "online_store_unavailable", str(error)) from error

    def _require_store(self) -> None:
        state = self.store_state()
        if not state.ready:
            raise ServingError(503, state.error, state.detail)

    # ------------------------------------------------------------------ answers

    def predict_users(self, user_ids: Sequence[int]) -> BatchPrediction:
        """Answers for the users whose row belongs to the current snapshot, and the rest."""
        if len(user_ids) > self.settings.serving_max_batch:
            raise ServingError(
                400,
                "too_many_users",
                f"user_ids holds {len(user_ids)} ids; at most {self.settings.serving_max_batch} "
                "per request (ECOM_SERVING_MAX_BATCH)",
            )
        rows = self._read(user_ids)
        snapshot = self._snapshot
        current = [
            index
            for index, moment in enumerate(rows.event_times)
            if moment is not None and (snapshot is None or moment >= snapshot.as_of)
        ]
        if len(current) < len(user_ids):
            # Unknown users, or the whole store missing/behind? Only the latter is a 503.
            self._require_store()
        unknown = sorted(set(range(len(user_ids))) - set(current))
        answers: list[ChurnPrediction] = []
        if current:
            if len(current) == len(user_ids):  # everyone has a row: the columns as read
                features = {**rows.columns, "user_id": rows.user_ids}
            else:
                features = {
                    name: [values[i] for i in current] for name, values in rows.columns.items()
                }
                features["user_id"] = [rows.user_ids[i] for i in current]
            predictions = self.models.predictor.predict(
                features, features_as_of=[rows.event_times[i].date() for i in current]
            )
            population = self.population_for(
                predictions.features_as_of[0], predictions.model_version
            )
            # Whom to contact, by the function the retention list uses (point effect only:
            # the interval's bag would cost four more learners per request), on the columns
            # as read: the uplift encoding takes plain lists, a frame would cost more.
            model, uplift_version = self.uplift.model, self.uplift.version
            decisions = contact_decisions(
                features if model is not None else None,
                predictions.churn_probability,
                self.models.predictor.economics,
                model,
                intervals=False,
            )
            answers = _answers(predictions, population, decisions, uplift_version)
        return BatchPrediction.model_construct(
            predictions=answers, unknown_user_ids=[rows.user_ids[i] for i in unknown]
        )

    def predict_user(self, user_id: int) -> ChurnPrediction:
        result = self.predict_users([user_id])
        if not result.predictions:
            as_of = f" as of {self._snapshot.as_of:%Y-%m-%d}" if self._snapshot else ""
            raise ServingError(
                404,
                "unknown_user",
                f"user {user_id} has no features in the scoring snapshot{as_of}: unknown, or "
                "not active in the feature window",
            )
        return result.predictions[0]

    def reload(self) -> ReloadResult:
        self.refresh_snapshot()
        try:
            predictor, changed = self.models.refresh()
        except Exception as error:  # e.g. the alias names a version whose artifacts are broken
            raise ServingError(
                503,
                "champion_not_loadable",
                f"cannot load the champion the registry names now, still serving v"
                f"{self.models.predictor.model_version}: {type(error).__name__}: {error}",
            ) from error
        uplift_changed = self.uplift.refresh()
        self.refresh_population(force=True)
        if changed or uplift_changed:
            freeze_heap(collect=False)
        return ReloadResult(
            model_name=predictor.model_name, model_version=predictor.model_version, changed=changed
        )
