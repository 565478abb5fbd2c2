"""The compiled trees replay XGBoost exactly: margins and probabilities bit for bit, TreeSHAP
values to float32 rounding, on rows with missing values and trees that stop early."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from ecom.churn.compiled_trees import compile_booster


def _booster(
    depth: int,
    rounds: int = 80,
    min_child_weight: float = 20.0,
    objective: str = "binary:logistic",
):
    rng = np.random.default_rng(7)
    rows = rng.normal(size=(3000, 6))
    rows[:, 5] = rng.integers(0, 2, size=3000)  # a one-hot-like column: a single threshold
    rows[rng.random(rows.shape) < 0.15] = np.nan
    signal = np.nan_to_num(rows[:, 0]) + np.nan_to_num(rows[:, 1]) * np.nan_to_num(rows[:, 2])
    labels = (signal + rng.normal(size=3000) > 0.3).astype(int)
    params = {
        "max_depth": depth,
        "eta": 0.1,
        "objective": objective,
        "tree_method": "hist",
        "min_child_weight": min_child_weight,
        "nthread": 1,
    }
    booster = xgb.train(params, xgb.DMatrix(rows, labels), rounds)
    test = rng.normal(size=(2000, 6)) * 1.5
    test[rng.random(test.shape) < 0.2] = np.nan
    return booster, test


def test_margins_and_probabilities_equal_xgboost_bit_for_bit():
    booster, rows = _booster(depth=3, min_child_weight=200.0)  # heavy: many early leaves
    compiled = compile_booster(booster, (0, 0), np.eye(6))
    assert compiled is not None
    assert compiled.passing.any(), "the fixture should have trees that stop before depth 3"
    matrix = xgb.DMatrix(rows)
    patterns = compiled.patterns(rows)
    np.testing.assert_array_equal(
        compiled.margins(patterns), booster.predict(matrix, output_margin=True)
    )
    np.testing.assert_array_equal(compiled.probabilities(patterns), booster.predict(matrix))


def test_an_iteration_range_compiles_only_those_trees():
    booster, rows = _booster(depth=3)
    compiled = compile_booster(booster, (0, 31), np.eye(6))
    assert compiled is not None and len(compiled.leaves) == 31
    expected = booster.predict(xgb.DMatrix(rows), iteration_range=(0, 31))
    np.testing.assert_array_equal(compiled.probabilities(compiled.patterns(rows)), expected)


def test_contributions_are_xgboost_tree_shap_grouped():
    booster, rows = _booster(depth=3)
    groups = np.zeros((6, 4))
    groups[[0, 1, 2, 3], [0, 1, 2, 3]] = 1.0
    groups[[4, 5], 3] = 1.0  # two encoded columns reported as one feature
    compiled = compile_booster(booster, (0, 0), groups)
    exact = booster.predict(xgb.DMatrix(rows), pred_contribs=True)[:, :-1] @ groups
    got = compiled.contributions_of(compiled.patterns(rows))
    # XGBoost adds contributions in float32 inside TreeSHAP; the tables add per-tree values
    # in float64, so they agree to float32 rounding over 80 trees, not bit for bit.
    np.testing.assert_allclose(got, exact, rtol=0, atol=2e-5)
    assert np.abs(exact).max() > 0.1  # the comparison is not of zeros


def test_a_squared_error_regressors_predictions_equal_xgboost_bit_for_bit():
    booster, rows = _booster(depth=3, objective="reg:squarederror")
    compiled = compile_booster(booster, (0, 0), np.eye(6))
    assert compiled is not None
    expected = booster.predict(xgb.DMatrix(rows))
    np.testing.assert_array_equal(compiled.outputs(compiled.patterns(rows)), expected)
    assert len(np.unique(expected)) > 100  # many leaves combine: not a constant


@pytest.mark.parametrize("depth", [4, 6])
def test_deeper_trees_are_not_compiled(depth: int):
    booster, _ = _booster(depth=depth, rounds=10, min_child_weight=1.0)
    assert compile_booster(booster, (0, 0), np.eye(6)) is None
