"""The uplift candidates: econml meta-learners on XGBoost base learners, with their encoding.

An `UpliftModel` is what MLflow stores and what targeting loads: the feature names, the
category vocabularies it encoded text with, the fitted learner, and a small bag of learners
refitted on bootstrap resamples whose spread is each user's effect interval (meta-learners on
trees have no analytic interval). The X-learner suits unequal arms and small effects; the
DR-learner is doubly robust when either the outcome or the propensity model is right. Which one
wins is decided on validation users, never on the test users that report the score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from xgboost import XGBClassifier, XGBRegressor

from ecom.churn.array_form import is_missing, numeric_matrix

CANDIDATES = ("x_learner", "dr_learner")
MISSING_CATEGORY = -1


def _regressor(seed: int) -> XGBRegressor:
    # Shallow, strongly regularised trees: campaign outcomes are rare and the effect is a
    # small difference of two noisy probabilities.
    return XGBRegressor(
        n_estimators=150,
        max_depth=3,
        learning_rate=0.05,
        min_child_weight=20,
        subsample=0.8,
        n_jobs=1,
        tree_method="hist",
        random_state=seed,
    )


def _classifier(seed: int) -> XGBClassifier:
    return XGBClassifier(
        n_estimators=60, max_depth=2, learning_rate=0.1, n_jobs=1, random_state=seed
    )


def build_learner(name: str, seed: int = 0):
    """A fresh econml learner of the named kind."""
    from econml.dr import DRLearner
    from econml.metalearners import XLearner

    if name == "x_learner":
        return XLearner(
            models=_regressor(seed),
            cate_models=_regressor(seed + 1),
            propensity_model=_classifier(seed + 2),
            allow_missing=True,
        )
    if name == "dr_learner":
        return DRLearner(
            model_propensity=_classifier(seed),
            model_regression=_regressor(seed + 1),
            model_final=_regressor(seed + 2),
            cv=2,
            random_state=seed,
            allow_missing=True,
        )
    raise ValueError(f"unknown uplift learner {name!r}; one of {', '.join(CANDIDATES)}")


@dataclass
class FeatureEncoding:
    """Numbers as floats (NaN kept: XGBoost routes it), text as codes of the training vocabulary."""

    numeric: list[str]
    categorical: list[str]
    vocabularies: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame, numeric: list[str], categorical: list[str]):
        vocabularies = {
            name: sorted(frame[name].dropna().astype(str).unique().tolist()) for name in categorical
        }
        return cls(list(numeric), list(categorical), vocabularies)

    @cached_property
    def _codes(self) -> dict[str, dict[str, int]]:
        """Per text feature, category -> code (its place in the vocabulary)."""
        return {
            name: {v: i for i, v in enumerate(vocab)} for name, vocab in self.vocabularies.items()
        }

    def transform(self, frame: Mapping[str, Sequence] | pd.DataFrame) -> np.ndarray:
        """The learner's input rows, from a frame or from columns of plain lists (the online
        read), without building a frame: one row through pandas cost more than the effect.
        Numbers are cast as `pd.to_numeric(errors="coerce")` does (the churn array form's
        `numeric_matrix`); a text outside the vocabulary or missing is `MISSING_CATEGORY`."""
        missing = [name for name in (*self.numeric, *self.categorical) if name not in frame]
        if missing:
            raise KeyError(f"uplift features missing from the frame: {missing}")
        numeric = numeric_matrix(frame, self.numeric)
        codes = self._codes
        columns = [numeric]
        for name in self.categorical:
            values = frame[name]
            values = values.tolist() if hasattr(values, "tolist") else list(values)
            vocabulary = codes[name]
            columns.append(
                np.array(
                    [
                        MISSING_CATEGORY
                        if is_missing(v)
                        else vocabulary.get(str(v), MISSING_CATEGORY)
                        for v in values
                    ],
                    dtype="float64",
                ).reshape(-1, 1)
            )
        return np.hstack(columns)


@dataclass
class UpliftModel:
    """A fitted learner plus its encoding and its bootstrap bag."""

    learner_name: str
    encoding: FeatureEncoding
    learner: object
    bag: list = field(default_factory=list)

    def effect(self, frame: pd.DataFrame) -> np.ndarray:
        """Estimated effect of a contact on converting in the horizon, one per row."""
        return np.asarray(self.learner.effect(self.encoding.transform(frame)), dtype=float).ravel()

    def effect_interval(
        self, frame: pd.DataFrame, confidence: float = 0.8
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the spread of the bag's effects (percentiles); the point estimate when no bag."""
        x = self.encoding.transform(frame)
        if not self.bag:
            point = np.asarray(self.learner.effect(x), dtype=float).ravel()
            return point, point
        draws = np.column_stack([np.asarray(m.effect(x), dtype=float).ravel() for m in self.bag])
        tail = (1.0 - confidence) / 2.0 * 100.0
        return np.percentile(draws, tail, axis=1), np.percentile(draws, 100.0 - tail, axis=1)


def fit_learner(
    name: str,
    x: np.ndarray,
    treated: np.ndarray,
    converted: np.ndarray,
    controls: np.ndarray | None = None,
    seed: int = 0,
):
    """Fit one econml learner; `controls` (the campaign's share) only where the learner takes W."""
    learner = build_learner(name, seed)
    y = np.asarray(converted, dtype=float)
    t = np.asarray(treated, dtype=int)
    if name == "dr_learner" and controls is not None:
        learner.fit(y, t, X=x, W=controls)
    else:
        learner.fit(y, t, X=x)
    return learner


def fit_uplift_model(
    name: str,
    frame: pd.DataFrame,
    encoding: FeatureEncoding,
    *,
    bag_size: int = 0,
    seed: int = 0,
) -> UpliftModel:
    """Fit `name` on a campaign frame (is_treated, converted, treatment_share + features)."""
    x = encoding.transform(frame)
    treated = frame["is_treated"].to_numpy()
    converted = frame["converted"].to_numpy()
    controls = frame[["treatment_share"]].to_numpy(dtype=float)
    learner = fit_learner(name, x, treated, converted, controls, seed)
    rng = np.random.default_rng(seed)
    bag = []
    for member in range(bag_size):
        rows = rng.integers(0, len(frame), len(frame))
        bag.append(
            fit_learner(
                name, x[rows], treated[rows], converted[rows], controls[rows], seed + 10 + member
            )
        )
    return UpliftModel(name, encoding, learner, bag)
