"""The drift alarm's threshold, calibrated on the data's own history of change.

A fixed share of drifted features chosen on one world fails on another: on TheLook's own
process (orders uniform between sign-up and the clock, a population growing five-fold over the
years) half the features move between the champion's test rows and today with nothing wrong,
while our generator's world moves a quarter. So the alarm asks how today's change compares with
the changes this data has shown before, at the same distance in time.

The live check compares the snapshot (cutoff S) with the champion's test rows (cutoffs a..b).
Each historical analog is a cutoff c of `analytics.mart_churn_features` compared with the rows
of the cutoffs c-(S-a) .. c-(S-b): the same window length and the same lag, so the shopping
calendar's and the population's normal movement over that gap is in the history. Analogs end
at c <= a: later ones overlap what is being judged (a drift that began in the test window would
raise its own bar; measured on an 8-week planted drift, the two analogs after a reached 0.35 and
0.40 while those before stayed at or below 0.10). The threshold is the history's `quantile` of
drifted shares plus a `margin`, never under a `floor` (a quiet history alone must not make the
alarm hair-trigger).

The calendar moves features too: in December every purchase count rises with the holiday
season, while the weekly history (26 cutoffs, half a year) has never seen a December. So a
second, same-season history sits beside it: the cutoffs of `analytics.mart_churn_seasonal_features`
within `SEASON_TOLERANCE_DAYS` of the snapshot's date one, two and three years earlier (52
weeks a year, so weekdays match; dbt's `churn_seasonal_years`), each compared with its own
window at the same lag. One December is one draw of how much a December moves: on a 20,000-user
world (seed 42, no campaign) the sessions per active user rose from October to early December
by 6% to 20% depending on the year (2020-2026); with last year's December alone as history
(9%), the last one (17%) raised five features over their bars, with three years none.
The threshold is the larger of the two histories' (quantile + margin) and the floor: today's
change alarms only when it exceeds both what recent weeks showed and what the same weeks of
earlier years showed. A world whose data starts less than a year back simply has no seasonal
history (the summary says so).

Features that measure one thing move together: sessions, events, product views and cart adds
all rise with the holiday season, so one seasonal swing a little larger than last year's turned
four or five features at once over the distance threshold and the share of drifted features
jumped from 0.15 to 0.40 (the 100k demo world, December: every one of them within a few
hundredths of its distance a year earlier). So each feature is also judged against its own
history: its distance in every analog (recent and same-season), and it counts as drifted only
when today's distance exceeds that history's quantile plus `column_margin` (never under the
distance threshold). A change the data has not shown before at this lag, like the planted
drift's channel mix and cart drop, passes both; a season a little stronger than the last does
not. The analogs' shares are judged by the same per-feature bars.

Each analog is judged column by column by the live check's rule (`column_drift`: Evidently's
distance at its threshold, confirmed by a two-sample test), called directly: an Evidently report
costs about 8 s per comparison here, the stat tests milliseconds, with the same scores
(`tests/integration/test_drift_generated.py` holds them equal to the report's).

New users are set aside on both sides of every comparison (tenure under
`ESTABLISHED_TENURE_DAYS`): their features are all young (tenure, recency, counts over days of
life), so a sign-up burst (TheLook's generator puts 2.5% of all users in its last week) moves
half the features at once although nothing about the customers changed. How many were set
aside is reported with the verdict.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from ecom.db import fetch_all, read_query_frame
from ecom.monitoring.column_drift import COLUMN_THRESHOLD, over_threshold

log = logging.getLogger(__name__)

FEATURES_TABLE = "analytics.mart_churn_features"
SEASONAL_TABLE = "analytics.mart_churn_seasonal_features"
# Same-season analogs are the seasonal cutoffs this close to the snapshot's date a year earlier:
# two weeks either way covers a calendar that shifts by a weekday a year (Black Friday moves by
# up to a week) and gives up to five analogs.
SEASON_TOLERANCE_DAYS = 14
YEAR_DAYS = 364  # 52 weeks: the same weekday a year earlier
# Users younger than this at a cutoff are compared apart (see the module docstring): two weeks
# covers a final-week burst and the generator's first-order delay.
ESTABLISHED_TENURE_DAYS = 14
MAX_ANALOGS = 12


@dataclass
class DriftCalibration:
    """How the alarm threshold was set: from history, or given explicitly."""

    method: str  # history | override
    threshold: float
    floor: float
    quantile: float
    margin: float
    history_quantile_share: float | None = None
    # (historical cutoff, share of features drifted against its same-lag window)
    history_shares: list[tuple[str, float]] = field(default_factory=list)
    # The same, for the same-season analogs a year back (empty when the data is younger).
    seasonal_quantile_share: float | None = None
    seasonal_shares: list[tuple[str, float]] = field(default_factory=list)
    established_tenure_days: int = ESTABLISHED_TENURE_DAYS
    new_users_set_aside: dict[str, int] = field(default_factory=dict)  # reference / current
    # Each feature's own bar: the `quantile` of its distances over every analog (recent and
    # same-season) plus `column_margin`, never under the distance threshold (see the module doc).
    column_margin: float = 0.0
    column_thresholds: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        if self.method == "override":
            return f"threshold {self.threshold:.2f} given explicitly"
        if not self.history_shares and not self.seasonal_shares:
            return f"threshold {self.threshold:.2f} = floor (no history at the same lag)"
        parts = [f"floor {self.floor:.2f}"]
        for shares, high, what in (
            (self.history_shares, self.history_quantile_share, "historical shares"),
            (
                self.seasonal_shares,
                self.seasonal_quantile_share,
                "same-season shares in earlier years",
            ),
        ):
            if shares:
                parts.append(
                    f"q{self.quantile:.2f} {high:.2f} of {len(shares)} {what} + {self.margin:.2f}"
                )
        if not self.seasonal_shares:
            parts.append("no same-season history")
        raised = sum(1 for value in self.column_thresholds.values() if value > COLUMN_THRESHOLD)
        return (
            f"threshold {self.threshold:.2f} = max({', '.join(parts)}); each feature against "
            f"the q{self.quantile:.2f} of its own past distances + {self.column_margin:.2f} "
            f"({raised} of {len(self.column_thresholds)} bars above {COLUMN_THRESHOLD:.2f})"
        )

    def as_dict(self) -> dict:
        return asdict(self)


def calibrated_threshold(
    shares: list[float], *, quantile: float, margin: float, floor: float
) -> tuple[float, float | None]:
    """(threshold, the history's quantile share): max(floor, quantile(shares) + margin)."""
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"drift history quantile must be in [0, 1], got {quantile}")
    if not shares:
        return floor, None
    high = float(np.quantile(np.asarray(shares, dtype=float), quantile))
    return max(floor, high + margin), high


def established(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of users who signed up at least `ESTABLISHED_TENURE_DAYS` before the cutoff
    (all rows when the frame has no tenure)."""
    if "tenure_days" not in frame:
        return frame
    tenure = pd.to_numeric(frame["tenure_days"], errors="coerce")
    return frame[~(tenure < ESTABLISHED_TENURE_DAYS)]


def history_cutoffs(database_url: str, table: str = FEATURES_TABLE) -> list[date]:
    """The weekly cutoffs `table` holds, oldest first; none when the table does not exist (a
    warehouse built before the seasonal mart was added)."""
    ((exists,),) = fetch_all(database_url, "select to_regclass(%s) is not null", (table,))
    if not exists:
        return []
    rows = fetch_all(database_url, f"select distinct cutoff_date from {table} order by 1")
    return [row[0] if isinstance(row[0], date) else date.fromisoformat(str(row[0])) for row in rows]


def same_lag_analogs(
    cutoffs: list[date], reference_window: tuple[date, date], current_cutoff: date
) -> list[tuple[date, date, date]]:
    """(analog cutoff c, its window's first and last cutoff) for the latest `MAX_ANALOGS`
    cutoffs c <= the reference's first cutoff whose window c-(S-a) .. c-(S-b) lies in history."""
    first, last = reference_window
    lead, lag = current_cutoff - first, current_cutoff - last
    analogs = [
        (cutoff, cutoff - lead, cutoff - lag)
        for cutoff in cutoffs
        if cutoff <= first and cutoff - lead >= cutoffs[0]
    ]
    return analogs[-MAX_ANALOGS:]


def seasonal_analogs(
    cutoffs: list[date], reference_window: tuple[date, date], current_cutoff: date
) -> list[tuple[date, date, date]]:
    """(analog cutoff c, its window's first and last cutoff) for the seasonal cutoffs c within
    `SEASON_TOLERANCE_DAYS` of the snapshot's date one or more years earlier whose window
    c-(S-a) .. c-(S-b) lies in that year's seasonal series."""
    first, last = reference_window
    lead, lag = current_cutoff - first, current_cutoff - last

    def years_back(cutoff: date) -> int:
        return round((current_cutoff - cutoff).days / YEAR_DAYS)

    series_start: dict[int, date] = {}
    for cutoff in cutoffs:
        series_start.setdefault(years_back(cutoff), cutoff)
    analogs = []
    for cutoff in cutoffs:
        years = years_back(cutoff)
        year_ago = current_cutoff - timedelta(days=YEAR_DAYS * years)
        if (
            years >= 1
            and abs((cutoff - year_ago).days) <= SEASON_TOLERANCE_DAYS
            and cutoff - lead >= series_start[years]
        ):
            analogs.append((cutoff, cutoff - lead, cutoff - lag))
    return analogs


def read_history(
    database_url: str, first: date, last: date, table: str = FEATURES_TABLE
) -> pd.DataFrame:
    """The rows of `table` (the features mart, or its seasonal twin) for cutoffs first..last."""
    return read_query_frame(
        database_url,
        f"select * from {table} "
        f"where cutoff_date between '{first.isoformat()}' and '{last.isoformat()}'",
        dtype={"traffic_source": "object", "gender": "object", "country": "object"},
    )


def history_scores(
    history: pd.DataFrame,
    analogs: list[tuple[date, date, date]],
    compare,
) -> list[tuple[str, dict]]:
    """Every analog's column scores: `compare(reference, current)` gives each column's
    `column_drift.ColumnScore` for two frames of established users."""
    cutoff_days = pd.to_datetime(history["cutoff_date"]).dt.date
    scored = []
    for cutoff, window_first, window_last in analogs:
        reference = established(
            history[(cutoff_days >= window_first) & (cutoff_days <= window_last)]
        )
        current = established(history[cutoff_days == cutoff])
        if reference.empty or current.empty:
            continue
        scored.append((cutoff.isoformat(), compare(reference, current)))
    return scored


def column_thresholds(
    scored: list[tuple[str, dict]],
    feature_columns: list[str],
    *,
    quantile: float,
    margin: float,
    base: float = COLUMN_THRESHOLD,
) -> dict[str, float]:
    """Each feature's distance threshold: max(`base`, the `quantile` of its distances over the
    analogs + `margin`); `base` alone without history."""
    thresholds = {}
    for column in feature_columns:
        distances = [scores[column].score for _, scores in scored if column in scores]
        high = float(np.quantile(distances, quantile)) + margin if distances else base
        thresholds[column] = max(base, high)
    return thresholds


def history_shares(
    scored: list[tuple[str, dict]],
    feature_columns: list[str],
    thresholds: dict[str, float],
    significance: float,
) -> list[tuple[str, float]]:
    """The drifted share of every analog, each feature judged against its own threshold."""
    shares = []
    for cutoff, scores in scored:
        drifted = sum(
            1
            for column in feature_columns
            if over_threshold(scores[column], thresholds[column], significance)
        )
        shares.append((cutoff, drifted / len(feature_columns)))
    return shares
