"""A column drifts when its change is both big enough to matter and too big to be noise."""

import numpy as np
import pandas as pd
import pytest

from ecom.monitoring.column_drift import (
    COLUMN_THRESHOLD,
    categorical_p_value,
    column_scores,
    is_drifted,
)


def _counts(rng: np.random.Generator, size: int, mean: float) -> pd.Series:
    return pd.Series(rng.poisson(mean, size).astype(float))


def test_two_small_draws_of_one_process_can_be_far_apart_and_are_not_drift():
    rng = np.random.default_rng(3)
    noisy = 0
    for _ in range(40):
        reference = pd.DataFrame({"orders": _counts(rng, 1000, 0.3)})
        current = pd.DataFrame({"orders": _counts(rng, 280, 0.3)})
        score = column_scores(reference, current, ["orders"], [])["orders"]
        noisy += score.score >= COLUMN_THRESHOLD
        assert not score.drifted, score
    # The distance alone would have flagged some of these draws: the test is what holds.
    assert noisy >= 3


def test_a_real_shift_is_drift_at_a_few_hundred_users():
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"orders": _counts(rng, 1000, 0.3)})
    current = pd.DataFrame({"orders": _counts(rng, 300, 0.9)})
    score = column_scores(reference, current, ["orders"], [])["orders"]
    assert score.drifted and score.p_value < 1e-6 and score.score > COLUMN_THRESHOLD


def test_a_significant_but_trivial_shift_on_many_users_is_not_drift():
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"age": pd.Series(rng.normal(40, 10, 200_000))})
    current = pd.DataFrame({"age": pd.Series(rng.normal(40.3, 10, 200_000))})
    score = column_scores(reference, current, ["age"], [])["age"]
    assert score.p_value < 1e-6 and score.score < COLUMN_THRESHOLD and not score.drifted


def test_a_constant_reference_does_not_blow_a_few_odd_values_into_drift():
    # Normed Wasserstein divides by the reference's std (floored at 0.001): three odd rates
    # among 300 score above 1, while the test sees three rows.
    reference = pd.DataFrame({"rate": np.ones(1000)})
    current = pd.DataFrame({"rate": np.r_[np.ones(297), [0.5, 0.5, 0.5]]})
    score = column_scores(reference, current, ["rate"], [])["rate"]
    assert score.score > 1 and not score.drifted


def test_categories_are_compared_as_two_samples_even_when_one_side_lacks_a_category():
    reference = pd.Series(["Search"] * 500 + ["Email"] * 500)
    shifted = pd.Series(["Search"] * 100 + ["Email"] * 100 + ["Facebook"] * 100)
    assert categorical_p_value(reference, shifted) < 1e-10
    same = pd.Series(["Search"] * 150 + ["Email"] * 150)
    assert categorical_p_value(reference, same) == pytest.approx(1.0)
    assert categorical_p_value(reference, pd.Series([], dtype=object)) == 1.0
    frames = pd.DataFrame({"source": reference}), pd.DataFrame({"source": shifted})
    assert column_scores(*frames, [], ["source"])["source"].drifted


def test_the_rule_needs_both_halves():
    assert is_drifted(True, 0.001)
    assert not is_drifted(True, 0.2)
    assert not is_drifted(False, 1e-12)
    assert not is_drifted(True, 0.02, significance=0.01)
