import numpy as np
import pytest

from ecom.churn.predict import expected_value, population_band, population_percentile, risk_band


def test_risk_band_bounds_are_inclusive_below():
    bands = risk_band(np.array([0.0, 0.399, 0.4, 0.69, 0.7, 0.9, 1.0]))
    assert list(bands) == ["low", "low", "medium", "medium", "high", "critical", "critical"]


def test_expected_value_uses_the_economics():
    # Defaults: LTV 150, win-back 30%, contact cost 10.
    values = expected_value(np.array([0.0, 0.5, 1.0]), 150.0, 0.30, 10.0)
    assert values == pytest.approx([-10.0, 12.5, 35.0])


def test_percentile_is_the_share_scored_lower_with_ties_counted_half():
    population = np.sort(np.array([0.1, 0.2, 0.2, 0.2, 0.9]))
    percentiles = population_percentile(np.array([0.1, 0.2, 0.9, 0.0, 1.0]), population)
    # 0.1: none lower, itself half of 1 -> 10; 0.2: 1 lower + 3 tied / 2 -> 50; 0.9 -> 90.
    assert percentiles == pytest.approx([10.0, 50.0, 90.0, 0.0, 100.0])
    with pytest.raises(ValueError, match="population"):
        population_percentile(np.array([0.5]), np.array([]))


def test_population_bands_split_at_50_80_95():
    bands = population_band(np.array([0.0, 49.9, 50.0, 79.9, 80.0, 94.9, 95.0, 100.0]))
    in_order = ["bottom 50%", "top 20-50%", "top 5-20%", "top 5%"]  # two values in each band
    assert list(bands) == [band for band in in_order for _ in range(2)]


def test_a_block_of_tied_scores_shares_one_band():
    """A base rate near 0.9: a fifth of users tied at the top; they share one band, the top 5%
    stays empty rather than holding an arbitrary part of the block."""
    probabilities = np.concatenate([np.linspace(0.5, 0.9, 80), np.full(20, 0.978)])
    bands = population_band(population_percentile(probabilities, np.sort(probabilities)))
    assert set(bands[80:]) == {"top 5-20%"}
    assert "top 5%" not in set(bands)
    assert list(bands[:50]).count("bottom 50%") == 50
