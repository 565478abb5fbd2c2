"""The uplift champion's point effect without econml's per-call cost, proved at load.

econml's `effect` on one row costs about 7 ms (input checks, treatment expansion, sklearn
wrappers); the fitted learner is a few XGBoost boosters combined by a fixed formula, which
cost about 0.4 ms each called directly, and tens of microseconds as the churn model's lookup
tables (depth <= 3, as `ecom.targeting.models` fits them). `effect_form` derives that formula in one place from the
learners' public fitted attributes:

- DR-learner: the effect of the one treatment is `fitted_models_final[0]`'s prediction;
- X-learner: with p the `propensity_models[0]` probability of treatment, the effect is
  p x `cate_controls_models[0]` + (1 - p) x `cate_treated_models[0]` (Kunzel et al.; econml's
  `const_marginal_effect`), in the boosters' float32 as econml computes it.

`FastEffect.verify` compares the form with the learner's own `effect` on sample rows (real
feature rows plus all-missing ones) to `EFFECT_TOLERANCE`; on any mismatch, or a learner the
form cannot replay, it serves through econml and logs a warning saying why.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecom.churn.compiled_trees import CompiledTrees, compile_booster
from ecom.targeting.models import UpliftModel

log = logging.getLogger(__name__)

EFFECT_TOLERANCE = 1e-9
BOOSTERS, ECONML = "xgboost boosters", "econml"


class UnsupportedLearner(TypeError):
    """The learner is not one whose effect the form can replay exactly."""


@dataclass(frozen=True)
class BoosterPredictor:
    """One fitted XGBoost model as its booster: what its `predict` (a regressor) or positive
    class probability (a binary classifier) gives, without the sklearn wrapper; through the
    churn model's lookup tables (`ecom.churn.compiled_trees`, bit for bit XGBoost's float32)
    when its trees are shallow enough, else XGBoost's `inplace_predict` (about 0.4 ms a call)."""

    booster: object
    iterations: tuple[int, int]
    missing: float
    compiled: CompiledTrees | None = None

    @classmethod
    def of(cls, model) -> BoosterPredictor:
        if not hasattr(model, "get_booster"):
            raise UnsupportedLearner(f"{type(model).__name__} is not an XGBoost model")
        if getattr(model, "n_classes_", 2) != 2:
            raise UnsupportedLearner(f"{type(model).__name__} has {model.n_classes_} classes")
        best = getattr(model, "best_iteration", None)
        booster = model.get_booster().copy()
        booster.set_param({"nthread": 1})  # one row on two busy cores: threads cost more
        iterations = (0, int(best) + 1) if best is not None else (0, 0)
        missing = float(model.missing)
        compiled = None
        if np.isnan(missing):  # the tables route NaN as missing, nothing else
            compiled = compile_booster(booster, iterations, np.eye(booster.num_features()))
        return cls(booster, iterations, missing, compiled)

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.compiled is not None:
            return self.compiled.outputs(self.compiled.patterns(x))
        return self.booster.inplace_predict(
            x, iteration_range=self.iterations, missing=self.missing, validate_features=False
        )


@dataclass(frozen=True)
class EffectForm:
    """The learner's effect as boosters: the DR-learner's final model, or the X-learner's
    propensity and two CATE models."""

    learner_name: str
    final: BoosterPredictor | None = None
    propensity: BoosterPredictor | None = None
    cate_controls: BoosterPredictor | None = None
    cate_treated: BoosterPredictor | None = None

    def effect(self, x: np.ndarray) -> np.ndarray:
        if self.final is not None:
            return np.asarray(self.final.predict(x), dtype=float).ravel()
        rows = x.shape[0]
        propensity = self.propensity.predict(x).reshape(rows, -1)
        controls = self.cate_controls.predict(x).reshape(rows, -1)
        treated = self.cate_treated.predict(x).reshape(rows, -1)
        return np.asarray(propensity * controls + (1 - propensity) * treated, dtype=float).ravel()


def _single(models, what: str):
    models = list(models)
    if len(models) != 1:
        raise UnsupportedLearner(f"{what}: {len(models)} fitted models, one treatment expected")
    return BoosterPredictor.of(models[0])


def effect_form(model: UpliftModel) -> EffectForm:
    """The form of `model`'s learner; `UnsupportedLearner` when it cannot be replayed."""
    learner = model.learner
    if model.learner_name == "dr_learner":
        if getattr(learner, "featurizer_", None) is not None:
            raise UnsupportedLearner("dr_learner: a featurizer transforms X before the final model")
        return EffectForm(model.learner_name, final=_single(learner.fitted_models_final, "final"))
    if model.learner_name == "x_learner":
        return EffectForm(
            model.learner_name,
            propensity=_single(learner.propensity_models, "propensity"),
            cate_controls=_single(learner.cate_controls_models, "cate_controls"),
            cate_treated=_single(learner.cate_treated_models, "cate_treated"),
        )
    raise UnsupportedLearner(f"no array form for learner {model.learner_name!r}")


def check_rows(model: UpliftModel, sample: pd.DataFrame | None) -> pd.DataFrame:
    """`sample`'s feature columns plus as many rows with every value missing (one without a
    sample), so the missing-value routes are proved too."""
    names = [*model.encoding.numeric, *model.encoding.categorical]
    count = 1 if sample is None or len(sample) == 0 else len(sample)
    blank = pd.DataFrame({name: [None] * count for name in names}, dtype=object)
    if sample is None or len(sample) == 0:
        return blank
    return pd.concat([sample[names].astype(object), blank], ignore_index=True)


class FastEffect:
    """An `UpliftModel` answering `effect` through its boosters once proved equal to econml
    (`engine` says which serves); `effect_interval` stays the model's own (the bag)."""

    def __init__(self, model: UpliftModel, sample: pd.DataFrame | None = None) -> None:
        self.model = model
        self.engine = ECONML
        self.failures: tuple[str, ...] = ()
        self.rows_checked = 0
        try:
            self.form: EffectForm | None = effect_form(model)
        except UnsupportedLearner as error:
            self.form = None
            self._refuse(f"{type(error).__name__}: {error}")
        else:
            self.verify(sample)

    def verify(self, sample: pd.DataFrame | None) -> bool:
        """Serve with the boosters only if they give econml's effect on `sample` (+ blanks)."""
        if self.form is None:
            return False
        rows = check_rows(self.model, sample)
        self.rows_checked = len(rows)
        x = self.model.encoding.transform(rows)
        want = np.asarray(self.model.learner.effect(x), dtype=float).ravel()
        got = self.form.effect(x)
        gap = np.abs(got - want) if got.shape == want.shape else np.array([np.inf])
        worst = float(np.nanmax(np.where(np.isnan(gap), np.inf, gap), initial=0.0))
        if worst > EFFECT_TOLERANCE:
            self._refuse(f"effect off by {worst:.3g} on {len(rows)} rows")
            return False
        self.engine, self.failures = BOOSTERS, ()
        return True

    def _refuse(self, why: str) -> None:
        self.engine, self.failures = ECONML, (why,)
        log.warning(
            "uplift %s: the booster fast path does not reproduce econml's effect (%s); "
            "serving with econml instead",
            self.model.learner_name,
            why,
        )

    def effect(self, features: Mapping[str, Sequence] | pd.DataFrame) -> np.ndarray:
        x = self.model.encoding.transform(features)
        if self.engine == BOOSTERS and self.form is not None:
            return self.form.effect(x)
        return np.asarray(self.model.learner.effect(x), dtype=float).ravel()

    def effect_interval(
        self, features: pd.DataFrame, confidence: float = 0.8
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.model.effect_interval(features, confidence)
