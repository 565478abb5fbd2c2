"""Retention tables as PostHog and Amplitude draw them, computed in PostgreSQL.

Semantics (also in docs/analytics.md and `ecom retention --help`):

- Users only (a session never returns). Periods are UTC days, ISO weeks (from Monday) or
  calendar months.
- `first-time`: a user joins one cohort, the period of their first-ever start event.
  `recurring`: a user joins the cohort of every period in which they did the start event.
  The breakdown value is the one on the (first) start event that placed them in the cohort.
- Period 0 is the cohort itself (100%). Period i >= 1 counts the cohort's users with a return
  event in period cohort + i (`on`), or in that period or any later one (`on-or-after`,
  Amplitude's unbounded retention).
- A period that has not started by the as-of time is left empty; one that started and has not
  ended is flagged in progress: its count can still grow (with `on-or-after`, so can the counts
  before it, which is why Amplitude and PostHog mark the latest cells, not only the last column).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg2.extensions
from psycopg2 import sql

from ecom.analytics.events import (
    BREAKDOWNS,
    DEFAULT_RELATION,
    AnalyticsInputError,
    Step,
    breakdown_column,
    checked_choice,
    relation_identifier,
)
from ecom.db import transaction

PERIODS = ("day", "week", "month")
COHORTS = ("first-time", "recurring")
MODES = ("on", "on-or-after")


@dataclass(frozen=True)
class RetentionQuery:
    start_event: Step
    return_event: Step
    period: str = "week"
    cohort: str = "first-time"
    mode: str = "on"
    breakdown: str | None = None
    periods: int = 8
    start: dt.date | None = None
    end: dt.date | None = None

    def __post_init__(self) -> None:
        checked_choice("--period", self.period, PERIODS)
        checked_choice("--cohort", self.cohort, COHORTS)
        checked_choice("--mode", self.mode, MODES)
        checked_choice("--breakdown", self.breakdown, BREAKDOWNS)
        if not 1 <= self.periods <= 400:
            raise AnalyticsInputError(f"--periods {self.periods}: choose 1 to 400")
        if self.start and self.end and self.end < self.start:
            raise AnalyticsInputError(f"--to {self.end} is before --from {self.start}")


@dataclass(frozen=True)
class RetentionRow:
    """One cohort: its size, users retained per period (None: not started), in-progress flags."""

    cohort: dt.date
    breakdown: str | None
    size: int
    counts: list[int | None]
    in_progress: list[bool | None]

    @property
    def rates(self) -> list[float | None]:
        return [None if count is None else count / self.size for count in self.counts]


@dataclass(frozen=True)
class RetentionResult:
    period: str
    as_of: dt.datetime
    rows: list[RetentionRow]

    def as_json(self) -> dict[str, object]:
        return {
            "period": self.period,
            "as_of": self.as_of.isoformat(),
            "rows": [
                {
                    "cohort": row.cohort.isoformat(),
                    "breakdown": row.breakdown,
                    "size": row.size,
                    "counts": row.counts,
                    "rates": row.rates,
                    "in_progress": row.in_progress,
                }
                for row in self.rows
            ],
        }


def shifted(start: dt.date, offset: int, period: str) -> dt.date:
    """The start of the period `offset` periods after the one starting at `start`."""
    if period == "day":
        return start + dt.timedelta(days=offset)
    if period == "week":
        return start + dt.timedelta(weeks=offset)
    months = start.year * 12 + start.month - 1 + offset
    return dt.date(months // 12, months % 12 + 1, 1)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


_OFFSET = {
    "day": "(returned.period - members.cohort)",
    "week": "(returned.period - members.cohort) / 7",
    "month": "((extract(year from returned.period) - extract(year from members.cohort)) * 12"
    " + extract(month from returned.period) - extract(month from members.cohort))",
}


# The statement of `retention_sql`: cohorts by first (or each) start event, then the users
# of each cohort returning in each later period.
_RETENTION = sql.SQL(
    """with starts as (
    select user_id, created_at, sequence_number, event_id, {breakdown} as breakdown_value,
        cast(date_trunc(%(period)s, created_at at time zone 'UTC') as date) as cohort
    from {relation}
    where user_id is not null and {start_match}
),
members as (
    select distinct on ({member_key}) user_id, cohort, breakdown_value
    from starts
    order by {member_key}, created_at, sequence_number, event_id
),
cohort_members as (
    select * from members
    where (cast(%(lower)s as date) is null or cohort >= %(lower)s)
      and (cast(%(upper)s as date) is null or cohort <= %(upper)s)
),
returned as (
    select distinct user_id,
        cast(date_trunc(%(period)s, created_at at time zone 'UTC') as date) as period
    from {relation}
    where user_id is not null and {return_match}
),
member_offsets as (
    select members.cohort, members.breakdown_value, members.user_id,
        cast({offset} as integer) as offset_number
    from cohort_members as members
    join returned on returned.user_id = members.user_id
    where returned.period > members.cohort
),
offsets as (
    select generate_series(1, %(periods)s - 1) as offset_number
),
sizes as (
    select cohort, breakdown_value, 0 as offset_number, count(*) as users
    from cohort_members
    group by cohort, breakdown_value
),
retained as (
    select member_offsets.cohort, member_offsets.breakdown_value, offsets.offset_number,
        {retained} as users
    from member_offsets cross join offsets
    group by member_offsets.cohort, member_offsets.breakdown_value, offsets.offset_number
)
select cohort, breakdown_value, offset_number, users from sizes
union all
select cohort, breakdown_value, offset_number, users from retained where users > 0
order by cohort, breakdown_value nulls last, offset_number"""
)


def retention_sql(
    query: RetentionQuery, relation: tuple[str, str] = DEFAULT_RELATION
) -> tuple[sql.Composed, dict[str, object]]:
    """Rows (cohort, breakdown, offset, users): offset 0 is the cohort's size; offsets >= 1 are
    users retained `on` that period or `on-or-after` it."""
    params: dict[str, object] = {
        "period": query.period,
        "lower": query.start,
        "upper": query.end,
        "periods": query.periods,
    }
    # first-time: one row per user; recurring: one per (user, period) with a start event.
    member_key = sql.SQL("user_id") if query.cohort == "first-time" else sql.SQL("user_id, cohort")
    retained = (
        "count(distinct member_offsets.user_id) "
        "filter (where member_offsets.offset_number = offsets.offset_number)"
        if query.mode == "on"
        else "count(distinct member_offsets.user_id) "
        "filter (where member_offsets.offset_number >= offsets.offset_number)"
    )
    statement = _RETENTION.format(
        breakdown=breakdown_column(query.breakdown),
        relation=relation_identifier(relation),
        start_match=query.start_event.condition("start", params),
        return_match=query.return_event.condition("return", params),
        member_key=member_key,
        offset=sql.SQL(_OFFSET[query.period]),
        retained=sql.SQL(retained),
    )
    return statement, params


def data_clock(database_url: str) -> dt.datetime | None:
    """The warehouse's own "now" (intermediate.int_data_clock), or None before dbt built it.

    Rows run past the generator's clock, so the latest event would call finished periods
    still in progress; the data clock is what the rest of the platform measures against."""
    with transaction(database_url) as cursor:
        cursor.execute("select to_regclass('intermediate.int_data_clock') is not null")
        if not cursor.fetchone()[0]:
            return None
        cursor.execute("select max(data_max_at) from intermediate.int_data_clock")
        return cursor.fetchone()[0]


def run_retention(
    database_url: str,
    query: RetentionQuery,
    *,
    as_of: dt.datetime | None = None,
    relation: tuple[str, str] = DEFAULT_RELATION,
) -> RetentionResult:
    """The retention table; `as_of` (default: the latest event) decides what is in progress."""
    with transaction(database_url) as cursor:
        return retention_on(cursor, query, as_of=as_of, relation=relation)


def retention_on(
    cursor: psycopg2.extensions.cursor,
    query: RetentionQuery,
    *,
    as_of: dt.datetime | None = None,
    relation: tuple[str, str] = DEFAULT_RELATION,
) -> RetentionResult:
    """`run_retention` on an open cursor (many questions, one connection)."""
    clock = as_of
    if clock is None:
        cursor.execute(
            sql.SQL("select max(created_at) from {}").format(relation_identifier(relation))
        )
        clock = cursor.fetchone()[0]
        if clock is None:
            raise AnalyticsInputError(f"{'.'.join(relation)} has no events")
    statement, params = retention_sql(query, relation)
    cursor.execute(statement, params)
    cells: dict[tuple[dt.date, str | None], dict[int, int]] = {}
    for cohort, breakdown, offset, users in cursor.fetchall():
        cells.setdefault((cohort, breakdown), {})[offset] = int(users)
    rows = []
    for (cohort, breakdown), by_offset in cells.items():
        counts: list[int | None] = []
        in_progress: list[bool | None] = []
        for offset in range(query.periods):
            if _midnight(shifted(cohort, offset, query.period)) > clock:
                counts.append(None)
                in_progress.append(None)
                continue
            counts.append(by_offset.get(offset, 0))
            in_progress.append(_midnight(shifted(cohort, offset + 1, query.period)) > clock)
        rows.append(RetentionRow(cohort, breakdown, by_offset[0], counts, in_progress))
    return RetentionResult(query.period, clock, rows)
