import numpy as np
import pandas as pd
import pytest

from ecom.churn.predict import expected_value, risk_band
from ecom.churn.scoring import select_retention_targets


def test_risk_band_bounds_are_inclusive_below():
    bands = risk_band(np.array([0.0, 0.399, 0.4, 0.69, 0.7, 0.9, 1.0]))
    assert list(bands) == ["low", "low", "medium", "medium", "high", "critical", "critical"]


def test_expected_value_uses_the_economics():
    # Defaults: LTV 150, win-back 30%, contact cost 10.
    values = expected_value(np.array([0.0, 0.5, 1.0]), 150.0, 0.30, 10.0)
    assert values == pytest.approx([-10.0, 12.5, 35.0])


def test_targets_are_the_top_positive_expected_values():
    scores = pd.DataFrame(
        {
            "user_id": [5, 3, 9, 1, 7],
            "expected_value": [1.0, 20.0, 20.0, -2.0, 7.5],
        }
    )
    targets = select_retention_targets(scores, 3)
    assert list(targets["user_id"]) == [3, 9, 7]  # ties: lower user_id first
    assert list(targets["target_rank"]) == [1, 2, 3]
    everyone = select_retention_targets(scores, 10)
    assert -2.0 not in set(everyone["expected_value"])  # a losing contact is never a target
    assert len(everyone) == 4


def test_negative_target_count_is_rejected():
    with pytest.raises(ValueError, match=">= 0"):
        select_retention_targets(pd.DataFrame({"user_id": [], "expected_value": []}), -1)
