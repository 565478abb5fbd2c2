"""The documented edge cases of funnels and retention, by hand, and the `ecom funnel|retention`
commands on a real PostgreSQL (their JSON, the dropped cohort table, their errors)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator

import psycopg2.extensions
import pytest
from typer.testing import CliRunner

from ecom import config
from ecom.analytics.events import DEFAULT_RELATION, Step, parse_steps
from ecom.analytics.funnels import FunnelQuery, dropped_entities, funnel_on, run_funnel
from ecom.analytics.retention import RetentionQuery, retention_on
from ecom.cli.main import app
from ecom.config import PostgresParts
from ecom.db import connect, create_database, drop_database, fetch_all
from ecom.reports.analytics import conversion_profile, funnel_extras, metabase_funnel_sql
from ecom.reports.dashboards import load_dashboards, run_card
from ecom.reports.metabase import card_payload
from tests import analytics_reference as reference
from tests.analytics_reference import Event, write_events

pytestmark = pytest.mark.integration

RELATION = ("analytics_edges", "events")
T0 = dt.datetime(2024, 3, 4, 10, 0, tzinfo=dt.UTC)  # a Monday


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def event(event_id: int, minutes: float, event_type: str, *, session: str = "s1",
          user: int | None = 1, sequence: int = 1, source: str = "Email") -> Event:  # fmt: skip
    return Event(event_id, session, user, sequence, at(minutes), event_type, f"/{event_type}",
                 source, "Chrome", "Brasil" if user else None)  # fmt: skip


@pytest.fixture(scope="module")
def cursor(database_url: str) -> Iterator[psycopg2.extensions.cursor]:
    with reference.scratch_cursor(database_url, RELATION[0]) as opened:
        yield opened


def counts(cursor, events: list[Event], **options) -> list[int]:
    write_events(cursor, RELATION, events)
    options.setdefault("steps", parse_steps("product,cart,purchase"))
    result = funnel_on(cursor, FunnelQuery(**options), RELATION)
    return result.rows[0].counts if result.rows else []


def test_a_timestamp_tie_is_ordered_by_sequence_number(cursor) -> None:
    # cart and product at the same instant: the sequence number says the cart came first.
    cart_first = [event(1, 0, "cart", sequence=1), event(2, 0, "product", sequence=2)]
    assert counts(cursor, cart_first, steps=parse_steps("product,cart")) == [1, 0]
    product_first = [event(1, 0, "cart", sequence=2), event(2, 0, "product", sequence=1)]
    assert counts(cursor, product_first, steps=parse_steps("product,cart")) == [1, 1]
    # Same instant and sequence number: event_id decides.
    by_id = [event(2, 0, "cart"), event(1, 0, "product")]
    assert counts(cursor, by_id, steps=parse_steps("product,cart")) == [1, 1]


def test_a_repeated_step_needs_a_second_event(cursor) -> None:
    once = [event(1, 0, "product"), event(2, 1, "cart")]
    assert counts(cursor, once, steps=parse_steps("product,product,cart")) == [1, 0, 0]
    twice = [*once, event(3, 2, "product"), event(4, 3, "cart")]
    assert counts(cursor, twice, steps=parse_steps("product,product,cart")) == [1, 1, 1]


def test_an_exclusion_at_the_same_instant_counts_only_if_ordered_between(cursor) -> None:
    steps = parse_steps("product,cart")
    exclude = (Step("cancel"),)
    # cancel at the cart's instant, ordered before it: between the steps, attempt removed.
    before = [event(1, 0, "product"), event(2, 5, "cancel", sequence=1),
              event(3, 5, "cart", sequence=2)]  # fmt: skip
    assert counts(cursor, before, steps=steps, exclude=exclude) == []
    # ordered after the cart: not between, the attempt converts.
    after = [event(1, 0, "product"), event(2, 5, "cancel", sequence=2),
             event(3, 5, "cart", sequence=1)]  # fmt: skip
    assert counts(cursor, after, steps=steps, exclude=exclude) == [1, 1]
    # An exclusion after the last reached step does not remove the attempt.
    trailing = [event(1, 0, "product"), event(2, 1, "cart"), event(3, 2, "cancel")]
    assert counts(cursor, trailing, exclude=exclude) == [1, 1, 0]


def test_the_window_includes_its_boundary(cursor) -> None:
    window = dt.timedelta(minutes=10)
    on_boundary = [event(1, 0, "product"), event(2, 10, "cart")]
    assert counts(cursor, on_boundary, steps=parse_steps("product,cart"), window=window) == [1, 1]
    past = [event(1, 0, "product"), event(2, 10 + 1 / 60, "cart")]
    assert counts(cursor, past, steps=parse_steps("product,cart"), window=window) == [1, 0]
    # The window runs from the attempt's step-1 event, not from the previous step.
    chain = [event(1, 0, "product"), event(2, 6, "cart"), event(3, 12, "purchase")]
    assert counts(cursor, chain, window=window) == [1, 1, 0]


def test_a_later_attempt_reaches_further_and_gives_the_time(cursor) -> None:
    events = [event(1, 0, "product"), event(2, 30, "product"), event(3, 35, "cart")]
    write_events(cursor, RELATION, events)
    query = FunnelQuery(steps=parse_steps("product,cart"), window=dt.timedelta(minutes=10))
    row = funnel_on(cursor, query, RELATION).rows[0]
    assert (row.counts, row.median_seconds) == ([1, 1], [300.0])
    # Two attempts reach the same step: the entity counts once, with the latest one's time.
    both = [
        event(1, 0, "product"),
        event(2, 5, "cart"),
        event(3, 7, "product"),
        event(4, 8, "cart"),
    ]
    write_events(cursor, RELATION, both)
    row = funnel_on(cursor, query, RELATION).rows[0]
    assert (row.counts, row.median_seconds) == ([1, 1], [60.0])


def test_strict_wants_the_very_next_event(cursor) -> None:
    gap = [event(1, 0, "product"), event(2, 1, "home"), event(3, 2, "cart")]
    assert counts(cursor, gap, steps=parse_steps("product,cart"), order="strict") == [1, 0]
    assert counts(cursor, gap, steps=parse_steps("product,cart")) == [1, 1]


def test_attribution_takes_the_first_or_the_last_step(cursor) -> None:
    events = [event(1, 0, "product", source="Email"), event(2, 1, "cart", source="Search")]
    write_events(cursor, RELATION, events)
    for attribution, expected in (("first", "Email"), ("last", "Search")):
        query = FunnelQuery(steps=parse_steps("product,cart"), breakdown="traffic_source",
                            attribution=attribution)  # fmt: skip
        assert [r.breakdown for r in funnel_on(cursor, query, RELATION).rows] == [expected]


def test_retention_flags_the_period_in_progress(cursor) -> None:
    events = [event(1, 0, "purchase"), event(2, 60 * 24 * 8, "purchase")]
    write_events(cursor, RELATION, events)
    query = RetentionQuery(Step("purchase"), Step("purchase"), period="week", periods=3)
    result = retention_on(cursor, query, as_of=at(60 * 24 * 9), relation=RELATION)
    (row,) = result.rows
    assert (row.size, row.counts, row.in_progress) == (1, [1, 1, None], [False, True, None])


@pytest.fixture(scope="module")
def analytics_database(database_url: str) -> Iterator[str]:
    """A database of this module's own holding intermediate.int_events_sequenced."""
    url = create_database(database_url, f"ecom_analytics_{uuid.uuid4().hex[:8]}")
    events = [
        event(1, 0, "product", session="a", user=1), event(2, 5, "cart", session="a", user=1),
        event(3, 9, "purchase", session="a", user=1),
        event(4, 0, "product", session="b", user=None), event(5, 2, "cart", session="b", user=None),
        event(6, 0, "product", session="c", user=2, source="Search"),
    ]  # fmt: skip
    connection = connect(url)
    with connection, connection.cursor() as opened:
        opened.execute("create schema intermediate")
        write_events(opened, DEFAULT_RELATION, events)
    connection.close()
    yield url
    drop_database(database_url, PostgresParts(url).dbname)


@pytest.fixture
def ecom(analytics_database: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ECOM_DATABASE_URL", analytics_database)
    config.get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    config.get_settings.cache_clear()


def test_funnel_json_has_the_documented_shape(ecom) -> None:
    result = ecom("funnel", "--steps", "product,cart,purchase", "--breakdown", "traffic_source",
                  "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["steps"] == ["product", "cart", "purchase"]
    rows = {row["breakdown"]: row for row in answer["rows"]}
    assert rows["Email"]["counts"] == [2, 2, 1]
    assert rows["Email"]["median_seconds"] == [210.0, 240.0]
    assert rows["Search"]["counts"] == [1, 0, 0]


def test_dropped_entities_become_a_cohort_table(ecom, analytics_database: str) -> None:
    result = ecom("funnel", "--steps", "product,cart,purchase", "--dropped", "2",
                  "--cohort-table", "cart_no_purchase", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert fetch_all(analytics_database, "select entity_id from cohorts.cart_no_purchase") == [
        ("b",)
    ]
    query = FunnelQuery(steps=parse_steps("product,cart,purchase"), unit="user")
    assert [row[0] for row in dropped_entities(analytics_database, query, 1)] == [2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["funnel", "--steps", "product,checkout"], "unknown event type 'checkout'"),
        (["funnel", "--window", "3 days"], "window '3 days'"),
        (["funnel", "--breakdown", "email"], "--breakdown 'email'"),
        (["funnel", "--dropped", "3"], "--dropped 3"),
        (["funnel", "--dropped", "1", "--cohort-table", "Robert'); drop"], "--cohort-table"),
        (["retention", "--period", "year"], "--period 'year'"),
    ],
)
def test_bad_options_fail_with_the_option_named(ecom, args: list[str], message: str) -> None:
    result = ecom(*args)
    assert result.exit_code == 1
    assert message in result.output


def test_retention_json(ecom) -> None:
    result = ecom("retention", "--start-event", "product", "--return-event", "purchase",
                  "--period", "day", "--periods", "2", "--as-of", "2024-03-06", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    assert [(row["cohort"], row["size"], row["counts"]) for row in rows] == [
        ("2024-03-04", 2, [2, 0])
    ]


def test_report_panels_count_time_to_convert_and_drop_off(
    analytics_database: str, tmp_path
) -> None:
    drawn: list[str] = []

    def chart(figure, key: str, png) -> str:
        drawn.append(key)
        assert png is not None and png.stat().st_size > 0
        return f"<div>{key}</div>"

    profile = conversion_profile(analytics_database)
    # Session a converts in 9 minutes (the 5-15 min bin); b stops at the cart; c at the view.
    assert profile.counts == [3, 2, 1]
    assert profile.time_to_convert == [0, 0, 1, 0, 0, 0, 0, 0, 0]
    html, missing = funnel_extras(analytics_database, chart, tmp_path)
    assert (drawn, missing) == (["time_to_convert"], [])
    assert "<td>product &rarr; cart</td><td>3</td><td>1</td><td>33.3%</td>" in html
    assert "<td>cart &rarr; purchase</td><td>2</td><td>1</td><td>50.0%</td>" in html


def _explorer_card(window_hours: str, order: str):
    (card,) = [c for d in load_dashboards() for c in d.cards if c.key == "ad_hoc_funnel"]
    values = {"window_hours": window_hours, "step_order": order}
    parameters = [p.model_copy(update={"default": values[p.name]}) for p in card.parameters]
    return card.model_copy(update={"parameters": parameters})


def test_the_metabase_funnel_question_is_the_engines_sql(analytics_database: str) -> None:
    card = _explorer_card("336", "sequential")
    connection = connect(analytics_database)
    try:
        with connection.cursor() as opened:
            generated = metabase_funnel_sql(opened)
    finally:
        connection.close()
    assert card.sql == generated, "regenerate the card's SQL: python -m ecom.reports.analytics"
    payload = card_payload(card, database_id=1, collection_id=1)
    tags = payload["dataset_query"]["native"]["template-tags"]
    assert {name: tag["type"] for name, tag in tags.items()} == {
        "window_hours": "number",
        "step_order": "text",
    }
    assert [p["slug"] for p in payload["parameters"]] == ["window_hours", "step_order"]


@pytest.mark.parametrize(("window_hours", "order"), [("336", "sequential"), ("0.1", "any"),
                                                     ("1", "strict")])  # fmt: skip
def test_the_metabase_funnel_question_answers_as_ecom_funnel(
    analytics_database: str, window_hours: str, order: str
) -> None:
    frame = run_card(analytics_database, _explorer_card(window_hours, order))
    query = FunnelQuery(
        steps=parse_steps("product,cart,purchase"),
        window=dt.timedelta(hours=float(window_hours)),
        order=order,
    )
    (row,) = run_funnel(analytics_database, query).rows
    assert frame["step"].tolist() == ["product", "cart", "purchase"]
    assert frame["sessions"].tolist() == row.counts


def test_funnel_takes_several_exclusions_and_the_user_unit(ecom) -> None:
    result = ecom("funnel", "--steps", "product,purchase", "--exclude", "cancel", "--exclude",
                  "cart", "--unit", "user", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    # User 1's cart lies between the product view and the purchase: the attempt, the user's
    # only one, is removed; user 2 viewed a product and stopped.
    assert [row["counts"] for row in json.loads(result.output)["rows"]] == [[1, 0]]
