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


def _expected_top_three(fitted, frame: pd.DataFrame, columns: list[str]) -> list[list]:
    """Per row, the (feature, contribution) pairs the API must answer, from XGBoost itself:
    `pred_contribs` of the encoded columns summed back per input feature, the positive ones,
    largest first, at most three."""
    import xgboost as xgb

    pipeline = churn_models.inner_pipeline(fitted.model)
    booster = pipeline.named_steps["model"]
    exact = booster.get_booster().predict(
        xgb.DMatrix(pipeline.named_steps["preprocess"].transform(frame[columns])),
        pred_contribs=True,
        iteration_range=(0, booster.best_iteration + 1),
    )[:, :-1]
    encoded = list(pipeline.named_steps["preprocess"].get_feature_names_out())
    owners = [
        next(c for c in columns if name == c or name.startswith(f"{c}_") or name.endswith(f"_{c}"))
        for name in encoded
    ]
    expected = []
    for row in exact:
        per_feature = {c: float(row[[o == c for o in owners]].sum()) for c in columns}
        positive = sorted(
            ((c, v) for c, v in per_feature.items() if v > 0), key=lambda item: -item[1]
        )
        expected.append(positive[:3])
    return expected


def _assert_tops_equal(answered, expected) -> None:
    assert sum(len(top) for top in expected) > 0, "the fixture must have risk to explain"
    for row, (got, want) in enumerate(zip(answered, expected, strict=True)):
        assert [name for name, _ in got] == [name for name, _ in want], row
        np.testing.assert_allclose([v for _, v in got], [v for _, v in want], atol=1e-5)


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
    _assert_tops_equal(list(frame["top_contributions"]), _expected_top_three(fitted, test, columns))


def test_contributions_are_xgboost_pred_contribs_summed_per_feature():
    train, y = _frame(1200, 4)
    columns = ["recency_days", "frequency_orders", "gender", "country"]
    numeric, categorical = churn_models.split_columns(train, columns)
    fitted = churn_models.fit_xgboost(
        churn_models.XGB_PLAIN, train[columns], y, train[columns], y, numeric, categorical,
        churn_models.XGBoostParams(n_estimators=60, n_jobs=1),
    )  # fmt: skip
    predictor = ChurnPredictor(fitted.model, model_name="m", model_version="1")
    top = predictor.predict(train.head(20)).top_contributions
    _assert_tops_equal(top, _expected_top_three(fitted, train.head(20), columns))


def test_recommended_actions_follow_the_original_api():
    actions = recommended_action(np.array([0.0, 0.49, 0.5, 0.8, 0.81, 1.0]))
    assert list(actions) == ["no_action", "no_action", "coupon", "coupon", "call", "call"]
