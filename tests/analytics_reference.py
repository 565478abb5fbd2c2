"""A slow, obviously correct Python reading of the funnel and retention definitions.

Written from the words of docs/analytics.md, loop by loop, with no cleverness: the SQL engine
in ecom.analytics must agree with it on any event stream. Also writes such a stream into a
PostgreSQL table shaped like intermediate.int_events_sequenced.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2.extensions
from psycopg2 import sql
from psycopg2.extras import execute_values

from ecom.analytics.events import EVENT_TYPES
from ecom.analytics.funnels import FunnelQuery
from ecom.analytics.retention import RetentionQuery
from ecom.db import connect

EVENT_CODES = {event_type: code for code, event_type in enumerate(EVENT_TYPES, 1)}


@dataclass(frozen=True)
class Event:
    event_id: int
    session_id: str
    user_id: int | None
    sequence_number: int
    created_at: dt.datetime
    event_type: str
    uri: str
    traffic_source: str
    browser: str
    country: str | None


def ordered(events: list[Event]) -> list[Event]:
    return sorted(events, key=lambda e: (e.created_at, e.sequence_number, e.event_id))


TABLE_COLUMNS = (
    "event_id bigint, session_id text, user_id bigint, sequence_number integer, "
    "created_at timestamptz, event_type text, uri text, traffic_source text, browser text, "
    "city text, state text, country text"
)


def write_events(cursor, relation: tuple[str, str], events: list[Event]) -> None:
    """Replace `relation` with these events, and the session tables beside it."""
    target = sql.Identifier(*relation)
    cursor.execute(sql.SQL("drop table if exists {}").format(target))
    cursor.execute(sql.SQL("create table {} ({})").format(target, sql.SQL(TABLE_COLUMNS)))
    rows = [
        (
            e.event_id, e.session_id, e.user_id, e.sequence_number, e.created_at, e.event_type,
            e.uri, e.traffic_source, e.browser, None, None, e.country,
        )
        for e in events
    ]  # fmt: skip
    if rows:
        execute_values(cursor, sql.SQL("insert into {} values %s").format(target), rows)
    write_sessions(cursor, relation, events)


SESSION_COLUMNS = (
    "session_id text, user_id bigint, first_at timestamptz, "
    "last_at timestamptz, pattern_key bigint, span_seconds double precision, "
    "event_codes smallint[], event_times timestamptz[], traffic_source text, browser text, "
    "city text, state text, country text, event_breakdowns text[]"
)


def write_sessions(cursor, relation: tuple[str, str], events: list[Event]) -> None:
    """Replace `<relation>_sessions` and `<relation>_patterns` as the dbt models would hold
    these events (written here loop by loop, from the models' descriptions)."""
    sessions_table = sql.Identifier(relation[0], f"{relation[1]}_sessions")
    patterns_table = sql.Identifier(relation[0], f"{relation[1]}_patterns")
    by_session: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_session[event.session_id].append(event)
    rows, patterns = [], {}
    for session, group in sorted(by_session.items()):
        sequence = ordered(group)
        codes = [EVENT_CODES[e.event_type] for e in sequence]
        pattern = int("".join(map(str, codes))) if len(codes) <= 18 else None
        span = (sequence[-1].created_at - sequence[0].created_at).total_seconds()
        users = [e.user_id for e in sequence if e.user_id is not None]
        breakdowns = [[e.traffic_source, e.browser, None, None, e.country] for e in sequence]
        shares = all(values == breakdowns[0] for values in breakdowns)
        shared = [*breakdowns[0], None] if shares else [None] * 5 + [breakdowns]
        rows.append(
            (session, min(users) if users else None, sequence[0].created_at,
             sequence[-1].created_at, pattern, span if pattern is not None else math.inf,
             codes, [e.created_at for e in sequence], *shared)
        )  # fmt: skip
        if pattern is not None:
            patterns[pattern] = codes
    cursor.execute(sql.SQL("drop table if exists {}").format(sessions_table))
    cursor.execute(sql.SQL("create table {} ({})").format(sessions_table, sql.SQL(SESSION_COLUMNS)))
    cursor.execute(sql.SQL("drop table if exists {}").format(patterns_table))
    cursor.execute(
        sql.SQL(
            "create table {} (pattern_id integer, pattern_key bigint, event_codes smallint[], "
            "sessions bigint)"
        ).format(patterns_table)
    )
    if rows:
        execute_values(cursor, sql.SQL("insert into {} values %s").format(sessions_table), rows)
        execute_values(
            cursor,
            sql.SQL("insert into {} values %s").format(patterns_table),
            [
                (number, key, patterns[key], 0)
                for number, key in enumerate(sorted(patterns), 1)  # numbered in key order
            ],
        )


@contextlib.contextmanager
def scratch_cursor(database_url: str, schema: str) -> Iterator[psycopg2.extensions.cursor]:
    """One autocommit connection for a whole test module, with `schema` created."""
    connection = connect(database_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
            yield cursor
    finally:
        connection.close()


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between order statistics, as PostgreSQL's percentile_cont."""
    if not values:
        return None
    ordered_values = sorted(values)
    rank = (len(ordered_values) - 1) * fraction
    low, high = math.floor(rank), math.ceil(rank)
    return ordered_values[low] + (rank - low) * (ordered_values[high] - ordered_values[low])


@dataclass
class Attempt:
    start: Event
    reached: list[Event]  # the events of the reached steps, in the order they happened
    excluded: bool


def _attempts(query: FunnelQuery, sequence: list[Event], considered: list[Event]) -> list[Attempt]:
    position = {e.event_id: i for i, e in enumerate(sequence, 1)}
    window, steps = query.window, query.steps
    in_range = {e.event_id for e in considered}
    attempts = []
    if query.order == "any":
        starts = [e for e in considered if any(s.matches(e.event_type, e.uri) for s in steps)]
    else:
        starts = [e for e in considered if steps[0].matches(e.event_type, e.uri)]
    for start in starts:
        begin = position[start.event_id]
        if query.order == "any":
            reached = []
            for step in steps:
                found = next(
                    (
                        e
                        for e in considered
                        if position[e.event_id] >= begin and step.matches(e.event_type, e.uri)
                    ),
                    None,
                )
                if found is not None and found.created_at - start.created_at <= window:
                    reached.append(found)
            reached.sort(key=lambda e: position[e.event_id])
        else:
            reached = [start]
            for step in steps[1:]:
                previous = position[reached[-1].event_id]
                if query.order == "strict":
                    candidate = sequence[previous] if previous < len(sequence) else None
                    found = (
                        candidate
                        if candidate is not None
                        and candidate.event_id in in_range
                        and step.matches(candidate.event_type, candidate.uri)
                        else None
                    )
                else:
                    found = next(
                        (
                            e
                            for e in considered
                            if position[e.event_id] > previous and step.matches(e.event_type, e.uri)
                        ),
                        None,
                    )
                if found is None or found.created_at - start.created_at > window:
                    break
                reached.append(found)
        last = position[reached[-1].event_id]
        excluded = any(
            begin < position[e.event_id] < last
            and any(x.matches(e.event_type, e.uri) for x in query.exclude)
            for e in considered
        )
        attempts.append(Attempt(start, reached, excluded))
    return attempts


def funnel_entities(
    query: FunnelQuery, events: list[Event]
) -> dict[object, tuple[Attempt, str | None]]:
    """entity -> (its winning attempt, breakdown value), for entities in the funnel."""
    entities: dict[object, list[Event]] = defaultdict(list)
    for event in events:
        key = event.session_id if query.unit == "session" else event.user_id
        if key is not None:
            entities[key].append(event)
    result = {}
    for key, group in entities.items():
        sequence = ordered(group)
        considered = [
            e
            for e in sequence
            if (query.start is None or e.created_at >= query.start)
            and (query.end is None or e.created_at < query.end)
        ]
        kept = [a for a in _attempts(query, sequence, considered) if not a.excluded]
        if not kept:
            continue
        best = max(len(a.reached) for a in kept)
        # The latest attempt among those reaching the furthest step.
        winner = [a for a in kept if len(a.reached) == best][-1]
        source = winner.start if query.attribution == "first" else winner.reached[-1]
        value = getattr(source, query.breakdown) if query.breakdown else None
        result[key] = (winner, value)
    return result


def funnel(query: FunnelQuery, events: list[Event]) -> dict[str | None, dict[str, list]]:
    """breakdown value -> counts, median_seconds, p90_seconds."""
    steps = len(query.steps)
    groups: dict[str | None, list[Attempt]] = defaultdict(list)
    for attempt, value in funnel_entities(query, events).values():
        groups[value].append(attempt)
    summary = {}
    for value, attempts in groups.items():
        gaps = [
            [
                (a.reached[m].created_at - a.reached[m - 1].created_at).total_seconds()
                for a in attempts
                if len(a.reached) > m
            ]
            for m in range(1, steps)
        ]
        summary[value] = {
            "counts": [sum(len(a.reached) > m for a in attempts) for m in range(steps)],
            "median_seconds": [percentile(g, 0.5) for g in gaps],
            "p90_seconds": [percentile(g, 0.9) for g in gaps],
        }
    return summary


def retention(query: RetentionQuery, events: list[Event], as_of: dt.datetime):
    """(cohort start, breakdown) -> (size, counts per period, in progress per period)."""
    by_user: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        if event.user_id is not None:
            by_user[event.user_id].append(event)
    cohorts: dict[tuple[dt.date, str | None], list[tuple[int, dt.date]]] = defaultdict(list)
    returns: dict[int, set[dt.date]] = {}
    for user, group in by_user.items():
        sequence = ordered(group)
        starts = [e for e in sequence if query.start_event.matches(e.event_type, e.uri)]
        returns[user] = {
            period_start(e.created_at, query.period)
            for e in sequence
            if query.return_event.matches(e.event_type, e.uri)
        }
        if query.cohort == "first-time":
            starts = starts[:1]
        seen: set[dt.date] = set()
        for event in starts:
            cohort = period_start(event.created_at, query.period)
            if cohort in seen:
                continue
            seen.add(cohort)
            value = getattr(event, query.breakdown) if query.breakdown else None
            cohorts[(cohort, value)].append((user, cohort))
    table = {}
    for (cohort, value), members in cohorts.items():
        if query.start is not None and cohort < query.start:
            continue
        if query.end is not None and cohort > query.end:
            continue
        counts, in_progress = [], []
        for offset in range(query.periods):
            target = cohort_offset(cohort, offset, query.period)
            if dt.datetime.combine(target, dt.time(), dt.UTC) > as_of:
                counts.append(None)
                in_progress.append(None)
                continue
            following = cohort_offset(cohort, offset + 1, query.period)
            in_progress.append(dt.datetime.combine(following, dt.time(), dt.UTC) > as_of)
            if offset == 0:
                counts.append(len(members))
                continue
            counts.append(
                sum(
                    any(
                        period_index(cohort, returned, query.period) == offset
                        if query.mode == "on"
                        else period_index(cohort, returned, query.period) >= offset
                        for returned in returns[user]
                    )
                    for user, _ in members
                )
            )
        table[(cohort, value)] = (len(members), counts, in_progress)
    return table


def period_start(moment: dt.datetime, period: str) -> dt.date:
    day = moment.astimezone(dt.UTC).date()
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def period_index(cohort: dt.date, other: dt.date, period: str) -> int:
    """How many periods after `cohort` the period starting at `other` is (counted by stepping)."""
    offset = 0
    while cohort_offset(cohort, offset, period) < other:
        offset += 1
    return offset if cohort_offset(cohort, offset, period) == other else -1


def cohort_offset(cohort: dt.date, offset: int, period: str) -> dt.date:
    if period == "day":
        return cohort + dt.timedelta(days=offset)
    if period == "week":
        return cohort + dt.timedelta(weeks=offset)
    months = cohort.year * 12 + cohort.month - 1 + offset
    return dt.date(months // 12, months % 12 + 1, 1)
