"""Whether one column drifted: a change big enough to matter, and too big to be sampling noise.

A distance alone (normed Wasserstein, Jensen-Shannon) measures how big a change is, but two
samples of the same distribution are never at distance zero: with a few hundred users a side
(a 3,000-user world's snapshot holds ~300 established users) two draws of one process sit at
0.1-0.28 on the count features, so a fixed 0.1 threshold flags noise, and a world's history of
"drifted" shares is mostly noise too (measured on TheLook-process data, seed 5: 0.10-0.60
between historical cutoffs with nothing changed). A p-value alone answers only "is there any
difference" and flags trivial ones on 100k users.

So a column counts as drifted when both hold: its distance is at least `COLUMN_THRESHOLD`
(Evidently's verdict for that distance) and a two-sample test says the difference is not
sampling noise at `SIGNIFICANCE` (Kolmogorov-Smirnov for numbers, a chi-square test of
homogeneity on the category counts for categories). Both tests are two-sample: they count the
reference's own sampling noise, which Evidently's chi-square goodness-of-fit (the reference as
the truth) does not. Ties (counts, rates) make KS conservative, which errs toward no alarm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecom.library_warnings import library_warnings_ignored

NUMERICAL_METHOD = "wasserstein"
CATEGORICAL_METHOD = "jensenshannon"
COLUMN_THRESHOLD = 0.1
SIGNIFICANCE = 0.01


@dataclass(frozen=True)
class ColumnScore:
    score: float  # the distance
    p_value: float  # the two-sample test's
    drifted: bool  # distance over its threshold and the test significant


def numerical_p_value(reference: pd.Series, current: pd.Series) -> float:
    """Two-sample Kolmogorov-Smirnov p-value (1.0 when a side is empty)."""
    from scipy.stats import ks_2samp

    if len(reference) == 0 or len(current) == 0:
        return 1.0
    return float(ks_2samp(reference.to_numpy(), current.to_numpy()).pvalue)


def categorical_p_value(reference: pd.Series, current: pd.Series) -> float:
    """Chi-square test of homogeneity on the two samples' category counts (1.0 when either
    side is empty or only one category occurs on both)."""
    from scipy.stats import chi2_contingency

    if len(reference) == 0 or len(current) == 0:
        return 1.0
    counts = pd.concat(
        [reference.value_counts(), current.value_counts()], axis=1, keys=["reference", "current"]
    ).fillna(0)
    if len(counts) < 2:
        return 1.0
    return float(chi2_contingency(counts.to_numpy()).pvalue)


def p_value(kind: str, reference: pd.Series, current: pd.Series) -> float:
    """The two-sample test for a column of this kind (numerical | categorical)."""
    test = categorical_p_value if kind == "categorical" else numerical_p_value
    return test(reference, current)


def comparable(series: pd.Series) -> pd.Series:
    """The values a column's tests compare: Evidently drops missing and infinite ones."""
    return series.replace([-np.inf, np.inf], np.nan).dropna()


def is_drifted(distance_drifted: bool, p_value: float, significance: float = SIGNIFICANCE) -> bool:
    """The rule in one place: Evidently's distance verdict, confirmed by the test."""
    return bool(distance_drifted) and p_value < significance


def over_threshold(score: ColumnScore, threshold: float, significance: float) -> bool:
    """The rule with a feature's own distance threshold (`drift_history` calibrates it): the
    distance reaches it (Evidently's comparison) and the two-sample test is significant.
    Anything with `score` and `p_value` (a `ColumnScore`, a `drift.ColumnDrift`) is judged."""
    return is_drifted(score.score >= threshold, score.p_value, significance)


def column_scores(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: list[str],
    categorical: list[str],
    threshold: float = COLUMN_THRESHOLD,
    significance: float = SIGNIFICANCE,
) -> dict[str, ColumnScore]:
    """Each column's distance (Evidently's stat tests, called directly on the frames
    `drift.prepare_sides` made), p-value and verdict."""
    with library_warnings_ignored():
        from evidently.legacy.calculations.stattests import (
            jensenshannon_stat_test,
            wasserstein_stat_test,
        )
        from evidently.legacy.core import ColumnType

    scores = {}
    for columns, test, kind, name in (
        (numerical, wasserstein_stat_test, ColumnType.Numerical, "numerical"),
        (categorical, jensenshannon_stat_test, ColumnType.Categorical, "categorical"),
    ):
        for column in columns:
            sides = [comparable(frame[column]) for frame in (reference, current)]
            if min(len(side) for side in sides) == 0:
                scores[column] = ColumnScore(0.0, 1.0, False)  # nothing to compare on one side
                continue
            result = test(sides[0], sides[1], kind, threshold)
            p = p_value(name, *sides)
            scores[column] = ColumnScore(
                float(result.drift_score), p, is_drifted(result.drifted, p, significance)
            )
    return scores
