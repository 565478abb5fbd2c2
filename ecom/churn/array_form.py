"""The fitted champion's preprocessing and calibration as plain arrays, derived in one place.

`ChurnPredictor` scores without scikit-learn's per-call cost (about 18 ms for one row) by
replaying the fitted steps on arrays: the imputer's medians and missing indicators, the
one-hot encoder's category -> column map, and Platt's sigmoid. Everything here is read from
the fitted objects' public, documented attributes (`statistics_`, `indicator_.features_`,
`mean_`/`scale_`, `categories_`, `infrequent_categories_`, `get_feature_names_out()`, and our
own calibrator's `slope_`/`intercept_`), and the one-hot layout is cross-checked against the
encoder's own output names, so a scikit-learn release that changes it is refused here (and
the load-time check in `ecom.churn.fast_path_check` compares the encoding on real rows too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecom.churn import models as churn_models
from ecom.churn.calibration import PlattCalibratedClassifier, PlattScaling

# The categorical imputer's fill value in `models.preprocessor`: a missing text is this.
MISSING_TEXT = "unknown"
# The column scikit-learn's encoder groups a feature's infrequent categories into (last).
INFREQUENT = "infrequent_sklearn"


class UnsupportedModel(TypeError):
    """The model is not a calibrated XGBoost pipeline from `ecom.churn.models`."""


@dataclass(frozen=True)
class ArrayForm:
    """The fitted preprocessing and calibration of one model, as arrays."""

    numeric: list[str]
    categorical: list[str]
    numeric_kept: np.ndarray  # numeric inputs the imputer keeps (all-NULL in training: dropped)
    medians: np.ndarray  # the imputer's fill value of each kept column
    indicators: np.ndarray  # numeric inputs that get a missing-indicator column
    scale: tuple[np.ndarray, np.ndarray] | None  # (mean, scale) when the pipeline standardises
    category_columns: tuple[dict[object, int], ...]  # per text input: category -> one-hot column
    categorical_width: int  # one-hot columns in all
    feature_names: list[str]  # the input features contributions are reported for
    feature_groups: np.ndarray  # encoded columns x features (0/1): which feature each encodes
    # None: calibrated by something whose sigmoid is not public (scikit-learn's
    # CalibratedClassifierCV, in models logged before `ecom.churn.calibration`), so only the
    # pipeline itself can give the model's probabilities.
    platt: PlattScaling | None

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated P(churn) of the booster's probabilities (as the model's `predict_proba`)."""
        if self.platt is None:
            raise UnsupportedModel("this model's calibration is not readable from its arrays")
        return self.platt.probability(raw)

    def encode(self, features: Mapping[str, Sequence] | pd.DataFrame) -> np.ndarray:
        """The booster's input rows: casting, imputation and encoding as the pipeline does."""
        missing = [c for c in (*self.numeric, *self.categorical) if c not in features]
        if missing:
            raise ValueError(f"feature column(s) missing for the model: {', '.join(missing)}")
        numeric = numeric_matrix(features, self.numeric)
        kept = numeric[:, self.numeric_kept]
        imputed = np.where(np.isnan(kept), self.medians, kept)
        if self.scale is not None:
            imputed = (imputed - self.scale[0]) / self.scale[1]
        indicators = np.isnan(numeric[:, self.indicators]).astype("float64")
        one_hot = np.zeros((numeric.shape[0], self.categorical_width))
        for name, mapping in zip(self.categorical, self.category_columns, strict=True):
            values = features[name]
            values = values.tolist() if hasattr(values, "tolist") else list(values)
            for row, value in enumerate(values):
                column = mapping.get(MISSING_TEXT if is_missing(value) else value)
                if column is not None:
                    one_hot[row, column] = 1.0
        return np.hstack([imputed, indicators, one_hot])


def array_form(model) -> ArrayForm:
    """The array form of a fitted candidate from `ecom.churn.models`."""
    numeric, categorical = churn_models.model_input_columns(model)
    transform = churn_models.inner_pipeline(model).named_steps["preprocess"]
    numeric_kept, medians, indicators, scale = _numeric_steps(transform)
    if categorical:
        encoder = transform.named_transformers_["categorical"].named_steps["one_hot"]
        category_columns, categorical_width = one_hot_columns(encoder, categorical)
    else:
        category_columns, categorical_width = (), 0
    sources = [numeric[i] for i in numeric_kept] + [numeric[i] for i in indicators]
    by_column = {
        column: name
        for name, mapping in zip(categorical, category_columns, strict=True)
        for column in mapping.values()
    }
    sources += [by_column[column] for column in range(categorical_width)]
    feature_names = list(dict.fromkeys(sources))
    feature_groups = np.zeros((len(sources), len(feature_names)))
    for column, source in enumerate(sources):
        feature_groups[column, feature_names.index(source)] = 1.0
    return ArrayForm(
        numeric=numeric,
        categorical=categorical,
        numeric_kept=numeric_kept,
        medians=medians,
        indicators=indicators,
        scale=scale,
        category_columns=category_columns,
        categorical_width=categorical_width,
        feature_names=feature_names,
        feature_groups=feature_groups,
        platt=_platt(model),
    )


def _numeric_steps(transform) -> tuple:
    """(kept columns, their medians, indicator columns, (mean, scale) or None)."""
    numeric_pipeline = transform.named_transformers_["numeric"]
    imputer = numeric_pipeline.named_steps["impute"]
    medians = np.asarray(imputer.statistics_, dtype="float64")
    # The imputer drops columns that were all-NULL in training (NaN median).
    kept = np.flatnonzero(~np.isnan(medians))
    indicator = getattr(imputer, "indicator_", None)  # None without add_indicator
    indicators = np.asarray(indicator.features_ if indicator is not None else [], dtype=int)
    scaler = numeric_pipeline.named_steps.get("scale")
    scale = (scaler.mean_, scaler.scale_) if scaler is not None else None
    return kept, medians[kept], indicators, scale


def one_hot_columns(encoder, features: list[str]) -> tuple[tuple[dict[object, int], ...], int]:
    """Each (feature, category) -> its output column of a fitted `OneHotEncoder`, and the
    number of columns. The layout is scikit-learn's documented one: a block per feature in
    input order, its frequent categories in `categories_` order, then one column for all its
    `infrequent_categories_`. Refused unless it reproduces `get_feature_names_out()` exactly."""
    if getattr(encoder, "drop_idx_", None) is not None:
        raise UnsupportedModel("the one-hot encoder drops a category: not replayed here")
    infrequent = getattr(encoder, "infrequent_categories_", None) or [None] * len(features)
    columns: list[dict[object, int]] = []
    names: list[str] = []
    for feature, categories, rare in zip(features, encoder.categories_, infrequent, strict=True):
        rare = set() if rare is None else set(rare.tolist())
        frequent = [category for category in categories.tolist() if category not in rare]
        mapping = {category: len(names) + i for i, category in enumerate(frequent)}
        mapping.update({category: len(names) + len(frequent) for category in rare})
        columns.append(mapping)
        names += [f"{feature}_{category}" for category in frequent]
        names += [f"{feature}_{INFREQUENT}"] if rare else []
    encoder_names = [str(name) for name in encoder.get_feature_names_out(features)]
    if encoder_names != names:
        raise UnsupportedModel(
            "the one-hot encoder's output columns are not laid out as expected: "
            f"derived {names[:6]}..., the encoder says {encoder_names[:6]}..."
        )
    return tuple(columns), len(names)


def _platt(model) -> PlattScaling | None:
    """The model's Platt sigmoid, when it is ours (`PlattCalibratedClassifier`) and applied to
    the booster's probability."""
    if not isinstance(model, PlattCalibratedClassifier):
        return None
    if model.response_method_ != "predict_proba":
        raise UnsupportedModel(f"calibrated on the {model.response_method_}, not a probability")
    return model.platt


def is_missing(value: object) -> bool:
    """A NULL as the frame or the online read gives it: None, pandas' NA or a float NaN."""
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _numeric_column(values: Sequence | np.ndarray | pd.Series) -> np.ndarray:
    """As float, NULL/NA/garbage -> NaN: what `models.feature_matrix` does (pd.to_numeric)."""
    try:
        return np.asarray(values, dtype="float64")
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(values), errors="coerce").astype("float64").to_numpy()


def numeric_matrix(features: Mapping[str, Sequence] | pd.DataFrame, columns) -> np.ndarray:
    """The numeric columns as one float matrix (rows x columns), as `pd.to_numeric(...,
    errors="coerce")` casts them (the uplift encoding uses it too): one conversion when every
    value is already a number (the usual row), else column by column (a None, an NA or text
    among them, or values that do not stack into rows)."""
    try:
        numeric = np.array([features[c] for c in columns], dtype="float64").T
        if numeric.ndim == 2:
            return numeric
    except (TypeError, ValueError):
        pass
    return np.column_stack([_numeric_column(features[c]) for c in columns])
