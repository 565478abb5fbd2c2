"""The drift threshold's calibration: which historical pairs count, and the rule on them."""

from datetime import date, timedelta

import pandas as pd
import pytest

from ecom.monitoring.column_drift import ColumnScore, over_threshold
from ecom.monitoring.drift_history import (
    ESTABLISHED_TENURE_DAYS,
    MAX_ANALOGS,
    SEASON_TOLERANCE_DAYS,
    DriftCalibration,
    calibrated_threshold,
    column_thresholds,
    established,
    history_shares,
    same_lag_analogs,
    seasonal_analogs,
)

MONDAYS = [date(2025, 1, 6) + timedelta(weeks=week) for week in range(30)]


def test_analogs_keep_the_live_lag_and_end_before_the_reference_window():
    window = (MONDAYS[20], MONDAYS[23])  # the champion's test cutoffs
    snapshot = MONDAYS[29]
    analogs = same_lag_analogs(MONDAYS, window, snapshot)
    assert analogs, "a 30-week history holds analogs for a 9-week lag"
    for cutoff, first, last in analogs:
        assert cutoff - first == snapshot - window[0]
        assert cutoff - last == snapshot - window[1]
        assert first >= MONDAYS[0]
        assert cutoff <= window[0]  # nothing from the window being judged, or after it
    assert analogs[-1][0] == window[0]
    assert len(analogs) == min(MAX_ANALOGS, 21 - 9)


def test_no_history_at_that_lag_gives_no_analogs():
    lagged = MONDAYS[4] + timedelta(weeks=9)  # an 11-week lead on a 5-week history
    assert same_lag_analogs(MONDAYS[:5], (MONDAYS[2], MONDAYS[3]), lagged) == []


def test_threshold_is_the_high_quantile_plus_margin_never_under_the_floor():
    quiet = [0.0, 0.05, 0.05, 0.1]
    assert calibrated_threshold(quiet, quantile=1.0, margin=0.1, floor=0.4) == (0.4, 0.1)
    restless = [0.3, 0.45, 0.5, 0.5]
    threshold, high = calibrated_threshold(restless, quantile=1.0, margin=0.1, floor=0.4)
    assert (threshold, high) == (pytest.approx(0.6), 0.5)
    assert calibrated_threshold([], quantile=0.95, margin=0.1, floor=0.4) == (0.4, None)
    with pytest.raises(ValueError, match="quantile"):
        calibrated_threshold(quiet, quantile=95, margin=0.1, floor=0.4)


def test_new_users_are_set_aside_and_unknown_tenure_is_kept():
    frame = pd.DataFrame(
        {"tenure_days": [0, ESTABLISHED_TENURE_DAYS - 1, ESTABLISHED_TENURE_DAYS, None]}
    )
    assert established(frame)["tenure_days"].isna().sum() == 1
    assert len(established(frame)) == 2
    assert len(established(pd.DataFrame({"age": [30]}))) == 1


def test_seasonal_analogs_sit_a_year_back_at_the_live_lag():
    snapshot = date(2025, 12, 8)  # a Monday in the holiday season
    window = (snapshot - timedelta(weeks=9), snapshot - timedelta(weeks=5))
    # The seasonal cutoffs dbt builds: 18 Mondays, the last two weeks after a year back.
    seasonal = [snapshot - timedelta(days=350 + 7 * k) for k in range(17, -1, -1)]
    analogs = seasonal_analogs(seasonal, window, snapshot)
    year_ago = snapshot - timedelta(days=364)
    assert [cutoff for cutoff, _, _ in analogs] == [
        year_ago + timedelta(weeks=k) for k in (-2, -1, 0, 1, 2)
    ]
    for cutoff, first, last in analogs:
        assert abs((cutoff - year_ago).days) <= SEASON_TOLERANCE_DAYS
        assert (cutoff - first, cutoff - last) == (snapshot - window[0], snapshot - window[1])
        assert first >= seasonal[0]
    # A champion whose test window is far older leaves no seasonal window inside the history.
    old_window = (snapshot - timedelta(weeks=30), snapshot - timedelta(weeks=26))
    assert seasonal_analogs(seasonal, old_window, snapshot) == []
    assert seasonal_analogs([], window, snapshot) == []


def test_the_description_names_both_histories_or_the_missing_season():
    recent = [("2025-10-06", 0.05), ("2025-10-13", 0.1)]
    both = DriftCalibration(
        method="history", threshold=0.55, floor=0.3, quantile=0.95, margin=0.1,
        history_quantile_share=0.1, history_shares=recent,
        seasonal_quantile_share=0.45, seasonal_shares=[("2024-12-09", 0.45)],
    )  # fmt: skip
    assert "1 same-season shares in earlier years" in both.describe()
    assert "2 historical shares" in both.describe()
    young = DriftCalibration(
        method="history", threshold=0.3, floor=0.3, quantile=0.95, margin=0.1,
        history_quantile_share=0.1, history_shares=recent,
    )  # fmt: skip
    assert "no same-season history" in young.describe()


def _scores(**distances: float) -> dict[str, ColumnScore]:
    return {column: ColumnScore(d, 1e-6, d >= 0.1) for column, d in distances.items()}


def test_each_feature_is_judged_against_its_own_history():
    """Correlated activity features that rise every December by ~0.14 (sessions, events) get a
    bar above that; a feature that never moved keeps the distance threshold, 0.1. So a
    December a little stronger than the last (0.17) is not drift, a planted move (0.35) and a
    move of a quiet feature (0.12) are, and a move within noise (p >= 0.01) never is."""
    history = [
        (f"2025-12-{day:02d}", _scores(sessions=0.14 + day / 1000, events=0.13, age=0.01))
        for day in (1, 8, 15, 22)
    ]
    bars = column_thresholds(history, ["sessions", "events", "age"], quantile=1.0, margin=0.05)
    assert bars["sessions"] == pytest.approx(0.162 + 0.05)
    assert bars["events"] == pytest.approx(0.18)
    assert bars["age"] == 0.1  # never under the distance threshold
    assert column_thresholds([], ["age"], quantile=0.95, margin=0.05) == {"age": 0.1}
    today = _scores(sessions=0.17, events=0.17, age=0.12)
    assert [c for c in today if over_threshold(today[c], bars[c], 0.01)] == ["age"]
    planted = _scores(sessions=0.35, events=0.35, age=0.01)
    assert [c for c in planted if over_threshold(planted[c], bars[c], 0.01)] == [
        "sessions",
        "events",
    ]
    noise = ColumnScore(0.5, 0.2, False)
    assert not over_threshold(noise, 0.1, 0.01)
    # The analogs' shares are judged by the same bars: none of the history passes its own.
    shares = history_shares(history, ["sessions", "events", "age"], bars, 0.01)
    assert [share for _, share in shares] == [0.0] * 4
