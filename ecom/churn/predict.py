"""The one prediction function: a churn feature frame in, every answer about each user out.

Batch scoring (100k rows from `mart_churn_scoring`) and the online service (one row from
Redis) both call `ChurnPredictor.predict`, so they cannot disagree. The predictor is built once
from the logged champion and replays its fitted steps on plain arrays (`ecom.churn.array_form`:
the imputer's medians and missing indicators, the one-hot encoder's category -> column map, and
Platt's sigmoid, all read from public attributes), then the booster through one `DMatrix` on one
thread. The scikit-learn pipeline costs about 18 ms for one row (DataFrame plumbing and thread
start-up); this path costs well under a millisecond, and batch uses it too, so batch and online
are equal by construction. `tests/integration/test_serving_predict.py` checks it against the
pipeline.

For a few rows, or whenever contributions are asked for, the booster's trees run from lookup
tables (`ecom.churn.compiled_trees`: XGBoost's own float32 arithmetic, so the same probabilities
bit for bit, about 25 microseconds a row instead of XGBoost's 0.2 ms of per-call cost, and
TreeSHAP values tabulated from XGBoost once per model). Large batches without contributions
go through XGBoost, which is faster there; both engines give the same floats.

Given sample rows at load (`check_rows`; `ecom.churn.scoring.champion_predictor` passes the
logged model's input example), the predictor proves each engine against the logged model
before serving with it (`ecom.churn.fast_path_check`) and refuses, loudly, whichever fails:
the tables fall back to XGBoost, the array encoding to the scikit-learn pipeline itself. A
model whose calibration is not ours to read (one logged before `ecom.churn.calibration`)
serves through the pipeline from the start. `engine` names what serves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import xgboost as xgb

from ecom.churn import models as churn_models
from ecom.churn.array_form import UnsupportedModel, array_form
from ecom.churn.compiled_trees import CompiledTrees, compile_booster
from ecom.churn.fast_path_check import (
    COMPILED,
    PIPELINE,
    XGBOOST,
    FastPathCheck,
    check_fast_path,
    check_rows,
    pipeline_encoding,
)

log = logging.getLogger(__name__)

# Absolute probability bands, so "high" means the same thing on every scoring date.
RISK_BANDS = (("low", 0.0), ("medium", 0.4), ("high", 0.7), ("critical", 0.9))
# The original platform's API: high risk above 0.7; no action under 0.5, a coupon from 0.5,
# a call above 0.8.
HIGH_RISK_ABOVE = 0.7
COUPON_FROM = 0.5
CALL_ABOVE = 0.8
TOP_CONTRIBUTIONS = 3
# Up to this many rows without contributions, the compiled trees beat XGBoost's per-call cost.
COMPILED_ROWS = 256


def risk_band(probabilities: np.ndarray) -> np.ndarray:
    """The band each probability falls in (lower bounds inclusive)."""
    probabilities = np.asarray(probabilities, dtype=float)
    names = np.array([name for name, _ in RISK_BANDS], dtype=object)
    bounds = np.array([bound for _, bound in RISK_BANDS[1:]])
    return names[np.searchsorted(bounds, probabilities, side="right")]


# Population bands: where a user stands among everyone scored on the same snapshot by the same
# model, by risk percentile (lower bounds inclusive). With a base rate near 0.9 most users are
# "high" or "critical" in absolute terms; these bands always separate the top 5% from the rest.
POPULATION_BANDS = (
    ("bottom 50%", 0.0),
    ("top 20-50%", 50.0),
    ("top 5-20%", 80.0),
    ("top 5%", 95.0),
)


def population_percentile(probabilities: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Each probability's percentile (0-100) in `population` (sorted ascending): the share of
    the population scored lower, with ties counted half (mid-rank). A block of tied users gets
    one percentile, its middle, so a tie never puts part of a block in a higher band than the
    rest. Batch scoring and the service both call this with the snapshot's stored scores."""
    probabilities = np.asarray(probabilities, dtype=float)
    population = np.asarray(population, dtype=float)
    if len(population) == 0:
        raise ValueError("a percentile needs a scoring population: none was given")
    below = np.searchsorted(population, probabilities, side="left")
    at_or_below = np.searchsorted(population, probabilities, side="right")
    return 100.0 * (below + at_or_below) / (2.0 * len(population))


def population_band(percentiles: np.ndarray) -> np.ndarray:
    """The population band of each risk percentile (see POPULATION_BANDS)."""
    names = np.array([name for name, _ in POPULATION_BANDS], dtype=object)
    bounds = np.array([bound for _, bound in POPULATION_BANDS[1:]])
    return names[np.searchsorted(bounds, np.asarray(percentiles, dtype=float), side="right")]


def recommended_action(probabilities: np.ndarray) -> np.ndarray:
    """What the retention team does: nothing, a coupon, or a call."""
    probabilities = np.asarray(probabilities, dtype=float)
    return np.where(
        probabilities > CALL_ABOVE,
        "call",
        np.where(probabilities >= COUPON_FROM, "coupon", "no_action"),
    ).astype(object)


def expected_value(
    probabilities: np.ndarray, customer_ltv: float, win_back_rate: float, contact_cost: float
) -> np.ndarray:
    """Value of contacting each user: the lifetime value a contact saves minus its cost."""
    return np.asarray(probabilities, dtype=float) * customer_ltv * win_back_rate - contact_cost


@dataclass(frozen=True)
class Economics:
    """The retention economics expected value is computed with (from `Settings`)."""

    customer_ltv: float = 150.0
    win_back_rate: float = 0.30
    contact_cost: float = 10.0


class ChurnPredictor:
    """A fitted champion, replayed on arrays. Build once per model version."""

    def __init__(
        self,
        model,
        *,
        model_name: str,
        model_version: str,
        economics: Economics = Economics(),
        check_rows: pd.DataFrame | None = None,
    ) -> None:
        self.model = model  # the fitted pipeline itself, for what needs scikit-learn's interface
        self.model_name = model_name
        self.model_version = str(model_version)
        self.economics = economics
        booster_model = churn_models.inner_pipeline(model).named_steps.get("model")
        if not isinstance(booster_model, xgb.XGBClassifier):
            raise UnsupportedModel(
                f"{model_name} v{model_version} is not an XGBoost pipeline "
                f"(final step {type(booster_model).__name__})"
            )
        self.form = array_form(model)
        self.numeric, self.categorical = self.form.numeric, self.form.categorical
        booster = booster_model.get_booster().copy()
        booster.set_param({"nthread": 1})  # one row on two busy cores: 2 threads cost 16-24 ms
        self._booster = booster
        best = getattr(booster_model, "best_iteration", None)
        self._iterations = (0, int(best) + 1) if best is not None else (0, 0)
        self._compiled: CompiledTrees | None = compile_booster(
            booster, self._iterations, self.form.feature_groups
        )
        self._engine = COMPILED if self._compiled is not None else XGBOOST
        self.check: FastPathCheck | None = None
        if self.form.platt is None:
            self._refuse_arrays()
        elif check_rows is not None:
            self.verify(check_rows)

    @property
    def engine(self) -> str:
        """What serves: "compiled trees" (depth <= 3, a few rows or contributions), "xgboost",
        or, after a failed load-time check, "scikit-learn pipeline"."""
        return self._engine

    # Read by the load-time check (`ecom.churn.fast_path_check`).
    @property
    def booster(self) -> xgb.Booster:
        return self._booster

    @property
    def iterations(self) -> tuple[int, int]:
        return self._iterations

    @property
    def feature_groups(self) -> np.ndarray:
        """Encoded columns x input features (0/1): contributions @ this = per-feature sums."""
        return self.form.feature_groups

    @property
    def compiled(self) -> CompiledTrees | None:
        return self._compiled

    def verify(self, example: pd.DataFrame | None) -> FastPathCheck:
        """Check every engine against the logged model on `example`'s rows (plus all-missing
        ones) and serve with the fastest that passed; a failure is logged as a warning."""
        if self.form.platt is None:
            return self._refuse_arrays()
        rows = check_rows(example, self.numeric, self.categorical)
        self.check = check_fast_path(self, rows)
        self._engine = self.check.engine
        if not self.check.passed:
            self._warn(self.check)
        return self.check

    def _refuse_arrays(self) -> FastPathCheck:
        """Serve with the pipeline itself: the model's calibration is not ours to replay."""
        self.check = FastPathCheck(
            PIPELINE,
            0,
            (
                f"calibration: {type(self.model).__name__} keeps its sigmoid private "
                "(a model logged before ecom.churn.calibration; retrain to serve fast)",
            ),
        )
        self._engine = PIPELINE
        self._warn(self.check)
        return self.check

    def _warn(self, check: FastPathCheck) -> None:
        log.warning(
            "%s v%s: the fast path does not reproduce the logged model on %d rows (%s); "
            "serving with the %s engine instead",
            self.model_name,
            self.model_version,
            check.rows,
            "; ".join(check.failures),
            self.engine,
        )

    # ------------------------------------------------------------------ predicting

    def encode(self, features: Mapping[str, Sequence] | pd.DataFrame) -> np.ndarray:
        """The booster's input rows: casting, imputation and encoding as the pipeline does."""
        return self.form.encode(features)

    @staticmethod
    def matrix(encoded: np.ndarray) -> xgb.DMatrix:
        """The booster's input for both predictions: built once, used twice. One-row
        `DMatrix.predict` costs a third of `inplace_predict` (whose per-call config and array
        interface dominate a single row) and gives the same floats."""
        return xgb.DMatrix(encoded, nthread=1)

    def _top(self, per_feature: np.ndarray, count: int = TOP_CONTRIBUTIONS) -> list:
        top = []
        for row in per_feature:
            order = np.argsort(-row, kind="stable")[:count]
            top.append([(self.form.feature_names[i], float(row[i])) for i in order if row[i] > 0])
        return top

    def engine_scores(
        self, engine: str, encoded: np.ndarray, *, explain: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated probabilities and, with `explain`, per-feature contributions (rows x
        features) of encoded rows through one engine: the compiled tables or XGBoost itself."""
        if engine == COMPILED and self._compiled is not None:
            patterns = self._compiled.patterns(encoded)
            raw = self._compiled.probabilities(patterns)
            contributions = self._compiled.contributions_of(patterns) if explain else None
            return self.form.calibrate(raw), contributions
        matrix = self.matrix(encoded)
        raw = self._booster.predict(matrix, iteration_range=self._iterations)
        return self.form.calibrate(raw), self._contributions(matrix) if explain else None

    def _contributions(self, matrix: xgb.DMatrix) -> np.ndarray:
        contributions = self._booster.predict(
            matrix, pred_contribs=True, iteration_range=self._iterations
        )[:, :-1]  # the last column is the bias
        return contributions @ self.form.feature_groups

    def scores(
        self, encoded: np.ndarray, *, explain: bool
    ) -> tuple[np.ndarray, list[list[tuple[str, float]]] | None]:
        """Calibrated probabilities and, with `explain`, per row the features pushing the
        score up most: exact TreeSHAP values (`pred_contribs`, log-odds of the uncalibrated
        booster), summed per input feature."""
        if len(encoded) == 0:
            return np.array([], dtype=float), [] if explain else None
        tables = self._engine == COMPILED and (explain or len(encoded) <= COMPILED_ROWS)
        probability, per_feature = self.engine_scores(
            COMPILED if tables else XGBOOST, encoded, explain=explain
        )
        return probability, self._top(per_feature) if per_feature is not None else None

    def _pipeline_scores(
        self, features: Mapping[str, Sequence] | pd.DataFrame, *, explain: bool
    ) -> tuple[np.ndarray, list[list[tuple[str, float]]] | None]:
        """What `scores` answers, from the logged pipeline itself: its `predict_proba` and its
        own encoding for the contributions (the engine after a failed load-time check)."""
        columns = [*self.numeric, *self.categorical]
        frame = pd.DataFrame({column: list(features[column]) for column in columns})
        probability = churn_models.predict_churn(self.model, frame)
        if not explain or len(frame) == 0:
            return probability, None
        cast = churn_models.feature_matrix(frame, self.numeric, self.categorical)
        encoded = pipeline_encoding(self.model, cast)
        return probability, self._top(self._contributions(self.matrix(encoded)))

    def predict(
        self,
        features: Mapping[str, Sequence] | pd.DataFrame,
        *,
        features_as_of: Sequence[date] | date | None = None,
        explain: bool = True,
    ) -> Predictions:
        """Every answer for each input row, in input order (see `Predictions`)."""
        if self._engine == PIPELINE:
            probability, top = self._pipeline_scores(features, explain=explain)
        else:
            probability, top = self.scores(self.encode(features), explain=explain)
        rows = len(probability)
        if isinstance(features_as_of, date) or features_as_of is None:
            as_of = [features_as_of] * rows
        else:
            as_of = list(features_as_of)
        return Predictions(
            user_id=np.asarray(features["user_id"], dtype="int64")
            if "user_id" in features
            else np.arange(rows, dtype="int64"),
            churn_probability=probability,
            risk_band=risk_band(probability),
            is_high_risk=probability > HIGH_RISK_ABOVE,
            recommended_action=recommended_action(probability),
            expected_value=expected_value(
                probability,
                self.economics.customer_ltv,
                self.economics.win_back_rate,
                self.economics.contact_cost,
            ),
            model_name=self.model_name,
            model_version=self.model_version,
            features_as_of=as_of,
            top_contributions=top,
        )


@dataclass(frozen=True)
class Predictions:
    """What `ChurnPredictor.predict` answers, column-wise (cheap to build for one row)."""

    user_id: np.ndarray
    churn_probability: np.ndarray
    risk_band: np.ndarray
    is_high_risk: np.ndarray
    recommended_action: np.ndarray
    expected_value: np.ndarray
    model_name: str
    model_version: str
    features_as_of: list
    top_contributions: list[list[tuple[str, float]]] | None = None

    def __len__(self) -> int:
        return len(self.churn_probability)

    def frame(self) -> pd.DataFrame:
        columns = {
            "user_id": self.user_id,
            "churn_probability": self.churn_probability,
            "risk_band": self.risk_band,
            "is_high_risk": self.is_high_risk,
            "recommended_action": self.recommended_action,
            "expected_value": self.expected_value,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "features_as_of": self.features_as_of,
        }
        if self.top_contributions is not None:
            columns["top_contributions"] = self.top_contributions
        return pd.DataFrame(columns)
