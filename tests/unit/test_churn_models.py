import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ecom.churn import models as churn_models


def planted(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Churn rises with recency; `country` is noise; a fifth of recencies are NULL."""
    rng = np.random.default_rng(seed)
    recency = rng.uniform(0, 200, n)
    churned = (rng.uniform(size=n) < 1 / (1 + np.exp(-(recency - 100) / 15))).astype(int)
    frame = pd.DataFrame(
        {
            "recency_days": np.where(rng.uniform(size=n) < 0.2, np.nan, recency),
            "frequency_orders": pd.array(rng.integers(0, 5, n), dtype="Int32"),
            "country": rng.choice(["Brasil", "China", None], n),
        }
    )
    return frame, churned


def test_feature_matrix_casts_like_training():
    frame = pd.DataFrame(
        {"a": pd.array([1, None], dtype="Int32"), "b": ["x", None], "c": [0.5, np.nan]}
    )
    numeric, categorical = churn_models.split_columns(frame, ["a", "b", "c"])
    assert (numeric, categorical) == (["a", "c"], ["b"])
    matrix = churn_models.feature_matrix(frame, numeric, categorical)
    assert matrix["a"].dtype == "float64" and np.isnan(matrix.loc[1, "a"])
    assert matrix.loc[1, "b"] is None


@pytest.mark.parametrize("variant", churn_models.XGBOOST_VARIANTS)
def test_xgboost_variants_learn_the_planted_signal(variant):
    train, y_train = planted(1500, 1)
    validation, y_validation = planted(600, 2)
    test, y_test = planted(600, 3)
    numeric, categorical = churn_models.split_columns(train, list(train.columns))
    params = churn_models.XGBoostParams(n_estimators=60, n_jobs=1)
    rows = churn_models.FitRows(train, y_train, validation, y_validation, numeric, categorical)
    fitted = churn_models.fit_xgboost(variant, rows, params)
    probabilities = churn_models.predict_churn(fitted.model, test)
    assert len(probabilities) == len(test)  # SMOTE never adds rows at predict time
    assert roc_auc_score(y_test, probabilities) > 0.8
    assert churn_models.model_input_columns(fitted.model) == (numeric, categorical)
    if variant == churn_models.XGB_WEIGHTED:
        assert fitted.params["scale_pos_weight"] == pytest.approx(
            (len(y_train) - y_train.sum()) / y_train.sum()
        )


def test_predict_names_missing_columns():
    train, y = planted(400, 4)
    numeric, categorical = churn_models.split_columns(train, list(train.columns))
    fitted = churn_models.fit_baseline(
        churn_models.FitRows(train, y, train, y, numeric, categorical)
    )
    with pytest.raises(ValueError, match="country"):
        churn_models.predict_churn(fitted.model, train.drop(columns=["country"]))


def test_the_leaf_weight_scales_with_the_training_rows_up_to_the_tuned_value() -> None:
    params = churn_models.XGBoostParams()
    assert params.for_rows(400_000).min_child_weight == params.min_child_weight == 100.0
    assert params.for_rows(20_000).min_child_weight == 10.0
    assert params.for_rows(500).min_child_weight == 1.0
    assert params.for_rows(20_000).max_depth == params.max_depth
