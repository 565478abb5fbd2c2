"""Funnels as one SQL statement: every step, order, window, exclusion and breakdown in PostgreSQL.

Semantics (the docs and `ecom funnel --help` say the same):

- Events of an entity (a session, or a user across sessions) are ordered by `created_at`, then
  `sequence_number`, then `event_id`; that order is the `position` column dbt writes. "After"
  and "between" below mean in that order, so events at the same instant are ordered too.
- An entity makes a conversion attempt at each of its step-1 events. Within an attempt each
  step takes the earliest qualifying event after the previous step's event; the attempt reaches
  step k when steps 2..k are found, each within the window (inclusive) of the attempt's step-1
  event. `sequential` allows other events between steps; `strict` wants step k+1 to be the very
  next event of the entity's whole sequence; `any` starts an attempt at an event of any step
  and counts the distinct steps with a qualifying event at or after it within the window, in
  whatever order (its k-th step is the k-th of them to happen).
- An exclusion event strictly between the attempt's step-1 event and its last reached step's
  event removes the attempt; an entity left without attempts is not in the funnel.
- The entity counts at the furthest step its attempts reach; of the attempts that reach it the
  latest one supplies the time to convert and the breakdown value (at its step-1 event with
  `first` attribution, at its last reached step with `last`).

Why windows in reverse: the earliest step-m event of a greedy chain is a minimum over the events
after the current one, and PostgreSQL keeps such a running minimum incrementally when the frame
grows from the partition's end, so every pass is linear in the events and reuses one sort.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import psycopg2.extensions
from psycopg2 import sql

from ecom.analytics.events import (
    BREAKDOWNS,
    DEFAULT_RELATION,
    UNIT_COLUMNS,
    UNITS,
    AnalyticsInputError,
    Step,
    checked_choice,
    checked_identifier,
    relation_identifier,
)
from ecom.db import transaction

ORDERS = ("sequential", "strict", "any")
ATTRIBUTIONS = ("first", "last")
DEFAULT_WINDOW = dt.timedelta(days=14)
COHORT_SCHEMA = "cohorts"


@dataclass(frozen=True)
class FunnelQuery:
    """One funnel question, checked on creation (bad options raise AnalyticsInputError)."""

    steps: tuple[Step, ...]
    window: dt.timedelta = DEFAULT_WINDOW
    order: str = "sequential"
    exclude: tuple[Step, ...] = ()
    unit: str = "session"
    breakdown: str | None = None
    attribution: str = "first"
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def __post_init__(self) -> None:
        if len(self.steps) < 2:
            raise AnalyticsInputError("--steps: a funnel needs at least two steps")
        if self.window <= dt.timedelta(0):
            raise AnalyticsInputError(f"--window {self.window}: must be positive")
        checked_choice("--order", self.order, ORDERS)
        checked_choice("--unit", self.unit, UNITS)
        checked_choice("--breakdown", self.breakdown, BREAKDOWNS)
        checked_choice("--attribution", self.attribution, ATTRIBUTIONS)
        if self.order == "any" and len(set(self.steps)) < len(self.steps):
            raise AnalyticsInputError("--order any: each step must differ (they count as a set)")
        for excluded in self.exclude:
            if any(excluded.event_type == step.event_type for step in self.steps):
                raise AnalyticsInputError(
                    f"--exclude {excluded.label()}: its event type is a step of the funnel"
                )


@dataclass(frozen=True)
class FunnelRow:
    """One breakdown value's funnel: entities per step and times between consecutive steps."""

    breakdown: str | None
    counts: list[int]
    median_seconds: list[float | None]
    p90_seconds: list[float | None]

    @property
    def conversion_from_start(self) -> list[float | None]:
        first = self.counts[0]
        return [count / first if first else None for count in self.counts]

    @property
    def conversion_from_previous(self) -> list[float | None]:
        return [1.0 if self.counts[0] else None] + [
            current / previous if previous else None
            for previous, current in zip(self.counts, self.counts[1:], strict=False)
        ]


@dataclass(frozen=True)
class FunnelResult:
    steps: list[str]
    rows: list[FunnelRow] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "steps": self.steps,
            "rows": [
                {
                    "breakdown": row.breakdown,
                    "counts": row.counts,
                    "conversion_from_start": row.conversion_from_start,
                    "conversion_from_previous": row.conversion_from_previous,
                    "median_seconds": row.median_seconds,
                    "p90_seconds": row.p90_seconds,
                }
                for row in self.rows
            ],
        }


def _filtered_events(
    query: FunnelQuery, relation: tuple[str, str], params: dict[str, object]
) -> sql.Composed:
    """The entity's step and exclusion events, with one boolean per step."""
    entity, position = UNIT_COLUMNS[query.unit]
    matches = [step.condition(f"s{index}", params) for index, step in enumerate(query.steps, 1)]
    exclusions = [step.condition(f"x{index}", params) for index, step in enumerate(query.exclude)]
    excluded = sql.SQL(" or ").join(exclusions) if exclusions else sql.SQL("false")
    breakdown = (
        sql.SQL("cast({} as text)").format(sql.Identifier(query.breakdown))
        if query.breakdown
        else sql.SQL("cast(null as text)")
    )
    params["lower"], params["upper"] = query.start, query.end
    return sql.SQL(
        """select {entity} as entity_id, {position} as position, created_at,
        {breakdown} as breakdown_value, {columns}, {excluded} as is_excluded
    from {relation}
    where {entity} is not null and ({any_match})
      and (cast(%(lower)s as timestamptz) is null or created_at >= %(lower)s)
      and (cast(%(upper)s as timestamptz) is null or created_at < %(upper)s)"""
    ).format(
        entity=sql.Identifier(entity),
        position=sql.Identifier(position),
        breakdown=breakdown,
        columns=sql.SQL(", ").join(
            sql.SQL("{} as {}").format(match, sql.Identifier(f"m{index}"))
            for index, match in enumerate(matches, 1)
        ),
        excluded=excluded,
        relation=relation_identifier(relation),
        any_match=sql.SQL(" or ").join([*matches, excluded]),
    )


AFTER = sql.SQL(
    "(partition by entity_id order by position desc rows between unbounded preceding and 1 preceding)"
)
FROM_HERE = sql.SQL(
    "(partition by entity_id order by position desc rows between unbounded preceding and current row)"
)


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def _sequential_attempts(steps: int) -> tuple[list[sql.Composable], sql.Composable]:
    """Passes j = n..2: p_j_m is the position of step m in the greedy chain that looks for step
    j after the current event. The chain's next step-j event is the nearest one after; as p is
    non-decreasing along the events, the minimum over all later step-j events is that nearest
    one's value, so a running minimum finds it without a join. Times ride along the same way."""
    passes: list[sql.Composable] = []
    previous = "events"
    for j in range(steps, 1, -1):
        columns: list[sql.Composable] = []
        for m in range(j, steps + 1):
            for kind, own in (("p", "position"), ("t", "created_at")):
                value = own if m == j else f"{kind}_{j + 1}_{m}"
                columns.append(
                    sql.SQL(
                        "min(case when {match} then {value} end) over {after} as {name}"
                    ).format(
                        match=_ident(f"m{j}"),
                        value=_ident(value),
                        after=AFTER,
                        name=_ident(f"{kind}_{j}_{m}"),
                    )
                )
        if j == steps:
            columns.append(
                sql.SQL(
                    "min(case when is_excluded then position end) over {} as next_excluded"
                ).format(AFTER)
            )
        name = f"pass_{j}"
        passes.append(
            sql.SQL("{name} as (select {previous}.*, {columns} from {previous})").format(
                name=_ident(name),
                previous=_ident(previous),
                columns=sql.SQL(", ").join(columns),
            )
        )
        previous = name
    positions = [sql.SQL("position")] + [_ident(f"p_2_{m}") for m in range(2, steps + 1)]
    times = [sql.SQL("created_at")] + [_ident(f"t_2_{m}") for m in range(2, steps + 1)]
    chain = sql.SQL(
        "select entity_id, position, breakdown_value, next_excluded, {positions}, {times} "
        "from {previous} where m1"
    ).format(
        positions=sql.SQL(", ").join(
            sql.SQL("{} as {}").format(value, _ident(f"p{m}"))
            for m, value in enumerate(positions, 1)
        ),
        times=sql.SQL(", ").join(
            sql.SQL("{} as {}").format(value, _ident(f"t{m}")) for m, value in enumerate(times, 1)
        ),
        previous=_ident(previous),
    )
    return passes, chain


def _strict_attempts(steps: int) -> tuple[list[sql.Composable], sql.Composable]:
    """Step k+1 must be the entity's next event: the k-th later event of the filtered ones at
    exactly position + k (a gap means an unlisted event came between) that matches step k+1.
    lag() over the descending order is lead() over the ascending one, so the sort is shared."""
    columns: list[sql.Composable] = [sql.SQL("cast(null as integer) as next_excluded")]
    for k in range(1, steps):
        step = k + 1
        follows = sql.SQL(
            "lag(position, {k}) over w = position + {k} and lag({match}, {k}) over w"
        ).format(k=sql.Literal(k), match=_ident(f"m{step}"))
        columns.append(
            sql.SQL("case when {} then position + {} end as {}").format(
                follows, sql.Literal(k), _ident(f"p{step}")
            )
        )
        columns.append(
            sql.SQL("case when {} then lag(created_at, {}) over w end as {}").format(
                follows, sql.Literal(k), _ident(f"t{step}")
            )
        )
    raw = sql.SQL(
        "strict_raw as (select entity_id, position, breakdown_value, m1, position as p1, "
        "created_at as t1, {columns} from events "
        "window w as (partition by entity_id order by position desc))"
    ).format(columns=sql.SQL(", ").join(columns))
    # Each step also needs every earlier one: a later p is kept only where the chain is unbroken.
    unbroken = sql.SQL(
        "select entity_id, position, breakdown_value, next_excluded, p1, t1, {columns} "
        "from strict_raw where m1"
    ).format(
        columns=sql.SQL(", ").join(
            sql.SQL(
                "case when {all_found} then {p} end as {p}, case when {all_found} then {t} end as {t}"
            ).format(
                all_found=sql.SQL(" and ").join(
                    sql.SQL("{} is not null").format(_ident(f"p{k}")) for k in range(2, m + 1)
                ),
                p=_ident(f"p{m}"),
                t=_ident(f"t{m}"),
            )
            for m in range(2, steps + 1)
        )
    )
    return [raw], unbroken


def _any_attempts(steps: int) -> tuple[list[sql.Composable], sql.Composable]:
    """For each event of any step: the first event of every step at or after it (a running
    minimum from the end), then the reached steps' times in the order they happen."""
    columns: list[sql.Composable] = [
        sql.SQL("min(case when is_excluded then position end) over {} as next_excluded").format(
            AFTER
        )
    ]
    for j in range(1, steps + 1):
        for kind, own in (("f", "position"), ("g", "created_at")):
            columns.append(
                sql.SQL("min(case when {} then {} end) over {} as {}").format(
                    _ident(f"m{j}"), sql.SQL(own), FROM_HERE, _ident(f"{kind}{j}")
                )
            )
    firsts = sql.SQL("any_firsts as (select events.*, {} from events)").format(
        sql.SQL(", ").join(columns)
    )
    reached = [
        sql.SQL("{g} - created_at <= %(window)s").format(g=_ident(f"g{j}"))
        for j in range(1, steps + 1)
    ]
    reached_times = sql.SQL(", ").join(
        sql.SQL("case when {} then {} end").format(condition, _ident(f"g{j}"))
        for j, condition in enumerate(reached, 1)
    )
    reached_positions = sql.SQL(", ").join(
        sql.SQL("case when {} then {} end").format(condition, _ident(f"f{j}"))
        for j, condition in enumerate(reached, 1)
    )
    ordered = sql.SQL(
        "any_reached as (select entity_id, position, breakdown_value, next_excluded, "
        "array(select reached from unnest(array[{times}]) as reached where reached is not null "
        "order by reached) as reached_times, greatest({positions}) as last_position "
        "from any_firsts where {is_any_step})"
    ).format(
        times=reached_times,
        positions=reached_positions,
        is_any_step=sql.SQL(" or ").join(_ident(f"m{j}") for j in range(1, steps + 1)),
    )
    chain = sql.SQL(
        "select entity_id, position, breakdown_value, next_excluded, {times}, "
        "cardinality(reached_times) as found, last_position from any_reached"
    ).format(
        times=sql.SQL(", ").join(
            sql.SQL("reached_times[{}] as {}").format(sql.Literal(m), _ident(f"t{m}"))
            for m in range(1, steps + 1)
        )
    )
    return [firsts, ordered], chain


def _attempts(query: FunnelQuery) -> list[sql.Composable]:
    """CTEs ending in `attempts`: one row per attempt with its level (0 when excluded), the
    times of its reached steps (NULL beyond) and the position of its last reached step."""
    steps = len(query.steps)
    builders = {"sequential": _sequential_attempts, "strict": _strict_attempts}
    if query.order == "any":
        passes, chain = _any_attempts(steps)
        level = sql.SQL("found")
        last_position = sql.SQL("last_position")
    else:
        passes, chain = builders[query.order](steps)
        reached = [
            sql.SQL("({p} is not null and {t} - t1 <= %(window)s)").format(
                p=_ident(f"p{m}"), t=_ident(f"t{m}")
            )
            for m in range(2, steps + 1)
        ]
        # Steps are found in order and their times never decrease, so the reached ones are a
        # prefix: the level is one plus how many of steps 2..n are found in the window.
        level = sql.SQL("1 + {}").format(
            sql.SQL(" + ").join(sql.SQL("cast({} as integer)").format(r) for r in reached)
        )
        last_position = sql.SQL("case {level} {whens} end").format(
            level=sql.SQL("({})").format(level),
            whens=sql.SQL(" ").join(
                sql.SQL("when {} then {}").format(sql.Literal(m), _ident(f"p{m}"))
                for m in range(1, steps + 1)
            ),
        )
    chained = sql.SQL("chained as ({})").format(chain)
    leveled = sql.SQL(
        "leveled as (select chained.*, {level} as reached_level, {last} as last_reached_position "
        "from chained)"
    ).format(level=level, last=last_position)
    times = sql.SQL(", ").join(
        sql.SQL("case when reached_level >= {m} then {t} end as {t}").format(
            m=sql.Literal(m), t=_ident(f"t{m}")
        )
        for m in range(1, steps + 1)
    )
    attempts = sql.SQL(
        "attempts as (select entity_id, position, breakdown_value, last_reached_position, {times}, "
        "case when next_excluded < last_reached_position then 0 else reached_level end as level "
        "from leveled)"
    ).format(times=times)
    return [*passes, chained, leveled, attempts]


def funnel_entities_sql(
    query: FunnelQuery, relation: tuple[str, str] = DEFAULT_RELATION
) -> tuple[sql.Composed, dict[str, object]]:
    """The statement's CTEs up to `entities`: one row per entity in the funnel with its level
    (furthest step), breakdown value and step times, from the latest attempt reaching it."""
    params: dict[str, object] = {"window": query.window}
    events = sql.SQL("events as ({})").format(_filtered_events(query, relation, params))
    steps = len(query.steps)
    # The winner is the attempt with the highest level, then the latest start: one key per
    # attempt ordered that way, and one whole-partition maximum finds it.
    winners = sql.SQL(
        "ranked as (select attempts.*, cast(level as bigint) * 2147483648 + position as rank_key, "
        "max(cast(level as bigint) * 2147483648 + position) over (partition by entity_id) "
        "as best_key from attempts where level > 0), "
        "winners as (select * from ranked where rank_key = best_key)"
    )
    if query.attribution == "last" and query.breakdown:
        entities = sql.SQL(
            "entities as (select winners.entity_id, winners.level, {times}, "
            "events.breakdown_value from winners join events "
            "on events.entity_id = winners.entity_id "
            "and events.position = winners.last_reached_position)"
        )
    else:
        entities = sql.SQL(
            "entities as (select entity_id, level, {times}, breakdown_value from winners)"
        )
    entities = entities.format(
        times=sql.SQL(", ").join(
            sql.SQL("winners.{}").format(_ident(f"t{m}")) for m in range(1, steps + 1)
        )
    )
    ctes = [events, *_attempts(query), winners, entities]
    return sql.SQL("with {}").format(sql.SQL(",\n").join(ctes)), params


def funnel_summary_sql(
    query: FunnelQuery, relation: tuple[str, str] = DEFAULT_RELATION
) -> tuple[sql.Composed, dict[str, object]]:
    """Per breakdown value: entities at each step, then median and p90 seconds per step pair."""
    ctes, params = funnel_entities_sql(query, relation)
    steps = len(query.steps)
    counts = [
        sql.SQL("count(*) filter (where level >= {})").format(sql.Literal(m))
        for m in range(1, steps + 1)
    ]
    # One sort per step pair gives both quantiles (an array of fractions); NULL when no entity
    # reached the later step.
    durations = [
        sql.SQL(
            "percentile_cont(array[0.5, 0.9]) within group (order by extract(epoch from {} - {}))"
        ).format(_ident(f"t{m}"), _ident(f"t{m - 1}"))
        for m in range(2, steps + 1)
    ]
    statement = sql.SQL(
        "{ctes}\nselect breakdown_value, {columns} from entities group by breakdown_value "
        "order by count(*) desc, breakdown_value nulls last"
    ).format(ctes=ctes, columns=sql.SQL(", ").join(counts + durations))
    return statement, params


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)


def run_funnel(
    database_url: str, query: FunnelQuery, relation: tuple[str, str] = DEFAULT_RELATION
) -> FunnelResult:
    """Answer a funnel question in the database; only one row per breakdown value returns."""
    with transaction(database_url) as cursor:
        return funnel_on(cursor, query, relation)


def funnel_on(
    cursor: psycopg2.extensions.cursor,
    query: FunnelQuery,
    relation: tuple[str, str] = DEFAULT_RELATION,
) -> FunnelResult:
    """`run_funnel` on an open cursor (many questions, one connection)."""
    statement, params = funnel_summary_sql(query, relation)
    steps = len(query.steps)
    cursor.execute(statement, params)
    rows = []
    for record in cursor.fetchall():
        quantiles = [pair or (None, None) for pair in record[1 + steps :]]
        rows.append(
            FunnelRow(
                breakdown=record[0],
                counts=[int(value) for value in record[1 : 1 + steps]],
                median_seconds=[_optional_float(median) for median, _ in quantiles],
                p90_seconds=[_optional_float(p90) for _, p90 in quantiles],
            )
        )
    return FunnelResult(steps=[step.label() for step in query.steps], rows=rows)


def dropped_sql(
    query: FunnelQuery, step: int, relation: tuple[str, str] = DEFAULT_RELATION
) -> tuple[sql.Composed, dict[str, object]]:
    """The entities whose furthest step is `step` (they reached it and not the next one)."""
    if not 1 <= step < len(query.steps):
        raise AnalyticsInputError(
            f"--dropped {step}: choose a step from 1 to {len(query.steps) - 1} "
            "(the last step has no next one to drop before)"
        )
    ctes, params = funnel_entities_sql(query, relation)
    params["dropped_level"] = step
    statement = sql.SQL(
        "{ctes}\nselect entity_id, breakdown_value, t1 as entered_at, {reached} as reached_at "
        "from entities where level = %(dropped_level)s order by entity_id"
    ).format(ctes=ctes, reached=_ident(f"t{step}"))
    return statement, params


def dropped_entities(
    database_url: str, query: FunnelQuery, step: int, relation: tuple[str, str] = DEFAULT_RELATION
) -> list[tuple[object, str | None, dt.datetime, dt.datetime]]:
    """(entity id, breakdown value, entered at, reached step `step` at) of each dropped entity."""
    statement, params = dropped_sql(query, step, relation)
    with transaction(database_url) as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def save_dropped_cohort(
    database_url: str,
    query: FunnelQuery,
    step: int,
    table: str,
    relation: tuple[str, str] = DEFAULT_RELATION,
) -> int:
    """Write the dropped entities as `cohorts.<table>` (replaced if present); returns rows.

    A cohort table is how an analyst hands "who dropped" to the next tool (a campaign, the
    retention list) without exporting ids by hand."""
    name = checked_identifier("--cohort-table", table)
    statement, params = dropped_sql(query, step, relation)
    target = sql.Identifier(COHORT_SCHEMA, name)
    with transaction(database_url) as cursor:
        cursor.execute(sql.SQL("create schema if not exists {}").format(_ident(COHORT_SCHEMA)))
        cursor.execute(sql.SQL("drop table if exists {}").format(target))
        cursor.execute(sql.SQL("create table {} as {}").format(target, statement), params)
        return cursor.rowcount
