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
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg2.extensions
from psycopg2 import sql

from ecom.analytics.events import (
    BREAKDOWNS,
    DEFAULT_RELATION,
    EVENT_ORDER,
    EVENT_TYPES,
    UNIT_COLUMNS,
    UNITS,
    AnalyticsInputError,
    Step,
    breakdown_column,
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
    entity, partition = UNIT_COLUMNS[query.unit]
    matches = [step.condition(f"s{index}", params) for index, step in enumerate(query.steps, 1)]
    exclusions = [step.condition(f"x{index}", params) for index, step in enumerate(query.exclude)]
    excluded = sql.SQL(" or ").join(exclusions) if exclusions else sql.SQL("false")
    params["lower"], params["upper"] = query.start, query.end
    # Positions number all of the entity's events (a strict step must be the very next one,
    # whatever a question filters out), so they are counted before the filter.
    return sql.SQL(
        """select entity_id, position, created_at, breakdown_value, {flags}, is_excluded
    from (select {entity} as entity_id,
            cast(row_number() over (partition by {partition} order by {order}) as integer)
                as position,
            created_at, {breakdown} as breakdown_value, {columns}, {excluded} as is_excluded
        from {relation}
        where {entity} is not null) as numbered
    where ({any_match})
      and (cast(%(lower)s as timestamptz) is null or created_at >= %(lower)s)
      and (cast(%(upper)s as timestamptz) is null or created_at < %(upper)s)"""
    ).format(
        entity=sql.Identifier(entity),
        partition=sql.SQL(partition),
        order=sql.SQL(EVENT_ORDER),
        breakdown=breakdown_column(query.breakdown),
        columns=sql.SQL(", ").join(
            sql.SQL("{} as {}").format(match, sql.Identifier(f"m{index}"))
            for index, match in enumerate(matches, 1)
        ),
        flags=sql.SQL(", ").join(
            sql.Identifier(f"m{index}") for index in range(1, len(matches) + 1)
        ),
        excluded=excluded,
        relation=relation_identifier(relation),
        any_match=sql.SQL(" or ").join(
            [
                *(sql.Identifier(f"m{index}") for index in range(1, len(matches) + 1)),
                sql.SQL("is_excluded"),
            ]
        ),
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
        "order by reached) as reached_times, "
        "array(select reached from unnest(array[{positions}]) as reached "
        "where reached is not null order by reached) as reached_positions, "
        "greatest({positions}) as last_position "
        "from any_firsts where {is_any_step})"
    ).format(
        times=reached_times,
        positions=reached_positions,
        is_any_step=sql.SQL(" or ").join(_ident(f"m{j}") for j in range(1, steps + 1)),
    )
    chain = sql.SQL(
        "select entity_id, position, breakdown_value, next_excluded, {times}, {positions}, "
        "cardinality(reached_times) as found, last_position from any_reached"
    ).format(
        times=sql.SQL(", ").join(
            sql.SQL("reached_times[{}] as {}").format(sql.Literal(m), _ident(f"t{m}"))
            for m in range(1, steps + 1)
        ),
        positions=sql.SQL(", ").join(
            sql.SQL("reached_positions[{}] as {}").format(sql.Literal(m), _ident(f"p{m}"))
            for m in range(1, steps + 1)
        ),
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
        sql.SQL("case when reached_level >= {m} then {v} end as {v}").format(
            m=sql.Literal(m), v=_ident(f"{kind}{m}")
        )
        for kind in ("t", "p")
        for m in range(1, steps + 1)
    )
    attempts = sql.SQL(
        "attempts as (select entity_id, position, breakdown_value, last_reached_position, {times}, "
        "case when next_excluded < last_reached_position then 0 else reached_level end as level "
        "from leveled)"
    ).format(times=times)
    return [*passes, chained, leveled, attempts]


# The winner is the attempt with the highest level, then the latest start: one key per attempt
# ordered that way, and one whole-partition maximum finds it.
WINNERS = sql.SQL(
    "ranked as (select attempts.*, cast(level as bigint) * 2147483648 + position as rank_key, "
    "max(cast(level as bigint) * 2147483648 + position) over (partition by entity_id) "
    "as best_key from attempts where level > 0), "
    "winners as (select * from ranked where rank_key = best_key)"
)


def uses_session_arrays(query: FunnelQuery) -> bool:
    """Session funnels of plain event types read int_events_sequenced_sessions (one row per
    session, each distinct sequence evaluated once); user funnels and URI prefixes read the
    event table, where a question sees every event's uri and the user's order across sessions."""
    return query.unit == "session" and all(
        step.uri_prefix is None for step in (*query.steps, *query.exclude)
    )


def companion(relation: tuple[str, str], suffix: str) -> tuple[str, str]:
    """The session table (`_sessions`) or sequence table (`_patterns`) dbt builds beside an
    event table: intermediate.int_events_sequenced_sessions for the default one."""
    return relation[0], f"{relation[1]}{suffix}"


def funnel_entities_sql(
    query: FunnelQuery, relation: tuple[str, str] = DEFAULT_RELATION
) -> tuple[sql.Composed, dict[str, object]]:
    """The statement's CTEs up to `entities`: one row per entity in the funnel with its level
    (furthest step), breakdown value and step times, from the latest attempt reaching it."""
    plan = entity_ctes(query, relation)
    ctes, sources, params = plan.ctes, plan.sources, plan.params
    if sources != ["entities"]:
        union = sql.SQL(" union all ").join(
            sql.SQL("select * from {}").format(_ident(source)) for source in sources
        )
        ctes = [*ctes, sql.SQL("entities as ({})").format(union)]
    return sql.SQL("with {}").format(sql.SQL(",\n").join(ctes)), params


@dataclass
class EntityPlan:
    """A funnel's CTEs; `sources` name those holding its entities (their union is the funnel's
    entities: entity_id, level, t1..tn, breakdown_value). A summary aggregates
    `summary_sources` and adds `summary_parts`, already grouped statements with the columns
    breakdown_value, level, n, seconds_2..seconds_n, for what those sources leave out."""

    ctes: list[sql.Composable]
    sources: list[str]
    params: dict[str, object]
    summary_sources: list[str] | None = None
    summary_parts: list[sql.Composable] = field(default_factory=list)


def entity_ctes(query: FunnelQuery, relation: tuple[str, str] = DEFAULT_RELATION) -> EntityPlan:
    """The CTEs of a funnel and the names of those holding its entities (their union is the
    funnel's entities: entity_id, level, t1..tn, breakdown_value). Kept apart so a summary can
    aggregate each in its own plan, in parallel where the plan allows."""
    if uses_session_arrays(query):
        return _session_entity_ctes(query, relation)
    params: dict[str, object] = {"window": query.window}
    events = sql.SQL("events as ({})").format(_filtered_events(query, relation, params))
    steps = len(query.steps)
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
    return EntityPlan([events, *_attempts(query), WINNERS, entities], ["entities"], params)


def _code_condition(step: Step, key: str, params: dict[str, object]) -> sql.Composed:
    params[key] = EVENT_TYPES.index(step.event_type) + 1
    return sql.SQL("(event_code = {})").format(sql.Placeholder(key))


def _winners_of(query: FunnelQuery, events: sql.Composable) -> sql.Composed:
    """The engine over one event stream, as a subquery: its winning attempt per entity (level,
    start `position`, `last_reached_position`, step positions p1.. and times t1..)."""
    ctes = [sql.SQL("events as ({})").format(events), *_attempts(query), WINNERS]
    return sql.SQL("(with {} select * from winners)").format(sql.SQL(",\n").join(ctes))


def _breakdown_at(query: FunnelQuery, position: sql.Composable) -> sql.Composable:
    """The breakdown value of the session's event at `position` (see the sessions model)."""
    if query.breakdown is None:
        return sql.SQL("cast(null as text)")
    if query.breakdown == "event_type":
        return sql.SQL("(cast(%(event_types)s as text[]))[sessions.event_codes[{}]]").format(
            position
        )
    return sql.SQL(
        "coalesce(sessions.event_breakdowns[{position}][{index}], sessions.{column})"
    ).format(
        position=position,
        index=sql.Literal(SESSION_BREAKDOWNS.index(query.breakdown) + 1),
        column=_ident(query.breakdown),
    )


# The breakdowns the sessions model keeps per session, in the order of its event_breakdowns rows.
SESSION_BREAKDOWNS = ("traffic_source", "browser", "city", "state", "country")


def _code_flags(
    query: FunnelQuery, params: dict[str, object]
) -> tuple[sql.Composable, sql.Composable]:
    """The step flags m1..mn and `is_excluded` over a session's event codes, as select columns,
    and the condition that an event is a step or an exclusion (the events the engine reads)."""
    matches = [
        _code_condition(step, f"s{index}", params) for index, step in enumerate(query.steps, 1)
    ]
    exclusions = [
        _code_condition(step, f"x{index}", params) for index, step in enumerate(query.exclude)
    ]
    excluded = sql.SQL(" or ").join(exclusions) if exclusions else sql.SQL("false")
    flags = sql.SQL(", ").join(
        [
            *(
                sql.SQL("{} as {}").format(match, _ident(f"m{index}"))
                for index, match in enumerate(matches, 1)
            ),
            sql.SQL("{} as is_excluded").format(excluded),
        ]
    )
    return flags, sql.SQL(" or ").join([*matches, excluded])


@dataclass(frozen=True)
class _SessionSplit:
    """Which sessions the window and range cannot cut (`whole`, all conditions hold), which
    they can (`cut`, any holds) and, of those, which overlap the range (`overlaps`, all)."""

    whole: list[sql.Composable]
    cut: list[sql.Composable]
    overlaps: list[sql.Composable]

    @classmethod
    def of(cls, query: FunnelQuery) -> _SessionSplit:
        whole = [sql.SQL("sessions.span_seconds <= date_part('epoch', %(window)s)")]
        cut = [sql.SQL("sessions.span_seconds > date_part('epoch', %(window)s)")]
        overlaps: list[sql.Composable] = []
        if query.start is not None:
            whole.append(sql.SQL("sessions.first_at >= %(lower)s"))
            cut.append(sql.SQL("sessions.first_at < %(lower)s"))
            overlaps.append(sql.SQL("sessions.last_at >= %(lower)s"))
        if query.end is not None:
            whole.append(sql.SQL("sessions.last_at < %(upper)s"))
            cut.append(sql.SQL("sessions.last_at >= %(upper)s"))
            overlaps.append(sql.SQL("sessions.first_at < %(upper)s"))
        return cls(whole, cut, overlaps)

    @property
    def is_whole(self) -> sql.Composable:
        return sql.SQL(" and ").join(self.whole)


def _pattern_events(
    patterns: sql.Composable, flags: sql.Composable, any_match: sql.Composable
) -> sql.Composed:
    """Each distinct sequence's step and exclusion events, all at one instant (a whole
    session's outcome does not depend on its times)."""
    return sql.SQL(
        "select patterns.pattern_id as entity_id, cast(coded.position as integer) as position, "
        "cast('2000-01-01' as timestamptz) as created_at, cast(null as text) as breakdown_value, "
        "{flags} from {patterns} as patterns "
        "cross join lateral unnest(patterns.event_codes) with ordinality as coded (event_code, position) "
        "where {any_match}"
    ).format(flags=flags, patterns=patterns, any_match=any_match)


def _cut_events(
    query: FunnelQuery,
    sessions: sql.Composable,
    split: _SessionSplit,
    flags: sql.Composable,
    any_match: sql.Composable,
) -> sql.Composed:
    """The step and exclusion events, with their real times, of the sessions the window or
    range can cut and that overlap the range, those inside the range only."""
    in_range = [sql.SQL("true")]
    if query.start is not None:
        in_range.append(sql.SQL("coded.created_at >= %(lower)s"))
    if query.end is not None:
        in_range.append(sql.SQL("coded.created_at < %(upper)s"))
    return sql.SQL(
        "select sessions.session_id as entity_id, cast(coded.position as integer) as position, "
        "coded.created_at, cast(null as text) as breakdown_value, {flags} "
        "from {sessions} as sessions cross join lateral "
        "unnest(sessions.event_codes, sessions.event_times) with ordinality "
        "as coded (event_code, created_at, position) "
        "where ({cut}) and {overlaps} and ({any_match}) and {in_range}"
    ).format(
        flags=flags,
        sessions=sessions,
        cut=sql.SQL(" or ").join(split.cut),
        overlaps=sql.SQL(" and ").join([sql.SQL("true"), *split.overlaps]),
        any_match=any_match,
        in_range=sql.SQL(" and ").join(in_range),
    )


def _start_column(query: FunnelQuery) -> str:
    """The winning attempt's position whose event supplies the breakdown value."""
    return "position" if query.attribution == "first" else "last_reached_position"


def _pattern_answers(
    query: FunnelQuery, patterns: sql.Composable, pattern_events: sql.Composable
) -> sql.Composed:
    """One array per answer, indexed by pattern_id (level 0 where the sequence is not in the
    funnel). Each is read by an uncorrelated subquery, which PostgreSQL evaluates once before
    the parallel workers start and hands to them: the scan of the sessions stays parallel,
    where a join to the engine's window functions would keep it in one process."""
    start_column = _start_column(query)
    answer_columns = [
        ("level", sql.SQL("winners.level")),
        ("start", sql.SQL("winners.{}").format(_ident(start_column))),
        ("start_code", sql.SQL("patterns.event_codes[winners.{}]").format(_ident(start_column))),
    ] + [
        (f"p{m}", sql.SQL("winners.{}").format(_ident(f"p{m}")))
        for m in range(1, len(query.steps) + 1)
    ]
    return sql.SQL(
        "pattern_answers as materialized (select {arrays} from {patterns} as patterns "
        "left join {winners} as winners on winners.entity_id = patterns.pattern_id)"
    ).format(
        arrays=sql.SQL(", ").join(
            # 0, not NULL, where there is no answer: subscripts into an array without NULLs
            # are direct, and subscript 0 still reads NULL from a session's arrays.
            sql.SQL("array_agg(coalesce({}, 0) order by patterns.pattern_id) as {}").format(
                column, _ident(f"{name}s")
            )
            for name, column in answer_columns
        ),
        patterns=patterns,
        winners=_winners_of(query, pattern_events),
    )


def _answer(name: str, pattern_id: str = "patterns.pattern_id") -> sql.Composed:
    """A sequence's answer `name` (level, start, start_code, p1..) read from pattern_answers."""
    return sql.SQL("(select {} from pattern_answers)[{}]").format(
        _ident(f"{name}s"), sql.SQL(pattern_id)
    )


def _with_pattern(sessions: sql.Composable, patterns: sql.Composable) -> sql.Composed:
    """A session finds its sequence's number through the small pattern table (a hash join
    inside each parallel worker)."""
    return sql.SQL(
        "{sessions} as sessions join {patterns} as patterns "
        "on patterns.pattern_key = sessions.pattern_key"
    ).format(sessions=sessions, patterns=patterns)


def _whole_entities(
    query: FunnelQuery,
    name: str,
    condition: sql.Composable,
    with_pattern: sql.Composable,
    split: _SessionSplit,
) -> sql.Composed:
    """The whole sessions in the funnel (and meeting `condition`) as entities: their sequence's
    answer, with the real times of its steps and the breakdown at its start."""
    return sql.SQL(
        "{name} as (select sessions.session_id as entity_id, {level} as level, {times}, "
        "{breakdown} as breakdown_value from {with_pattern} "
        "where {whole} and {level} > 0 and {condition})"
    ).format(
        name=_ident(name),
        level=_answer("level"),
        times=sql.SQL(", ").join(
            sql.SQL("sessions.event_times[{}] as {}").format(_answer(f"p{m}"), _ident(f"t{m}"))
            for m in range(1, len(query.steps) + 1)
        ),
        breakdown=_breakdown_at(query, _answer("start")),
        with_pattern=with_pattern,
        whole=split.is_whole,
        condition=condition,
    )


def _cut_entities(
    query: FunnelQuery, sessions: sql.Composable, cut_events: sql.Composable
) -> sql.Composed:
    """The cut sessions in the funnel: the engine's winners over their events, with the
    breakdown read from the session at the winning attempt's start."""
    return sql.SQL(
        "cut_entities as (select sessions.session_id as entity_id, winners.level, {times}, "
        "{breakdown} as breakdown_value "
        "from {winners} as winners join {sessions} as sessions "
        "on sessions.session_id = winners.entity_id)"
    ).format(
        times=sql.SQL(", ").join(
            sql.SQL("winners.{}").format(_ident(f"t{m}")) for m in range(1, len(query.steps) + 1)
        ),
        breakdown=_breakdown_at(query, sql.SQL("winners.{}").format(_ident(_start_column(query)))),
        sessions=sessions,
        winners=_winners_of(query, cut_events),
    )


def _grouped_whole(
    query: FunnelQuery, with_pattern: sql.Composable, split: _SessionSplit
) -> tuple[sql.Composed, list[sql.Composed]]:
    """The summary's share of the whole sessions, grouped before anything else is computed: by
    pattern and the breakdown's shared value, which PostgreSQL estimates well (so it plans a
    parallel hash aggregate), with the breakdown value and level read per group afterwards.
    Sessions whose events disagree on the breakdown (none in TheLook's data) are summed as
    entities instead: returns the grouped statement and those entities' CTE (if any)."""
    steps = len(query.steps)
    if query.breakdown in SESSION_BREAKDOWNS:
        shared = sql.SQL("sessions.event_breakdowns is null")
        mixed = [
            _whole_entities(
                query,
                "mixed_entities",
                sql.SQL("sessions.event_breakdowns is not null"),
                with_pattern,
                split,
            )
        ]
        group_columns = [query.breakdown]
        breakdown_after = sql.SQL("sessions.{}").format(_ident(query.breakdown))
    else:
        shared, mixed, group_columns = sql.SQL("true"), [], []
        breakdown_after = (
            sql.SQL("(cast(%(event_types)s as text[]))[{}]").format(
                _answer("start_code", "sessions.pattern_id")
            )
            if query.breakdown == "event_type"
            else sql.SQL("cast(null as text)")
        )
    grouped = sql.SQL(
        "select {breakdown} as breakdown_value, {level} as level, sessions.n, {seconds} "
        "from (select patterns.pattern_id, {columns}count(*) as n, {durations} "
        "from {with_pattern} where {whole} and {inner_level} > 0 and {shared} "
        "group by patterns.pattern_id{grouping}) as sessions"
    ).format(
        breakdown=breakdown_after,
        level=_answer("level", "sessions.pattern_id"),
        inner_level=_answer("level"),
        seconds=sql.SQL(", ").join(
            sql.SQL("sessions.{}").format(_ident(f"seconds_{m}")) for m in range(2, steps + 1)
        ),
        columns=sql.SQL("").join(
            sql.SQL("sessions.{}, ").format(_ident(column)) for column in group_columns
        ),
        durations=_duration_arrays(
            steps,
            lambda m: sql.SQL("sessions.event_times[{}]").format(_answer(f"p{m}")),
            _answer("level"),
        ),
        with_pattern=with_pattern,
        whole=split.is_whole,
        shared=shared,
        grouping=sql.SQL("").join(
            sql.SQL(", sessions.{}").format(_ident(column)) for column in group_columns
        ),
    )
    return grouped, mixed


def _session_entity_ctes(query: FunnelQuery, relation: tuple[str, str]) -> EntityPlan:
    """Session funnels from one row per session.

    A session whose span fits the window and whose events all lie in the date range has an
    outcome (level, winning attempt, positions of its steps) that depends on its sequence of
    event codes alone, so each distinct sequence (`pattern_key`) goes through the engine once,
    with every event at one instant, and the answer joins back to its sessions, which supply
    the real times and breakdown values. The few sessions the window or range can cut (and
    those with no pattern key) go through the same engine event by event."""
    params: dict[str, object] = {
        "window": query.window,
        "event_types": list(EVENT_TYPES),
        "lower": query.start,
        "upper": query.end,
    }
    flags, any_match = _code_flags(query, params)
    split = _SessionSplit.of(query)
    sessions = relation_identifier(companion(relation, "_sessions"))
    patterns = relation_identifier(companion(relation, "_patterns"))
    answers = _pattern_answers(query, patterns, _pattern_events(patterns, flags, any_match))
    with_pattern = _with_pattern(sessions, patterns)
    whole = _whole_entities(query, "whole_entities", sql.SQL("true"), with_pattern, split)
    cut = _cut_entities(query, sessions, _cut_events(query, sessions, split, flags, any_match))
    grouped_whole, mixed = _grouped_whole(query, with_pattern, split)
    return EntityPlan(
        [answers, whole, cut, *mixed],
        ["whole_entities", "cut_entities"],
        params,
        summary_sources=["cut_entities"] + (["mixed_entities"] if mixed else []),
        summary_parts=[grouped_whole],
    )


def _duration_arrays(
    steps: int, step_time: Callable[[int], sql.Composable], level: sql.Composable
) -> sql.Composed:
    """`seconds_2` .. `seconds_<steps>`: per step pair, the array of seconds from step m-1 to
    step m over the entities that reached m (see funnel_summary_sql for why arrays)."""
    return sql.SQL(", ").join(
        sql.SQL(
            "array_agg(date_part('epoch', {later} - {earlier})) filter (where {level} >= {m}) "
            "as {name}"
        ).format(
            later=step_time(m),
            earlier=step_time(m - 1),
            level=level,
            m=sql.Literal(m),
            name=_ident(f"seconds_{m}"),
        )
        for m in range(2, steps + 1)
    )


def funnel_summary_sql(
    query: FunnelQuery, relation: tuple[str, str] = DEFAULT_RELATION
) -> tuple[sql.Composed, dict[str, object]]:
    """Per breakdown value: entities at each step, then median and p90 seconds per step pair.

    Why arrays: percentile_cont is an ordered-set aggregate, which PostgreSQL never splits
    across parallel workers, so over the entities directly it keeps the whole funnel in one
    process. Collecting each step pair's durations with array_agg (which workers build in
    parts and the leader joins) keeps the scan parallel; the leader then sorts each pair's
    durations once for both quantiles, with the same percentile_cont."""
    plan = entity_ctes(query, relation)
    steps = len(query.steps)
    sources = plan.sources if plan.summary_sources is None else plan.summary_sources
    durations = _duration_arrays(steps, lambda m: _ident(f"t{m}"), sql.SQL("level"))
    parts = [
        sql.SQL(
            "select breakdown_value, level, count(*) as n, {durations} from {source} "
            "group by breakdown_value, level"
        ).format(durations=durations, source=_ident(source))
        for source in sources
    ] + list(plan.summary_parts)
    totals = sql.SQL(", ").join(
        sql.SQL("coalesce(sum(n) filter (where level >= {m}), 0) as {name}").format(
            m=sql.Literal(m), name=_ident(f"entities_{m}")
        )
        for m in range(1, steps + 1)
    )
    quantiles = sql.SQL(", ").join(
        sql.SQL(
            "(select percentile_cont(array[0.5, 0.9]) within group (order by seconds) "
            "from summary_parts as parts cross join lateral unnest(parts.{name}) as seconds "
            "where parts.breakdown_value is not distinct from totals.breakdown_value)"
        ).format(name=_ident(f"seconds_{m}"))
        for m in range(2, steps + 1)
    )
    statement = sql.SQL(
        "{ctes},\nsummary_parts as materialized ({parts}),\n"
        "totals as (select breakdown_value, {totals} from summary_parts group by breakdown_value)\n"
        "select totals.*, {quantiles} from totals "
        "order by entities_1 desc, breakdown_value nulls last"
    ).format(
        ctes=sql.SQL("with {}").format(sql.SQL(",\n").join(plan.ctes)),
        parts=sql.SQL(" union all ").join(parts),
        totals=totals,
        quantiles=quantiles,
    )
    return statement, plan.params


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
