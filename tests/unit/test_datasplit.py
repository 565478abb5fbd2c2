from datetime import timedelta

import pandas as pd
import pytest

from ecom.churn.split import SplitError, apply_cutoff_split, horizon_overlaps, plan_cutoff_split


def weekly(n: int) -> list[pd.Timestamp]:
    start = pd.Timestamp("2024-01-01", tz="UTC")
    return [start + pd.Timedelta(weeks=k) for k in range(n)]


def test_splits_are_time_ordered_and_disjoint():
    cutoffs = weekly(20)
    split = plan_cutoff_split(cutoffs, embargo=timedelta(0))
    assert max(split.train) < min(split.validation) < min(split.test)
    assert max(split.validation) < min(split.test)
    assert set(split.train).isdisjoint(split.validation)
    assert set(split.validation).isdisjoint(split.test)
    assert len(split.train) + len(split.validation) + len(split.test) == 20
    assert split.test == tuple(cutoffs[-4:])


def test_embargo_drops_cutoffs_whose_label_horizon_reaches_the_next_split():
    cutoffs = weekly(22)
    split = plan_cutoff_split(cutoffs, embargo=timedelta(days=30))
    # 30-day labels at the 4 weekly cutoffs before the test period, and at the 4 before the
    # validation period, end after that period starts.
    assert split.test == tuple(cutoffs[18:])
    assert split.validation == tuple(cutoffs[10:14])
    assert split.train == tuple(cutoffs[:6])
    assert split.embargoed == tuple(cutoffs[6:10] + cutoffs[14:18])


@pytest.mark.parametrize("n_cutoffs", [14, 16, 21, 26, 40])
@pytest.mark.parametrize("horizon_days", [7, 14, 30])
def test_no_label_horizon_overlaps_between_any_two_splits(n_cutoffs, horizon_days):
    cutoffs = weekly(n_cutoffs)
    horizon = timedelta(days=horizon_days)
    split = plan_cutoff_split(cutoffs, embargo=horizon)
    assert horizon_overlaps(split, horizon) == []
    for earlier, later in (("train", "validation"), ("train", "test"), ("validation", "test")):
        for cutoff in getattr(split, earlier):
            # The label horizon [c, c + h) of every row ends before the later split begins.
            assert cutoff + horizon <= min(getattr(split, later)), (earlier, later, cutoff)


def test_an_unembargoed_split_is_caught_overlapping():
    split = plan_cutoff_split(weekly(20), embargo=timedelta(0))
    assert horizon_overlaps(split, timedelta(days=30)) == [
        ("train", "validation"),
        ("validation", "test"),
    ]


def test_input_order_and_duplicates_do_not_matter():
    cutoffs = weekly(10)
    shuffled = list(reversed(cutoffs)) * 3
    assert plan_cutoff_split(shuffled) == plan_cutoff_split(cutoffs)


def test_too_few_cutoffs_is_a_clear_error():
    with pytest.raises(SplitError, match="at least 3 distinct cutoffs"):
        plan_cutoff_split(weekly(2))
    with pytest.raises(SplitError, match="embargo"):
        plan_cutoff_split(weekly(5), embargo=timedelta(days=30))


def test_rows_follow_their_cutoff():
    cutoffs = weekly(10)
    frame = pd.DataFrame(
        {
            "user_id": [u for _ in cutoffs for u in (1, 2, 3)],
            "event_timestamp": [c for c in cutoffs for _ in range(3)],
        }
    )
    split = plan_cutoff_split(cutoffs)
    parts = apply_cutoff_split(frame, split, "event_timestamp")
    assert sum(len(p) for p in parts.values()) == len(frame)
    for name, part in parts.items():
        assert set(part["event_timestamp"]) == set(getattr(split, name))
    keys = [set(zip(p.user_id, p.event_timestamp, strict=True)) for p in parts.values()]
    assert keys[0].isdisjoint(keys[1]) and keys[1].isdisjoint(keys[2])
