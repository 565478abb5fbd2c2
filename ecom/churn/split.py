"""Time-ordered train / validation / test split of a churn training set by cutoff date.

A model is used on cutoffs after the ones it learned from, so it is judged that way: whole
cutoffs go to one side, in time order, and a (user, cutoff) row can never be on two sides.
Labels look `horizon_days` ahead, so a label at cutoff c is only known at c + horizon. Cutoffs
whose horizon reaches into the next split are held out (an embargo) at both boundaries: a
training label that overlaps the validation cutoffs would leak into early stopping,
calibration, the threshold and candidate selection, just as one overlapping the test cutoffs
would leak into the reported metrics and the champion gate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
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


@dataclass
class SplitData:
    """A split training set as the models, the gate and the tracking read it: each split's
    source rows (`parts`), model inputs (`x`) and labels (`y`), keyed train/validation/test."""

    split: CutoffSplit
    parts: dict[str, pd.DataFrame]
    x: dict[str, pd.DataFrame]
    y: dict[str, np.ndarray]
    numeric: list[str]
    categorical: list[str]


def plan_cutoff_split(
    cutoffs: list[pd.Timestamp] | pd.Series,
    *,
    validation_fraction: float = 0.2,
    test_fraction: float = 0.2,
    embargo: timedelta = timedelta(0),
) -> CutoffSplit:
    """Assign each distinct cutoff to train, validation or test (pure; no data touched).

    Test takes the last `test_fraction` of cutoffs; cutoffs less than `embargo` before the
    first test cutoff are dropped; validation takes the last `validation_fraction` of what is
    left; cutoffs less than `embargo` before the first validation cutoff are dropped; the rest
    is train. So no label horizon [c, c + embargo) of one split covers a later split's cutoff.
    """
    ordered = sorted(set(pd.to_datetime(pd.Series(list(cutoffs)), utc=True)))
    if len(ordered) < 3:
        raise SplitError(
            f"need at least 3 distinct cutoffs for train/validation/test, got {len(ordered)}"
        )
    n_test = max(1, math.floor(len(ordered) * test_fraction))
    test = ordered[-n_test:]
    before_test = _clear_of(ordered[:-n_test], test[0], embargo)
    if len(before_test) < 2:
        raise SplitError(
            f"{len(ordered)} cutoffs leave {len(before_test)} before the test period after a "
            f"{embargo.days}-day embargo; need at least 2 (one train, one validation)"
        )
    n_validation = max(1, math.floor(len(ordered) * validation_fraction))
    n_validation = min(n_validation, len(before_test) - 1)
    validation = before_test[-n_validation:]
    train = _clear_of(before_test[:-n_validation], validation[0], embargo)
    if not train:
        raise SplitError(
            f"{len(ordered)} cutoffs leave no training cutoff after the {embargo.days}-day "
            f"embargo before the validation period ({validation[0].date()})"
        )
    used = {*train, *validation, *test}
    return CutoffSplit(
        train=tuple(train),
        validation=tuple(validation),
        test=tuple(test),
        embargoed=tuple(c for c in ordered if c not in used),
    )


def _clear_of(
    cutoffs: list[pd.Timestamp], boundary: pd.Timestamp, embargo: timedelta
) -> list[pd.Timestamp]:
    """The cutoffs whose label horizon [c, c + embargo) ends at or before `boundary`."""
    return [c for c in cutoffs if c + embargo <= boundary]


def horizon_overlaps(split: CutoffSplit, horizon: timedelta) -> list[tuple[str, str]]:
    """(earlier, later) split pairs where a label horizon of the earlier one covers a cutoff
    of the later one; empty for an honest split."""
    names = ("train", "validation", "test")
    overlaps = []
    for position, earlier in enumerate(names):
        for later in names[position + 1 :]:
            last_end = max(getattr(split, earlier)) + horizon
            if last_end > min(getattr(split, later)):
                overlaps.append((earlier, later))
    return overlaps


def apply_cutoff_split(
    frame: pd.DataFrame, split: CutoffSplit, timestamp_column: str
) -> dict[str, pd.DataFrame]:
    """The rows of each split (train, validation, test), each in the frame's own order."""
    stamps = pd.to_datetime(frame[timestamp_column], utc=True)
    return {
        name: frame[stamps.isin(list(getattr(split, name)))].reset_index(drop=True)
        for name in ("train", "validation", "test")
    }
