"""The report's ad-hoc funnel panels: how long converting takes, and where sessions drop.

The numbers come from ecom.analytics (the same statement `ecom funnel` runs), aggregated in
PostgreSQL to one row per (furthest step, time bin); the charts reuse the report's own chart
code through cards built in memory, so they look like every other card.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import psycopg2.extensions
from psycopg2 import sql
from psycopg2.extensions import AsIs

from ecom.analytics.events import DEFAULT_RELATION, parse_steps
from ecom.analytics.funnels import (
    ORDERS,
    FunnelQuery,
    companion,
    funnel_entities_sql,
    uses_session_arrays,
)
from ecom.db import fetch_all, table_exists
from ecom.reports import charts
from ecom.reports.dashboards import Card, Chart, Layout

REPORT_FUNNEL = FunnelQuery(steps=parse_steps("product,cart,purchase"))  # sessions, 14 days
# Bin edges in seconds: a minute, five, a quarter hour, an hour, six hours, a day, three, a week.
BIN_EDGES = (60, 300, 900, 3600, 21600, 86400, 259200, 604800)
BIN_LABELS = (
    "< 1 min", "1-5 min", "5-15 min", "15-60 min", "1-6 h", "6-24 h", "1-3 d", "3-7 d", ">= 7 d",
)  # fmt: skip


@dataclass(frozen=True)
class ConversionProfile:
    """Entities per step and, for those reaching the last step, how long it took them."""

    steps: list[str]
    counts: list[int]
    time_to_convert: list[int]  # entities per BIN_LABELS bin

    def drop_off(self) -> list[tuple[str, str, int, int, float | None]]:
        """(from step, to step, entities at the first, dropped before the second, drop rate)."""
        return [
            (
                self.steps[index],
                self.steps[index + 1],
                self.counts[index],
                self.counts[index] - self.counts[index + 1],
                (self.counts[index] - self.counts[index + 1]) / self.counts[index]
                if self.counts[index]
                else None,
            )
            for index in range(len(self.steps) - 1)
        ]


def conversion_profile(
    database_url: str,
    query: FunnelQuery = REPORT_FUNNEL,
    relation: tuple[str, str] = DEFAULT_RELATION,
) -> ConversionProfile:
    ctes, params = funnel_entities_sql(query, relation)
    last = len(query.steps)
    params["edges"] = list(BIN_EDGES)
    statement = sql.SQL(
        "{ctes}\nselect level, case when level = {last} then width_bucket("
        "cast(extract(epoch from {t_last} - t1) as double precision), "
        "cast(%(edges)s as double precision[])) end as bin, count(*) "
        "from entities group by 1, 2"
    ).format(ctes=ctes, last=sql.Literal(last), t_last=sql.Identifier(f"t{last}"))
    counts = [0] * last
    bins = [0] * len(BIN_LABELS)
    for level, bin_index, entities in fetch_all(database_url, statement, params):
        for step in range(level):
            counts[step] += entities
        if bin_index is not None:
            bins[bin_index] += entities
    return ConversionProfile([step.label() for step in query.steps], counts, bins)


def time_to_convert_card(profile: ConversionProfile, unit: str) -> tuple[Card, pd.DataFrame]:
    title = f"Time to convert, {profile.steps[0]} to {profile.steps[-1]}"
    card = Card(
        key="time_to_convert",
        name=title,
        description=f"{unit.capitalize()}s reaching the last step, by time from the first.",
        sql="-- ecom.reports.analytics.conversion_profile",
        chart=Chart(kind="bar", x="time_to_convert", y=f"{unit}s"),
        layout=Layout(col=0, row=0, width=12, height=7),
    )
    frame = pd.DataFrame({"time_to_convert": list(BIN_LABELS), f"{unit}s": profile.time_to_convert})
    return card, frame


def drop_off_html(profile: ConversionProfile, unit: str) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(start)} &rarr; {html.escape(end)}</td><td>{entered:,}</td>"
        f"<td>{dropped:,}</td><td>{'-' if rate is None else f'{rate:.1%}'}</td></tr>"
        for start, end, entered, dropped, rate in profile.drop_off()
    )
    return (
        '<div class="panel"><h3>Drop-off by step</h3>'
        f"<table><tr><th>step</th><th>{unit}s at it</th><th>dropped before the next</th>"
        f"<th>drop rate</th></tr>{rows}</table>"
        "<p>Who dropped: <code>ecom funnel --dropped N --cohort-table NAME</code>.</p></div>"
    )


def report_profile(
    database_url: str, query: FunnelQuery = REPORT_FUNNEL
) -> ConversionProfile | None:
    """The report's funnel, counted once in PostgreSQL; None before dbt built the events."""
    if missing_relation(database_url, query):
        return None
    return conversion_profile(database_url, query)


def missing_relation(database_url: str, query: FunnelQuery) -> tuple[str, str] | None:
    """The first table the query reads that dbt has not built yet (the session tables too,
    when the query takes the session fast path)."""
    needed = [DEFAULT_RELATION]
    if uses_session_arrays(query):
        needed += [
            companion(DEFAULT_RELATION, "_sessions"),
            companion(DEFAULT_RELATION, "_patterns"),
        ]
    return next(
        (relation for relation in needed if not table_exists(database_url, *relation)), None
    )


# The funnel dashboard's card that asks the report's own funnel question at its defaults.
AD_HOC_FUNNEL_CARD = "ad_hoc_funnel"


def answered_cards(
    profile: ConversionProfile | None, cards: Sequence[Card], query: FunnelQuery = REPORT_FUNNEL
) -> dict[str, pd.DataFrame]:
    """Card rows the profile already holds, by card key, so the page does not run the same
    funnel over every event a second time (a few seconds at 2.6 million events).

    Only the ad-hoc funnel card, and only when its default window and order are the report's
    query: its SQL is `metabase_funnel_sql(query)` (a test keeps the two equal), whose rows are
    the entities reaching each step, which is what the profile counted."""
    if profile is None:
        return {}
    answered = {}
    for card in cards:
        defaults = {parameter.name: parameter.default for parameter in card.parameters}
        if card.key == AD_HOC_FUNNEL_CARD and _asks(defaults, query):
            answered[card.key] = pd.DataFrame(
                {
                    "step_number": range(1, len(profile.steps) + 1),
                    "step": profile.steps,
                    f"{query.unit}s": profile.counts,
                }
            )
    return answered


def _asks(defaults: dict[str, str], query: FunnelQuery) -> bool:
    try:
        window = dt.timedelta(hours=float(defaults.get("window_hours", "nan")))
    except (OverflowError, ValueError):
        return False
    return window == query.window and defaults.get("step_order") == query.order


def funnel_extras(
    database_url: str,
    chart: Callable[[go.Figure, str, Path | None], str],
    image_dir: Path,
    query: FunnelQuery = REPORT_FUNNEL,
) -> tuple[str, list[str]]:
    """The time-to-convert histogram and the drop-off list as HTML for the funnel dashboard,
    and what could not be drawn yet. `chart` is the page's own (it registers the figure)."""
    extra, missing, _ = funnel_panel(database_url, chart, image_dir, (), query)
    return extra, missing


def funnel_panel(
    database_url: str,
    chart: Callable[[go.Figure, str, Path | None], str],
    image_dir: Path,
    cards: Sequence[Card],
    query: FunnelQuery = REPORT_FUNNEL,
) -> tuple[str, list[str], dict[str, pd.DataFrame]]:
    """`funnel_extras` plus the rows of those `cards` the same count answers (`answered_cards`):
    the funnel dashboard's extras and cards from one pass over the events."""
    absent = missing_relation(database_url, query)
    profile = None if absent else conversion_profile(database_url, query)
    extra, missing = _extras_html(profile, absent, chart, image_dir, query.unit)
    return extra, missing, answered_cards(profile, cards, query)


def _extras_html(
    profile: ConversionProfile | None,
    absent: tuple[str, str] | None,
    chart: Callable[[go.Figure, str, Path | None], str],
    image_dir: Path,
    unit: str,
) -> tuple[str, list[str]]:
    if profile is None:
        note = f"{'.'.join(absent or DEFAULT_RELATION)} is missing: run `ecom transform`"
        return f'<div class="panel missing"><h3>Time to convert</h3><p>{note}.</p></div>', [note]
    if not profile.counts[0]:
        return "", ["time to convert: no entity reached the first step"]
    card, frame = time_to_convert_card(profile, unit)
    png = charts.write_png(frame, card, image_dir / f"{card.key}.png")
    figure = charts.plotly_figure(frame, card)
    return chart(figure, card.key, png) + drop_off_html(profile, unit), []


def metabase_funnel_sql(
    cursor: psycopg2.extensions.cursor, query: FunnelQuery = REPORT_FUNNEL
) -> str:
    """The funnel of `query` as one Metabase native question whose window (`{{window_hours}}`)
    and order (`{{step_order}}`) are question variables.

    One branch per order, each guarded by its order's name: PostgreSQL folds the guard to a
    constant and runs only the chosen branch. services/metabase/dashboards/funnel.yml holds the
    output; a test keeps the two equal (print it with `python -m ecom.reports.analytics`)."""
    steps = sql.SQL(", ").join(
        sql.SQL("({}, {})").format(sql.Literal(number), sql.Literal(step.label()))
        for number, step in enumerate(query.steps, 1)
    )
    branches = []
    for order in ORDERS:
        ctes, params = funnel_entities_sql(replace(query, order=order))
        params |= {
            "window": AsIs("make_interval(secs => {{window_hours}} * 3600)"),
            "chosen_order": AsIs("{{step_order}}"),
            "this_order": order,
        }
        branch = sql.SQL(
            "({ctes}\nselect steps.step_number, steps.step, count(entities.level) as {unit}\n"
            "from (values {steps}) as steps (step_number, step)\n"
            "left join entities on entities.level >= steps.step_number\n"
            "where %(chosen_order)s = %(this_order)s\n"
            "group by steps.step_number, steps.step)"
        ).format(ctes=ctes, steps=steps, unit=sql.Identifier(f"{query.unit}s"))
        branches.append(cursor.mogrify(branch, params).decode())
    return "\nunion all\n".join(branches) + "\norder by step_number\n"


if __name__ == "__main__":
    from ecom.config import get_settings
    from ecom.db import transaction
    from ecom.services import ensure_services

    with transaction(ensure_services(get_settings()).database_url) as cursor:
        print(metabase_funnel_sql(cursor), end="")
