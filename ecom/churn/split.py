"""Time-ordered train / validation / test split of a churn training set by cutoff date.

A model is used on cutoffs after the ones it learned from, so it is judged that way: whole
cutoffs go to one side, in time order, and a (user, cutoff) row can never be on two sides.
Labels look `horizon_days` ahead, so a training label at cutoff c is only known at c + horizon;
cutoffs whose horizon reaches into the test period are held out (an embargo), as they would be
in production when the model is trained before the test cutoffs happen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd


class SplitError(ValueError):
    """The training set has too few cutoffs to give every split at least one."""


@dataclass(frozen=True)
class CutoffSplit:
    """Cutoff timestamps per split, oldest first; `embargoed` ones are used nowhere."""

    train: tuple[pd.Timestamp, ...]
    validation: tuple[pd.Timestamp, ...]
    test: tuple[pd.Timestamp, ...]
    embargoed: tuple[pd.Timestamp, ...]

    def window(self, name: str) -> tuple[str, str]:
        cutoffs = getattr(self, name)
        return cutoffs[0].date().isoformat(), cutoffs[-1].date().isoformat()


def plan_cutoff_split(
    cutoffs: list[pd.Timestamp] | pd.Series,
    *,
    validation_fraction: float = 0.2,
    test_fraction: float = 0.2,
    embargo: timedelta = timedelta(0),
) -> CutoffSplit:
    """Assign each distinct cutoff to train, validation or test (pure; no data touched).

    Test takes the last `test_fraction` of cutoffs; cutoffs less than `embargo` before the
    first test cutoff are dropped; the rest splits into train then validation.
    """
    ordered = sorted(set(pd.to_datetime(pd.Series(list(cutoffs)), utc=True)))
    if len(ordered) < 3:
        raise SplitError(
            f"need at least 3 distinct cutoffs for train/validation/test, got {len(ordered)}"
        )
    n_test = max(1, math.floor(len(ordered) * test_fraction))
    test = ordered[-n_test:]
    first_test = test[0]
    before = [c for c in ordered[:-n_test] if c + embargo <= first_test]
    embargoed = [c for c in ordered[:-n_test] if c + embargo > first_test]
    if len(before) < 2:
        raise SplitError(
            f"{len(ordered)} cutoffs leave {len(before)} before the test period after a "
            f"{embargo.days}-day embargo; need at least 2 (one train, one validation)"
        )
    n_validation = max(1, math.floor(len(ordered) * validation_fraction))
    n_validation = min(n_validation, len(before) - 1)
    return CutoffSplit(
        train=tuple(before[:-n_validation]),
        validation=tuple(before[-n_validation:]),
        test=tuple(test),
        embargoed=tuple(embargoed),
    )


def apply_cutoff_split(
    frame: pd.DataFrame, split: CutoffSplit, timestamp_column: str
) -> dict[str, pd.DataFrame]:
    """The rows of each split (train, validation, test), each in the frame's own order."""
    stamps = pd.to_datetime(frame[timestamp_column], utc=True)
    return {
        name: frame[stamps.isin(list(getattr(split, name)))].reset_index(drop=True)
        for name in ("train", "validation", "test")
    }
