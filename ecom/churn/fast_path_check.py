"""The proof, at model load, that `ChurnPredictor`'s fast path is the logged model.

The predictor replays the fitted pipeline on arrays and the booster from lookup tables; both
are reconstructions, so each model is checked before it serves: on sample rows (the logged
model's own input example, real rows from its test set, plus each row with every value
missing, so imputation and the `unknown` category are exercised too) the fast path must give
the logged model's own `predict_proba` to `PROBABILITY_TOLERANCE`, the pipeline's own encoding
exactly, and XGBoost's own `pred_contribs` to `CONTRIBUTION_TOLERANCE`. Whichever engine fails
is refused: failing tables fall back to XGBoost, a failing encoding or booster path to the
scikit-learn pipeline itself (slow, but the model). The predictor logs the failure as a
warning and names the engine it serves with (`ChurnPredictor.engine`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ecom.churn import models as churn_models

if TYPE_CHECKING:
    from ecom.churn.predict import ChurnPredictor

PROBABILITY_TOLERANCE = 1e-9
# XGBoost adds TreeSHAP values in float32 inside each call; the tables add per-tree values in
# float64, so the two agree to float32 rounding summed over the trees, not to 1e-9.
CONTRIBUTION_TOLERANCE = 1e-4

COMPILED, XGBOOST, PIPELINE = "compiled trees", "xgboost", "scikit-learn pipeline"


@dataclass(frozen=True)
class FastPathCheck:
    """What the load-time check found: the engine to serve with and every failed comparison."""

    engine: str
    rows: int
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def check_rows(example: pd.DataFrame | None, numeric: list[str], categorical: list[str]):
    """The rows to check on: the example's rows, then each again with every value missing
    (one all-missing row when there is no example)."""
    count = 1 if example is None else max(len(example), 1)
    blank = pd.DataFrame(
        {
            **{name: np.full(count, np.nan) for name in numeric},
            **{name: np.full(count, None, dtype=object) for name in categorical},
        }
    )
    if example is None or len(example) == 0:
        return blank
    rows = churn_models.feature_matrix(example, numeric, categorical)
    return pd.concat([rows, blank.astype(rows.dtypes.to_dict())], ignore_index=True)


def pipeline_encoding(model, frame: pd.DataFrame) -> np.ndarray:
    """The booster's input rows as the logged pipeline makes them: every step before the
    booster that transforms (a sampler such as SMOTE only acts in training)."""
    encoded = frame
    for _, step in churn_models.inner_pipeline(model).steps[:-1]:
        if hasattr(step, "transform"):
            encoded = step.transform(encoded)
    return np.asarray(encoded, dtype="float64")


def _far(got: np.ndarray, want: np.ndarray, tolerance: float) -> float | None:
    """The largest difference when it exceeds `tolerance` (NaN where the other has a number
    counts as infinite); None when within."""
    got, want = np.asarray(got, dtype="float64"), np.asarray(want, dtype="float64")
    if got.shape != want.shape:
        return float("inf")
    both_nan = np.isnan(got) & np.isnan(want)
    gap = np.where(both_nan, 0.0, np.abs(got - want))
    worst = float(np.nanmax(np.where(np.isnan(gap), np.inf, gap), initial=0.0))
    return worst if worst > tolerance else None


def check_fast_path(predictor: ChurnPredictor, rows: pd.DataFrame) -> FastPathCheck:
    """Compare every engine of `predictor` with the logged model on `rows`; the result names
    the fastest engine that passed."""
    import xgboost as xgb

    model = predictor.model
    numeric, categorical = predictor.numeric, predictor.categorical
    cast = churn_models.feature_matrix(rows, numeric, categorical)
    expected = churn_models.churn_probability(model, cast)
    encoded = pipeline_encoding(model, cast)
    contributions = (
        predictor.booster.predict(
            xgb.DMatrix(encoded, nthread=1),
            pred_contribs=True,
            iteration_range=predictor.iterations,
        )[:, :-1]
        @ predictor.feature_groups
    )
    failures: list[str] = []

    def compare(engine: str, what: str, got, want, tolerance: float) -> bool:
        worst = _far(got, want, tolerance)
        if worst is not None:
            failures.append(f"{engine}: {what} off by {worst:.3g} (tolerance {tolerance:g})")
        return worst is None

    ours = predictor.encode(rows)
    engine = PIPELINE
    tolerance = PROBABILITY_TOLERANCE
    if compare(
        "array encoding", "encoded rows vs the pipeline's transform", ours, encoded, tolerance
    ):
        probability, per_feature = predictor.engine_scores(XGBOOST, ours)
        right = compare(XGBOOST, "P(churn) vs predict_proba", probability, expected, tolerance)
        explained = compare(
            XGBOOST, "contributions vs pred_contribs", per_feature, contributions, tolerance
        )
        engine = XGBOOST if right and explained else PIPELINE
    if engine == XGBOOST and predictor.compiled is not None:
        probability, per_feature = predictor.engine_scores(COMPILED, ours)
        right = compare(COMPILED, "P(churn) vs predict_proba", probability, expected, tolerance)
        explained = compare(
            COMPILED,
            "contributions vs pred_contribs",
            per_feature,
            contributions,
            CONTRIBUTION_TOLERANCE,
        )
        engine = COMPILED if right and explained else XGBOOST
    return FastPathCheck(engine, len(rows), tuple(failures))
