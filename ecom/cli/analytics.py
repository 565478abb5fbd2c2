"""`ecom funnel` and `ecom retention`: ad-hoc product analytics on the sequenced events."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ecom.cli.common import console, failing_on, runtime

if TYPE_CHECKING:
    from ecom.analytics.funnels import FunnelQuery, FunnelResult

FUNNEL_HELP = """Conversion through any steps, answered in PostgreSQL.

An entity (a session, or a user across sessions) makes a conversion attempt at each of its
step-1 events. Events are ordered by created_at, then sequence_number, then event_id. Within an
attempt each step takes the earliest qualifying event after the previous step's; the attempt
reaches step k when steps 2..k are found, each within --window (inclusive) of the attempt's
step-1 event. sequential: other events may come between steps. strict: each step must be the
entity's very next event. any: an attempt starts at an event of any step and counts the
distinct steps found at or after it within the window, in any order. An --exclude event
strictly between an attempt's first and last reached step removes that attempt. The entity
counts at the furthest step its attempts reach; the latest attempt reaching it gives the time
to convert and the breakdown value (at step 1 with --attribution first, at the last reached
step with last). A step is an event type, optionally with a URI prefix: product:/product/12.
--from/--to (UTC days, inclusive) limit the events considered. See docs/analytics.md."""

RETENTION_HELP = """Cohort retention, as PostHog and Amplitude define it, answered in PostgreSQL.

Users only. first-time: a user's cohort is the period of their first-ever start event;
recurring: a user joins the cohort of every period with a start event. Period 0 is the cohort;
period i counts cohort users with a return event in period cohort+i (--mode on) or in it or any
later period (on-or-after). Periods not started by --as-of are empty; periods started and not
ended are marked in progress (*), as their counts can still grow. See docs/analytics.md."""

BreakdownOption = Annotated[
    str | None,
    typer.Option(help="traffic_source, browser, country, state, city or event_type."),
]
FromOption = Annotated[
    dt.datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="First UTC day.")
]
ToOption = Annotated[
    dt.datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Last UTC day (inclusive).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.0f}s"
    if value < 7200:
        return f"{value / 60:.1f}m"
    if value < 172800:
        return f"{value / 3600:.1f}h"
    return f"{value / 86400:.1f}d"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _print_funnel(result: FunnelResult, query: FunnelQuery, window: str) -> None:
    """One table per breakdown value: entities, conversion and times at each step."""
    for row in result.rows:
        title = f"funnel ({query.unit}s, {query.order}, window {window})"
        if query.breakdown:
            title += f" — {query.breakdown} = {row.breakdown}"
        table = Table(title=title)
        for column in (
            "step",
            "entities",
            "from start",
            "from previous",
            "median time",
            "p90 time",
        ):
            table.add_column(column, justify="left" if column == "step" else "right")
        for index, label in enumerate(result.steps):
            table.add_row(
                f"{index + 1}. {label}",
                f"{row.counts[index]:,}",
                _percent(row.conversion_from_start[index]),
                _percent(row.conversion_from_previous[index]),
                _seconds(row.median_seconds[index - 1]) if index else "",
                _seconds(row.p90_seconds[index - 1]) if index else "",
            )
        console.print(table)
    if not result.rows:
        console.print("no entity reached step 1")


def funnel(
    steps: Annotated[
        str, typer.Option(help="Comma-separated steps, e.g. product,cart,purchase.")
    ] = "product,cart,purchase",
    window: Annotated[str, typer.Option(help="Conversion window: 90s, 30m, 72h, 14d, 2w.")] = "14d",
    order: Annotated[str, typer.Option(help="sequential, strict or any.")] = "sequential",
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            metavar="<step>",
            help="Event (type, or type:uri-prefix) that removes an attempt; repeatable.",
        ),
    ] = None,
    unit: Annotated[str, typer.Option(help="session or user.")] = "session",
    breakdown: BreakdownOption = None,
    attribution: Annotated[
        str, typer.Option(help="Breakdown value at step 1 (first) or the last reached step (last).")
    ] = "first",
    start: FromOption = None,
    end: ToOption = None,
    as_json: JsonOption = False,
    dropped: Annotated[
        int | None,
        typer.Option(help="List the entities that reached step N and not step N+1."),
    ] = None,
    cohort_table: Annotated[
        str | None,
        typer.Option(help="With --dropped: also write them to table cohorts.<NAME>."),
    ] = None,
) -> None:
    from ecom.analytics.events import AnalyticsInputError, day_bounds, parse_duration, parse_steps
    from ecom.analytics.funnels import FunnelQuery, run_funnel

    with failing_on(AnalyticsInputError):
        lower, upper = day_bounds(start and start.date(), end and end.date())
        query = FunnelQuery(
            steps=parse_steps(steps),
            window=parse_duration(window),
            order=order,
            exclude=parse_steps(exclude or []),
            unit=unit,
            breakdown=breakdown,
            attribution=attribution,
            start=lower,
            end=upper,
        )
        if cohort_table is not None and dropped is None:
            raise AnalyticsInputError("--cohort-table needs --dropped N")
    _, endpoints = runtime()
    with failing_on(AnalyticsInputError):
        if dropped is not None:
            _print_dropped(endpoints.database_url, query, dropped, cohort_table, as_json)
            return
        result = run_funnel(endpoints.database_url, query)
    if as_json:
        print(json.dumps(result.as_json(), indent=2))
        return
    _print_funnel(result, query, window)


funnel.__doc__ = FUNNEL_HELP


def _print_dropped(
    database_url: str, query: FunnelQuery, step: int, cohort_table: str | None, as_json: bool
) -> None:
    """The dropped entities as a table or JSON, after writing them as a cohort if asked."""
    from ecom.analytics.funnels import dropped_entities, save_dropped_cohort

    if cohort_table is not None:
        written = save_dropped_cohort(database_url, query, step, cohort_table)
        console.print(f"wrote {written:,} {query.unit}s to cohorts.{cohort_table}")
    entities = dropped_entities(database_url, query, step)
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "id": entity,
                        "breakdown": value,
                        "entered_at": entered.isoformat(),
                        "reached_at": reached.isoformat(),
                    }
                    for entity, value, entered, reached in entities
                ],
                indent=2,
            )
        )
        return
    table = Table(title=f"{len(entities):,} {query.unit}s reached step {step} and not {step + 1}")
    for column in (query.unit, "breakdown", "entered", f"reached step {step}"):
        table.add_column(column)
    for entity, value, entered, reached in entities:
        table.add_row(
            str(entity), value or "", f"{entered:%Y-%m-%d %H:%M:%S}", f"{reached:%Y-%m-%d %H:%M:%S}"
        )
    console.print(table)


def retention(
    start_event: Annotated[
        str, typer.Option(help="Step that puts a user in a cohort.")
    ] = "purchase",
    return_event: Annotated[
        str, typer.Option(help="Step that counts as coming back.")
    ] = "purchase",
    period: Annotated[str, typer.Option(help="day, week or month.")] = "month",
    cohort: Annotated[str, typer.Option(help="first-time or recurring.")] = "first-time",
    mode: Annotated[str, typer.Option(help="on or on-or-after.")] = "on",
    breakdown: BreakdownOption = None,
    periods: Annotated[int, typer.Option(help="Periods to show, period 0 included.")] = 8,
    start: FromOption = None,
    end: ToOption = None,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(help="What is done (UTC); default: the data clock, else the latest event."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    from ecom.analytics.events import AnalyticsInputError, Step
    from ecom.analytics.retention import RetentionQuery, data_clock, run_retention

    with failing_on(AnalyticsInputError):
        query = RetentionQuery(
            start_event=Step.parse(start_event),
            return_event=Step.parse(return_event),
            period=period,
            cohort=cohort,
            mode=mode,
            breakdown=breakdown,
            periods=periods,
            start=start and start.date(),
            end=end and end.date(),
        )
    _, endpoints = runtime()
    clock = as_of.replace(tzinfo=dt.UTC) if as_of else data_clock(endpoints.database_url)
    with failing_on(AnalyticsInputError):
        result = run_retention(endpoints.database_url, query, as_of=clock)
    if as_json:
        print(json.dumps(result.as_json(), indent=2))
        return
    table = Table(
        title=f"{cohort} {start_event} -> {return_event}, {mode}, as of {result.as_of:%Y-%m-%d %H:%M}"
    )
    table.add_column("cohort", no_wrap=True)
    if query.breakdown:
        table.add_column(query.breakdown)
    table.add_column("users", justify="right")
    for offset in range(query.periods):
        table.add_column(f"{period} {offset}", justify="right")
    for row in result.rows:
        cells = [
            "" if rate is None else f"{rate:.1%}{'*' if in_progress else ''}"
            for rate, in_progress in zip(row.rates, row.in_progress, strict=True)
        ]
        leading = [row.cohort.isoformat()] + ([row.breakdown or "-"] if query.breakdown else [])
        table.add_row(*leading, f"{row.size:,}", *cells)
    console.print(table)
    console.print("* period in progress: its count can still grow")


retention.__doc__ = RETENTION_HELP
