"""`ChurnPredictor` (the array path batch and the service share) equals the fitted pipeline."""

from __future__ import annotations

import dataclasses

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
    rows = churn_models.FitRows(
        train[columns], y_train, validation[columns], y_validation, numeric, categorical
    )
    fitted = churn_models.fit_xgboost(
        variant, rows, churn_models.XGBoostParams(n_estimators=80, n_jobs=1)
    )
    predictor = ChurnPredictor(
        fitted.model, model_name="m", model_version="3", check_rows=validation.head(20)
    )
    assert predictor.check is not None and predictor.check.passed, predictor.check
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
    tops = frame["top_contributions"]
    assert all(len(top) <= 3 and all(v > 0 for _, v in top) for top in tops)
    assert sum(len(top) == 3 for top in tops) >= len(tops) // 4  # explanations, not []


def _fitted(seed: int = 4, rows: int = 1200):
    train, y = _frame(rows, seed)
    columns = ["recency_days", "frequency_orders", "gender", "country"]
    numeric, categorical = churn_models.split_columns(train, columns)
    rows = churn_models.FitRows(train[columns], y, train[columns], y, numeric, categorical)
    fitted = churn_models.fit_xgboost(
        churn_models.XGB_PLAIN, rows, churn_models.XGBoostParams(n_estimators=60, n_jobs=1)
    )
    return fitted.model, train, columns


def _expected_top(model, frame: pd.DataFrame, columns: list[str]) -> list[list[tuple[str, float]]]:
    """Top-3 positive contributions per row from XGBoost's `pred_contribs` on the pipeline's
    own encoding, grouped by the encoder's public output names (not by the predictor)."""
    import xgboost as xgb

    pipeline = churn_models.inner_pipeline(model)
    steps = pipeline.named_steps
    encoded = steps["preprocess"].transform(steps["cast"].transform(frame[columns]))
    booster = pipeline.named_steps["model"]
    exact = booster.get_booster().predict(
        xgb.DMatrix(encoded), pred_contribs=True, iteration_range=(0, booster.best_iteration + 1)
    )[:, :-1]
    names = list(pipeline.named_steps["preprocess"].get_feature_names_out())

    def source(name: str) -> str:
        bare = name.split("__", 1)[-1].removeprefix("missingindicator_")
        return next(c for c in columns if bare == c or bare.startswith(f"{c}_"))

    sources = [source(name) for name in names]
    top = []
    for row in exact:
        sums = {c: float(row[[s == c for s in sources]].sum()) for c in columns}
        ranked = sorted(sums.items(), key=lambda item: -item[1])[:3]
        top.append([(name, value) for name, value in ranked if value > 0])
    return top


def test_contributions_are_xgboost_pred_contribs_summed_per_feature():
    model, train, columns = _fitted()
    predictor = ChurnPredictor(model, model_name="m", model_version="1")
    expected = _expected_top(model, train.head(40), columns)
    assert sum(len(answer) == 3 for answer in expected) >= 10  # the comparison is not of []
    for engine_rows in (train.head(40), train.head(40).to_dict("list")):
        top = predictor.predict(engine_rows).top_contributions
        assert len(top) == len(expected)
        for got, want in zip(top, expected, strict=True):
            assert [name for name, _ in got] == [name for name, _ in want]
            assert [value for _, value in got] == pytest.approx([v for _, v in want], abs=1e-5)


def test_the_load_time_check_proves_the_fast_path_and_refuses_a_broken_one(monkeypatch, caplog):
    from ecom.churn import predict as predict_module
    from ecom.churn.compiled_trees import compile_booster

    model, train, columns = _fitted(seed=5)
    example, rows = train.head(5), train.head(60)
    reference = churn_models.churn_probability(
        model, churn_models.feature_matrix(rows, *churn_models.model_input_columns(model))
    )
    expected_top = _expected_top(model, rows, columns)

    sound = ChurnPredictor(model, model_name="m", model_version="1", check_rows=example)
    assert sound.check is not None and sound.check.passed and sound.check.rows == 10
    assert sound.engine == "compiled trees"

    def broken_tables(booster, iterations, groups):  # one leaf off: every row in it is wrong
        tables = compile_booster(booster, iterations, groups)
        tables.leaves[0] += np.float32(0.5)
        return tables

    monkeypatch.setattr(predict_module, "compile_booster", broken_tables)
    with caplog.at_level("WARNING", logger="ecom.churn.predict"):
        fallback = ChurnPredictor(model, model_name="m", model_version="2", check_rows=example)
    assert fallback.engine == "xgboost"
    assert "compiled trees: P(churn) vs predict_proba" in caplog.text
    np.testing.assert_allclose(fallback.predict(rows).churn_probability, reference, atol=1e-12)
    monkeypatch.undo()

    original = predict_module.array_form

    def broken_medians(model):  # the array encoding imputes wrongly
        form = original(model)
        return dataclasses.replace(form, medians=form.medians + 1.0)

    monkeypatch.setattr(predict_module, "array_form", broken_medians)
    caplog.clear()
    with caplog.at_level("WARNING", logger="ecom.churn.predict"):
        refused = ChurnPredictor(model, model_name="m", model_version="3", check_rows=example)
    assert refused.engine == "scikit-learn pipeline"
    assert "array encoding" in caplog.text and "scikit-learn pipeline" in caplog.text
    answers = refused.predict(rows)
    np.testing.assert_allclose(answers.churn_probability, reference, atol=1e-12)
    for got, want in zip(answers.top_contributions, expected_top, strict=True):
        assert [name for name, _ in got] == [name for name, _ in want]


def test_recommended_actions_follow_the_original_api():
    actions = recommended_action(np.array([0.0, 0.49, 0.5, 0.8, 0.81, 1.0]))
    assert list(actions) == ["no_action", "no_action", "coupon", "coupon", "call", "call"]


def test_a_model_calibrated_by_scikit_learn_serves_through_its_own_pipeline(caplog):
    """A champion logged before `ecom.churn.calibration` (scikit-learn's CalibratedClassifierCV,
    whose sigmoid is private) still serves, through the pipeline itself, and says so."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    model, train, columns = _fitted(seed=6)
    legacy = CalibratedClassifierCV(
        FrozenEstimator(churn_models.inner_pipeline(model)), method="sigmoid"
    ).fit(train[columns], _frame(1200, 6)[1])
    with caplog.at_level("WARNING", logger="ecom.churn.predict"):
        predictor = ChurnPredictor(
            legacy, model_name="m", model_version="0", check_rows=train.head(5)
        )
    assert predictor.engine == "scikit-learn pipeline"
    assert "CalibratedClassifierCV keeps its sigmoid private" in caplog.text
    rows = train.head(50)
    np.testing.assert_array_equal(
        predictor.predict(rows).churn_probability,
        churn_models.churn_probability(legacy, rows[columns]),
    )
    assert sum(len(top) == 3 for top in predictor.predict(rows).top_contributions) >= 10
