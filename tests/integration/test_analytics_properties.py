"""ecom.analytics against the slow reference on random event streams, every option combination.

Hypothesis draws small streams (a few users and anonymous sessions, timestamps on a coarse
grid so ties are common, sequence numbers that tie too); each stream goes into a real
PostgreSQL table shaped like intermediate.int_events_sequenced, and every order x unit x
breakdown/attribution x exclusion (funnels) or period x cohort x mode x breakdown (retention)
must equal tests/analytics_reference.py. One connection serves a whole test.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import psycopg2.extensions
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecom.analytics.events import Step
from ecom.analytics.funnels import ORDERS, FunnelQuery, funnel_on, uses_session_arrays
from ecom.analytics.retention import COHORTS, MODES, PERIODS, RetentionQuery, retention_on
from tests import analytics_reference as reference

pytestmark = pytest.mark.integration

RELATION = ("analytics_properties", "events")
BASE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
URIS = ("/home", "/product/1", "/product/2", "/department/men", "/department/women", "/cart")
SOURCES = ("Email", "Search")
BROWSERS = ("Chrome", "Safari")
FUNNEL_TYPES = ("home", "department", "product", "cart", "purchase")
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def cursor(database_url: str) -> Iterator[psycopg2.extensions.cursor]:
    with reference.scratch_cursor(database_url, RELATION[0]) as opened:
        yield opened


@st.composite
def event_streams(draw: st.DrawFn, step: dt.timedelta) -> list[reference.Event]:
    """Sessions of a few users (or none: anonymous), each event at a multiple of `step`."""
    countries = {user: draw(st.sampled_from(("Brasil", "China", None))) for user in (1, 2, 3)}
    events = []
    event_id = 0
    for session in range(draw(st.integers(1, 5))):
        user = draw(st.sampled_from((None, 1, 2, 3)))
        for _ in range(draw(st.integers(1, 8))):
            event_id += 1
            events.append(
                reference.Event(
                    event_id=draw(st.integers(1, 10_000)) * 100 + event_id,
                    session_id=f"s{session}",
                    user_id=user,
                    sequence_number=draw(st.integers(1, 3)),
                    created_at=BASE + step * draw(st.integers(0, 12)),
                    event_type=draw(st.sampled_from((*FUNNEL_TYPES, "cancel"))),
                    uri=draw(st.sampled_from(URIS)),
                    traffic_source=draw(st.sampled_from(SOURCES)),
                    browser=draw(st.sampled_from(BROWSERS)),
                    country=countries[user] if user is not None else None,
                )
            )
    return events


steps_strategy = st.lists(
    st.builds(
        Step,
        st.sampled_from(FUNNEL_TYPES),
        st.sampled_from((None, None, "/product/1", "/department")),
    ),
    min_size=2,
    max_size=4,
)

# The options every funnel property draws besides its events and steps.
funnel_options = {
    "window_minutes": st.sampled_from((1, 2, 4, 60)),
    "exclusion": st.sampled_from(("cancel", "home")),
    "bounds": st.sampled_from(((None, None), (2, None), (None, 9), (1, 10))),
}


def _range_and_exclusions(
    steps, exclusion: str, bounds: tuple[int | None, int | None]
) -> tuple[dt.datetime | None, dt.datetime | None, list[tuple[Step, ...]]]:
    """The query's time range from the drawn minute offsets, and the exclusions to try: none,
    and the drawn one unless it is also a step (a funnel cannot exclude its own step)."""
    lower, upper = (None if b is None else BASE + dt.timedelta(minutes=b) for b in bounds)
    excludes = [()] + (
        [(Step(exclusion),)] if all(s.event_type != exclusion for s in steps) else []
    )
    return lower, upper, excludes


def _as_reference(result) -> dict:
    return {
        row.breakdown: {
            "counts": row.counts,
            "median_seconds": row.median_seconds,
            "p90_seconds": row.p90_seconds,
        }
        for row in result.rows
    }


def _close(left: dict, right: dict) -> bool:
    if left.keys() != right.keys():
        return False
    for key in left:
        for name in ("median_seconds", "p90_seconds"):
            for a, b in zip(left[key][name], right[key][name], strict=True):
                if (a is None) != (b is None) or (a is not None and abs(a - b) > 1e-6):
                    return False
        if left[key]["counts"] != right[key]["counts"]:
            return False
    return True


@SETTINGS
@given(
    events=event_streams(dt.timedelta(minutes=1)),
    steps=steps_strategy,
    **funnel_options,
)
def test_funnel_equals_reference_for_every_option(
    cursor, events, steps, window_minutes, exclusion, bounds
) -> None:
    reference.write_events(cursor, RELATION, events)
    lower, upper, excludes = _range_and_exclusions(steps, exclusion, bounds)
    breakdowns = [(None, "first"), ("traffic_source", "first"), ("traffic_source", "last")]
    for order, unit, (breakdown, attribution), exclude in itertools.product(
        ORDERS, ("session", "user"), breakdowns, excludes
    ):
        if order == "any" and len(set(steps)) < len(steps):
            continue
        query = FunnelQuery(
            steps=tuple(steps),
            window=dt.timedelta(minutes=window_minutes),
            order=order,
            exclude=exclude,
            unit=unit,
            breakdown=breakdown,
            attribution=attribution,
            start=lower,
            end=upper,
        )
        got = _as_reference(funnel_on(cursor, query, RELATION))
        expected = reference.funnel(query, events)
        assert _close(got, expected), (query, got, expected)


@SETTINGS
@given(
    events=event_streams(dt.timedelta(hours=37)),
    start_type=st.sampled_from(("product", "purchase", "home")),
    return_type=st.sampled_from(("product", "purchase", "cart")),
    as_of_steps=st.integers(10, 40),
    bounds=st.sampled_from(
        ((None, None), (dt.date(2024, 1, 8), None), (None, dt.date(2024, 2, 1)))
    ),
)
def test_retention_equals_reference_for_every_option(
    cursor, events, start_type, return_type, as_of_steps, bounds
) -> None:
    reference.write_events(cursor, RELATION, events)
    as_of = BASE + dt.timedelta(hours=37) * as_of_steps
    for period, cohort, mode, breakdown in itertools.product(
        PERIODS, COHORTS, MODES, (None, "browser")
    ):
        query = RetentionQuery(
            start_event=Step(start_type),
            return_event=Step(return_type),
            period=period,
            cohort=cohort,
            mode=mode,
            breakdown=breakdown,
            periods=6,
            start=bounds[0],
            end=bounds[1],
        )
        result = retention_on(cursor, query, as_of=as_of, relation=RELATION)
        got = {(r.cohort, r.breakdown): (r.size, r.counts, r.in_progress) for r in result.rows}
        assert got == reference.retention(query, events, as_of), query


plain_steps = st.lists(st.sampled_from(FUNNEL_TYPES), min_size=2, max_size=5).map(
    lambda types: tuple(Step(event_type) for event_type in types)
)


@SETTINGS
@given(
    events=event_streams(dt.timedelta(minutes=1)),
    steps=plain_steps,
    **funnel_options,
    breakdown=st.sampled_from(("traffic_source", "browser", "country", "event_type")),
)
def test_session_funnel_from_session_arrays_equals_reference(
    cursor, events, steps, window_minutes, exclusion, bounds, breakdown
) -> None:
    """Session funnels of plain event types read the sessions table (each distinct sequence
    evaluated once, sessions the window or range can cut event by event): the same answers."""
    reference.write_events(cursor, RELATION, events)
    lower, upper, excludes = _range_and_exclusions(steps, exclusion, bounds)
    for order, attribution, exclude in itertools.product(ORDERS, ("first", "last"), excludes):
        if order == "any" and len(set(steps)) < len(steps):
            continue
        query = FunnelQuery(
            steps=steps,
            window=dt.timedelta(minutes=window_minutes),
            order=order,
            exclude=exclude,
            breakdown=breakdown,
            attribution=attribution,
            start=lower,
            end=upper,
        )
        assert uses_session_arrays(query)
        got = _as_reference(funnel_on(cursor, query, RELATION))
        expected = reference.funnel(query, events)
        assert _close(got, expected), (query, got, expected)
