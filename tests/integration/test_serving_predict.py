"""`ChurnPredictor` (the array path batch and the service share) equals the fitted pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecom.churn import models as churn_models
from ecom.churn.predict import ChurnPredictor, recommended_action


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Churn rises with recency; text with NULLs, literal "NA"/"None", a rare and (at predict
    time) an unseen category; integers arrive nullable, as Feast returns them."""
    rng = np.random.default_rng(seed)
    recency = rng.uniform(0, 200, n)
    churned = (rng.uniform(size=n) < 1 / (1 + np.exp(-(recency - 100) / 15))).astype(int)
    gender = rng.choice(
        ["F", "M", "NA", "None", None, f"rare{seed}"], n, p=[0.4, 0.4, 0.06, 0.06, 0.07, 0.01]
    )
    frame = pd.DataFrame(
        {
            "user_id": np.arange(n),
            "recency_days": np.where(rng.uniform(size=n) < 0.2, np.nan, recency),
            "frequency_orders": pd.array(rng.integers(0, 5, n), dtype="Int32"),
            "always_null": np.full(n, np.nan),
            "gender": gender,
            "country": rng.choice(["Brasil", "China", None], n),
        }
    )
    return frame, churned


@pytest.mark.parametrize("variant", churn_models.XGBOOST_VARIANTS)
def test_the_array_path_equals_the_pipeline(variant):
    train, y_train = _frame(1500, 1)
    validation, y_validation = _frame(600, 2)
    test, _ = _frame(600, 3)
    columns = ["recency_days", "frequency_orders", "always_null", "gender", "country"]
    numeric, categorical = churn_models.split_columns(train, columns)
    fitted = churn_models.fit_xgboost(
        variant, train[columns], y_train, validation[columns], y_validation, numeric,
        categorical, churn_models.XGBoostParams(n_estimators=80, n_jobs=1),
    )  # fmt: skip
    predictor = ChurnPredictor(fitted.model, model_name="m", model_version="3")
    assert predictor.engine == "compiled trees"  # depth 3: the tables answer small batches
    reference = churn_models.churn_probability(fitted.model, test[columns])
    predictions = predictor.predict(test)  # contributions asked: the compiled trees
    np.testing.assert_allclose(predictions.churn_probability, reference, rtol=0, atol=1e-12)
    # Without contributions, 600 rows go through XGBoost itself: the same floats.
    np.testing.assert_array_equal(
        predictor.predict(test, explain=False).churn_probability, predictions.churn_probability
    )
    # One row at a time, from plain lists as the service passes them: the same numbers.
    row = {name: test[name].iloc[[7]].tolist() for name in [*columns, "user_id"]}
    assert predictor.predict(row).churn_probability[0] == pytest.approx(reference[7], abs=1e-12)
    # A NULL text is the imputer's "unknown", not a category of its own.
    with_null = test.iloc[[0]].assign(gender=None)
    with_nan = test.iloc[[0]].assign(gender=np.nan)
    assert predictor.predict(with_null).churn_probability[0] == pytest.approx(
        predictor.predict(with_nan).churn_probability[0], abs=0
    )
    frame = predictions.frame()
    assert list(frame["user_id"]) == list(test["user_id"])
    assert (frame["model_version"] == "3").all()
    assert all(len(top) <= 3 and all(v > 0 for _, v in top) for top in frame["top_contributions"])


def test_contributions_are_xgboost_pred_contribs_summed_per_feature():
    import xgboost as xgb

    train, y = _frame(1200, 4)
    columns = ["recency_days", "frequency_orders", "gender", "country"]
    numeric, categorical = churn_models.split_columns(train, columns)
    fitted = churn_models.fit_xgboost(
        churn_models.XGB_PLAIN, train[columns], y, train[columns], y, numeric, categorical,
        churn_models.XGBoostParams(n_estimators=60, n_jobs=1),
    )  # fmt: skip
    predictor = ChurnPredictor(fitted.model, model_name="m", model_version="1")
    pipeline = churn_models.inner_pipeline(fitted.model)
    encoded = pipeline[:-1].transform(train[columns].head(20))
    booster = pipeline.named_steps["model"]
    exact = booster.get_booster().predict(
        xgb.DMatrix(encoded), pred_contribs=True, iteration_range=(0, booster.best_iteration + 1)
    )[:, :-1]
    names = list(pipeline.named_steps["preprocess"].get_feature_names_out())
    recency = [i for i, name in enumerate(names) if "recency_days" in name]
    top = predictor.predict(train.head(20)).top_contributions
    for row, answer in enumerate(top):
        mapping = dict(answer)
        if "recency_days" in mapping:
            assert mapping["recency_days"] == pytest.approx(exact[row, recency].sum(), abs=1e-6)


def test_recommended_actions_follow_the_original_api():
    actions = recommended_action(np.array([0.0, 0.49, 0.5, 0.8, 0.81, 1.0]))
    assert list(actions) == ["no_action", "no_action", "coupon", "coupon", "call", "call"]
