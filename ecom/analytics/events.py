"""What a funnel or retention question may name: steps, breakdowns, units, and the event table.

Everything a user types that reaches SQL passes through here. Values (event types, URI
prefixes, dates, windows) travel as query parameters; identifiers (columns, the table) come
only from the whitelists below, so no user text is ever formatted into a statement.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from psycopg2 import sql

# The dbt model the questions read: one row per event with the user's country
# (intermediate/int_events_sequenced.sql); session funnels of plain event types read the
# session table beside it (int_events_sequenced_sessions).
DEFAULT_RELATION = ("intermediate", "int_events_sequenced")

# The event types TheLook writes (stg_thelook__events' accepted values).
EVENT_TYPES = ("home", "department", "product", "cart", "purchase", "cancel")

# A breakdown names a column of the event table: per event (traffic_source, browser, ...) or
# per user (country, joined in by the dbt model).
BREAKDOWNS = ("traffic_source", "browser", "country", "state", "city", "event_type")

UNITS = ("session", "user")

# Per unit: the entity's key in the event table, and how its events are numbered in order (a
# text key is compared bytewise: the same partitions, a much cheaper sort than the locale's).
UNIT_COLUMNS = {
    "session": ("session_id", 'session_id collate "C"'),
    "user": ("user_id", "user_id"),
}
# The order of an entity's events: time, then the generator's sequence number, then the id.
EVENT_ORDER = "created_at, sequence_number, event_id"

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class AnalyticsInputError(ValueError):
    """A question the engine refuses, with the option and value that caused it."""


@dataclass(frozen=True)
class Step:
    """One funnel step: an event type, optionally narrowed to URIs starting with a prefix.

    Written `product` or `product:/department/men` on the command line."""

    event_type: str
    uri_prefix: str | None = None

    @classmethod
    def parse(cls, text: str) -> Step:
        event_type, _, prefix = text.strip().partition(":")
        if event_type not in EVENT_TYPES:
            raise AnalyticsInputError(
                f"step {text!r}: unknown event type {event_type!r}; "
                f"choose one of {', '.join(EVENT_TYPES)}"
            )
        if _ and not prefix:
            raise AnalyticsInputError(f"step {text!r}: empty URI prefix after ':'")
        return cls(event_type, prefix or None)

    def label(self) -> str:
        return (
            self.event_type if self.uri_prefix is None else f"{self.event_type}:{self.uri_prefix}"
        )

    def matches(self, event_type: str, uri: str | None) -> bool:
        """The Python twin of `condition`, for references and tests."""
        if event_type != self.event_type:
            return False
        return self.uri_prefix is None or (uri or "").startswith(self.uri_prefix)

    def condition(self, key: str, params: dict[str, object]) -> sql.Composed:
        """A SQL boolean over the event row; the type and prefix go into `params` under `key`."""
        params[f"{key}_type"] = self.event_type
        if self.uri_prefix is None:
            return sql.SQL("(event_type = {})").format(sql.Placeholder(f"{key}_type"))
        params[f"{key}_prefix"] = self.uri_prefix
        return sql.SQL("(event_type = {} and starts_with(coalesce(uri, ''), {}))").format(
            sql.Placeholder(f"{key}_type"), sql.Placeholder(f"{key}_prefix")
        )


def parse_steps(texts: list[str] | str) -> tuple[Step, ...]:
    items = texts.split(",") if isinstance(texts, str) else texts
    return tuple(Step.parse(text) for text in items if text.strip())


def parse_duration(text: str) -> dt.timedelta:
    """`90s`, `30m`, `72h`, `14d` or `2w` as a timedelta (a funnel's conversion window)."""
    match = _DURATION.match(text)
    if match is None or int(match.group(1)) == 0:
        raise AnalyticsInputError(
            f"window {text!r}: write a positive whole number and a unit s, m, h, d or w (e.g. 72h)"
        )
    return dt.timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


def checked_choice(option: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise AnalyticsInputError(f"{option} {value!r}: choose one of {', '.join(choices)}")
    return value


def relation_identifier(relation: tuple[str, str]) -> sql.Identifier:
    """The event table as a quoted identifier; only lower-case SQL names are accepted."""
    for part in relation:
        if not _IDENTIFIER.match(part):
            raise AnalyticsInputError(f"table name part {part!r} is not a plain SQL identifier")
    return sql.Identifier(*relation)


def breakdown_column(breakdown: str | None) -> sql.Composable:
    """The breakdown as a text column of the event table (NULL without a breakdown), so every
    answer's breakdown_value has one type whichever column it comes from."""
    if breakdown:
        return sql.SQL("cast({} as text)").format(sql.Identifier(breakdown))
    return sql.SQL("cast(null as text)")


def checked_identifier(what: str, name: str) -> str:
    """A name the user chooses for a table we write (a cohort), checked to be a plain one."""
    if not _IDENTIFIER.match(name):
        raise AnalyticsInputError(
            f"{what} {name!r}: use lower-case letters, digits and '_' (at most 63, not a digit first)"
        )
    return name


def day_bounds(
    start: dt.date | None, end: dt.date | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Inclusive UTC days as a half-open [from, to) of timestamps (None: unbounded)."""
    if start is not None and end is not None and end < start:
        raise AnalyticsInputError(f"--to {end} is before --from {start}")
    lower = dt.datetime.combine(start, dt.time(), dt.UTC) if start else None
    upper = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC) if end else None
    return lower, upper
