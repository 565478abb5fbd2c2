"""What the quality gate expects of each table, as plain data.

Every suite is a `TableSuite` of `ExpectationSpec`s: a Great Expectations expectation type and
its keyword arguments. Keeping them as data (rather than building GX objects here) lets unit
tests read the contract without starting GX, and lets failure messages name the column and the
bound that was broken. `ecom.quality.gate` turns these specs into GX suites and runs them.

Raw suites follow `ecom.thelook` (the TheLook contract); mart suites follow the shared mart
contract (`analytics.mart_churn_*`) and the dbt models' documented columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import ecom.features.contract as contract
from ecom import thelook
from ecom.thelook import RAW_SCHEMA, RawTable

MARTS_SCHEMA = contract.MART_SCHEMA

# A churn base rate outside this range means the labels (or the data) are broken: a model trained
# on 1% or 100% churners learns nothing useful, and the generator plants far from both ends.
CHURN_BASE_RATE_BOUNDS = (0.05, 0.99)

# Humans and TheLook's generator both live between these ages (raw users and the age feature).
AGE_BOUNDS = contract.AGE_YEARS.bounds

# How far past the clock a timestamp may run and only warn. TheLook's own generator places
# purchase events and order items up to 4 days after its clock and delivered_at up to 8; two
# weeks covers that with room, while a sign-up in 2099 (a parsing or clock bug) still blocks.
FUTURE_LEAD_DAYS = 14

Severity = Literal["critical", "warning"]

# How PostgreSQL (through SQLAlchemy) names each TheLook column type; GX compares these strings.
_GX_TYPE_NAMES = {
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "double precision": "DOUBLE PRECISION",
    "text": "TEXT",
    "timestamptz": "TIMESTAMP WITH TIME ZONE",
}


@dataclass(frozen=True)
class ExpectationSpec:
    """One GX expectation: its snake_case type, its kwargs, and the column it is about."""

    type: str
    kwargs: Mapping[str, Any]
    column: str | None = None
    description: str | None = None  # for SQL expectations, what the query checks
    # Other tables (qualified) the expectation reads: skipped when the load had no file for one.
    needs: tuple[str, ...] = ()
    # GX's failure severity: a "critical" failure blocks the gate, a "warning" is reported only.
    severity: Severity = "critical"

    @property
    def columns_label(self) -> str | None:
        """The column(s) a failure message should name."""
        if self.column:
            return self.column
        for key in ("column", "column_A"):
            if key in self.kwargs:
                names = [self.kwargs[key]]
                if key == "column_A":
                    names.append(self.kwargs["column_B"])
                return ", ".join(names)
        if "column_list" in self.kwargs and self.type == "expect_compound_columns_to_be_unique":
            return ", ".join(self.kwargs["column_list"])
        return None


@dataclass(frozen=True)
class TableSuite:
    """The expectations for one table; `required` tables fail the gate when absent.

    `needs` are the raw tables (qualified) the table is built from: when the load had no file
    for one of them, the table is empty by design and the gate skips its suite and says why.
    """

    schema: str
    table: str
    expectations: tuple[ExpectationSpec, ...]
    required: bool = True
    missing_hint: str = ""
    needs: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


# --------------------------------------------------------------------------- spec builders


def row_count_at_least(minimum: int = 1) -> ExpectationSpec:
    return ExpectationSpec("expect_table_row_count_to_be_between", {"min_value": minimum})


def columns_in_order(columns: Sequence[str]) -> ExpectationSpec:
    return ExpectationSpec(
        "expect_table_columns_to_match_ordered_list", {"column_list": list(columns)}
    )


def columns_present(columns: Sequence[str]) -> ExpectationSpec:
    return ExpectationSpec(
        "expect_table_columns_to_match_set", {"column_set": list(columns), "exact_match": False}
    )


def column_type(column: str, type_name: str) -> ExpectationSpec:
    return ExpectationSpec(
        "expect_column_values_to_be_of_type", {"column": column, "type_": type_name}
    )


def not_null(column: str) -> ExpectationSpec:
    return ExpectationSpec("expect_column_values_to_not_be_null", {"column": column})


def unique(column: str) -> ExpectationSpec:
    return ExpectationSpec("expect_column_values_to_be_unique", {"column": column})


def compound_unique(columns: Sequence[str]) -> ExpectationSpec:
    return ExpectationSpec("expect_compound_columns_to_be_unique", {"column_list": list(columns)})


def between(column: str, min_value: Any = None, max_value: Any = None) -> ExpectationSpec:
    """Values in [min, max]; NULLs are not judged here (not_null does that where it matters)."""
    kwargs: dict[str, Any] = {"column": column}
    if min_value is not None:
        kwargs["min_value"] = min_value
    if max_value is not None:
        kwargs["max_value"] = max_value
    return ExpectationSpec("expect_column_values_to_be_between", kwargs)


def in_set(column: str, values: Iterable[Any]) -> ExpectationSpec:
    return ExpectationSpec(
        "expect_column_values_to_be_in_set", {"column": column, "value_set": list(values)}
    )


def mean_between(column: str, min_value: float, max_value: float) -> ExpectationSpec:
    return ExpectationSpec(
        "expect_column_mean_to_be_between",
        {"column": column, "min_value": min_value, "max_value": max_value},
    )


def no_rows_where(
    query: str,
    *,
    column: str | None,
    description: str,
    needs: tuple[str, ...] = (),
    severity: Severity = "critical",
) -> ExpectationSpec:
    """A SQL check GX has no built-in for: `query` selects the offending rows of `{batch}`."""
    return ExpectationSpec(
        "unexpected_rows_expectation",
        {"unexpected_rows_query": query},
        column=column,
        description=description,
        needs=needs,
        severity=severity,
    )


@dataclass(frozen=True)
class Clock:
    """What the raw timestamps are judged against: the data's own clock when the marts are
    built (`int_data_clock`), else the wall clock.

    A timestamp at or after `at` is a fact of TheLook (its generator runs rows days past its own
    clock, and a replay `--as-of` an earlier day leaves the rest of the data after it): counted
    per table and column as a warning. One more than `FUTURE_LEAD_DAYS` past the wall clock
    cannot be such a row (a sign-up in 2099 is a clock or parsing bug): it blocks.
    """

    at: datetime
    wall: datetime
    source: str = "the wall clock"

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.wall.tzinfo is None:
            raise ValueError("the gate's clock must be timezone-aware (timestamps are timestamptz)")

    @property
    def limit(self) -> datetime:
        return self.wall + timedelta(days=FUTURE_LEAD_DAYS)

    def describe(self) -> str:
        return f"{self.source} ({self.at:%Y-%m-%d %H:%M} UTC)"


def not_far_future(column: str, clock: Clock) -> ExpectationSpec:
    """No timestamp more than the lead past the wall clock: that is a clock or parsing bug."""
    spec = between(column, max_value=clock.limit.isoformat())
    return replace(
        spec,
        description=f"at most {FUTURE_LEAD_DAYS} days after the wall clock "
        f"({clock.wall:%Y-%m-%d %H:%M} UTC)",
    )


def rows_after_clock(column: str, clock: Clock) -> ExpectationSpec:
    """Rows at or after the clock, counted: a warning (within the lead, `not_far_future` blocks).

    A column-values bound rather than a SQL query of its own: GX computes every such count of a
    table, and the blocking bounds beside them, in one aggregate query over the table (a query
    expectation reads the table twice per column: 14 columns, 28 scans, 2.6 million events)."""
    spec = between(column, max_value=clock.at.isoformat())
    return ExpectationSpec(
        spec.type,
        {**spec.kwargs, "strict_max": True},
        description=f"{column} after {clock.describe()}",
        severity="warning",
    )


def future_rows(table: RawTable, clock: Clock) -> list[ExpectationSpec]:
    """For every timestamp column: the warning count after the clock and the blocking bound."""
    specs = []
    for column in table.columns:
        if column.pg_type == "timestamptz":
            specs += [rows_after_clock(column.name, clock), not_far_future(column.name, clock)]
    return specs


def no_duplicate_keys(columns: Sequence[str]) -> ExpectationSpec:
    """No two rows share `columns`, as one GROUP BY.

    GX's `expect_compound_columns_to_be_unique` joins the table to its own group counts, which
    took 27 s of a 67 s gate on 2.4 million events; a grouped count takes about 2 s.
    """
    key = ", ".join(columns)
    return no_rows_where(
        f"select {key}, count(*) as copies from {{batch}} group by {key} having count(*) > 1",
        column=key,
        description=f"no two rows share ({key})",
    )


def references(column: str, parent: str, parent_key: str) -> ExpectationSpec:
    """Every non-null `column` value exists in `parent.parent_key` (referential integrity)."""
    return no_rows_where(
        # GX substitutes `{batch}` with an aliased subquery, hence the extra select to name it.
        f"select child.{column} from (select * from {{batch}}) as child "
        f"where child.{column} is not null and not exists "
        f"(select 1 from {parent} as parent where parent.{parent_key} = child.{column})",
        column=column,
        description=f"every {column} exists in {parent}.{parent_key}",
        needs=(parent,),
    )


def row_count_at_least_table(other: str, other_rows: int | None, why: str) -> ExpectationSpec:
    """At least as many rows as `other` had when the gate started (e.g. an item per order).

    The bound is a number rather than a SQL subquery so that a failure reads "observed 1, min 2".
    When `other` is absent (its own suite reports that), only non-emptiness is checked.
    """
    spec = row_count_at_least(max(1, other_rows or 0))
    return ExpectationSpec(
        spec.type,
        spec.kwargs,
        description=f"at least one row per row of {other}: {why}",
        needs=(other,),
    )


# --------------------------------------------------------------------------- raw tables


def _schema_expectations(table: RawTable) -> list[ExpectationSpec]:
    """Columns exactly as the TheLook export (names, order, types) and the primary key sound."""
    specs = [columns_in_order(table.column_names)]
    specs += [column_type(column.name, _GX_TYPE_NAMES[column.pg_type]) for column in table.columns]
    specs += [not_null(key) for key in table.primary_key]
    if len(table.primary_key) == 1:
        specs.append(unique(table.primary_key[0]))
    else:
        specs.append(compound_unique(table.primary_key))
    return specs


def _raw(name: str) -> str:
    return f"{RAW_SCHEMA}.{name}"


# Tables whose row count bounds another's: (table, at least as many rows as, why).
ROW_COUNT_FLOORS = (
    ("order_items", "orders", "every order has at least one item"),
    ("events", "orders", "every order comes from a session that purchased"),
)


def row_count_references() -> list[str]:
    """The tables whose row counts `raw_suites` needs (qualified names)."""
    return sorted({_raw(other) for _, other, _ in ROW_COUNT_FLOORS})


def _user_rules() -> list[ExpectationSpec]:
    return [
        row_count_at_least(1),
        between("age", *AGE_BOUNDS),
        in_set("gender", ("M", "F")),
        between("latitude", -90, 90),
        between("longitude", -180, 180),
        in_set("traffic_source", thelook.TRAFFIC_SOURCES_USERS),
        not_null("created_at"),
    ]


def _order_rules() -> list[ExpectationSpec]:
    return [
        row_count_at_least(1),
        not_null("user_id"),
        not_null("status"),
        in_set("status", thelook.ORDER_STATUSES),
        in_set("gender", ("M", "F")),
        between("num_of_item", 1),
        not_null("created_at"),
        references("user_id", _raw("users"), "id"),
    ]


def _order_item_rules(floor: ExpectationSpec) -> list[ExpectationSpec]:
    return [
        floor,
        not_null("order_id"),
        not_null("user_id"),
        not_null("product_id"),
        not_null("sale_price"),
        between("sale_price", 0),
        in_set("status", thelook.ORDER_STATUSES),
        not_null("created_at"),
        references("order_id", _raw("orders"), "order_id"),
        references("product_id", _raw("products"), "id"),
    ]


def _catalogue_rules() -> dict[str, list[ExpectationSpec]]:
    """Products, the stock of them, and the centres that hold it."""
    return {
        "products": [
            row_count_at_least(1),
            between("cost", 0),
            between("retail_price", 0),
            references("distribution_center_id", _raw("distribution_centers"), "id"),
        ],
        "inventory_items": [
            row_count_at_least(1),
            not_null("product_id"),
            between("cost", 0),
            between("product_retail_price", 0),
            references("product_id", _raw("products"), "id"),
        ],
        "distribution_centers": [
            row_count_at_least(1),
            between("latitude", -90, 90),
            between("longitude", -180, 180),
        ],
    }


def _event_rules(floor: ExpectationSpec) -> list[ExpectationSpec]:
    return [
        floor,
        not_null("session_id"),
        not_null("sequence_number"),
        between("sequence_number", 1),
        no_duplicate_keys(("session_id", "sequence_number")),
        not_null("event_type"),
        in_set("event_type", thelook.EVENT_TYPES),
        in_set("traffic_source", thelook.TRAFFIC_SOURCES_EVENTS),
        in_set("browser", thelook.BROWSERS),
        not_null("created_at"),
        references("user_id", _raw("users"), "id"),
    ]


def _assignment_rules(at_column: str) -> list[ExpectationSpec]:
    """A campaign contact or an experiment assignment: a variant, a time, a known user."""
    return [
        row_count_at_least(1),
        not_null("variant"),
        not_null(at_column),
        references("user_id", _raw("users"), "id"),
    ]


def _table_rules(row_counts: Mapping[str, int]) -> dict[str, list[ExpectationSpec]]:
    """Each raw table's own rules beyond its schema: ranges, allowed values, row counts, keys
    into other tables. `row_counts` sets the floors of `ROW_COUNT_FLOORS`."""
    floors = {
        table: row_count_at_least_table(_raw(other), row_counts.get(_raw(other)), why)
        for table, other, why in ROW_COUNT_FLOORS
    }
    return {
        "users": _user_rules(),
        "orders": _order_rules(),
        "order_items": _order_item_rules(floors["order_items"]),
        **_catalogue_rules(),
        "events": _event_rules(floors["events"]),
        "campaign_contacts": _assignment_rules("contacted_at"),
        "experiment_assignments": _assignment_rules("assigned_at"),
    }


def gate_clock(now: datetime, data_clock: datetime | None = None) -> Clock:
    """The data clock when dbt has computed one, else the wall clock; both timezone-aware."""
    if now.tzinfo is None:
        raise ValueError("raw_suites needs a timezone-aware `now` (timestamps are timestamptz)")
    if data_clock is None:
        return Clock(now, now)
    return Clock(data_clock, now, "the data clock")


def raw_suites(
    now: datetime,
    row_counts: Mapping[str, int] | None = None,
    *,
    data_clock: datetime | None = None,
) -> list[TableSuite]:
    """The raw TheLook tables: contract schema, keys, ranges, allowed values, sane row counts,
    referential integrity, and future rows (`Clock`): at or after `data_clock` (else `now`, the
    wall clock; both timezone-aware) a warning, far after the wall clock a failure.

    `row_counts` holds the current count of each table in `row_count_references()`.
    """
    clock = gate_clock(now, data_clock)
    rules = _table_rules(row_counts or {})
    return [
        TableSuite(
            RAW_SCHEMA,
            table.name,
            (*_schema_expectations(table), *rules.get(table.name, ()), *future_rows(table, clock)),
            required=table.required,
            missing_hint="load the raw tables with `ecom load`",
        )
        for table in thelook.ALL_TABLES
    ]


# --------------------------------------------------------------------------- marts

# Both feature marts carry the feature contract's columns, keys first.
CHURN_FEATURE_COLUMNS = contract.MART_COLUMNS
CHURN_LABEL_COLUMNS = (
    "user_id",
    "cutoff_date",
    "feature_timestamp",
    "churned",
    "label_horizon_end",
)


def churn_mart_suites() -> list[TableSuite]:
    """The three churn marts the feature store, training and scoring read: what dbt cannot say
    about them. Each holds rows and the feature contract's columns (the names Feast and the model
    ask for), and the labels' base rate is plausible. Their structure (keys, NULLs, every
    feature's range, feature_timestamp at the cutoff, the label horizon, a label per feature row,
    one scoring date) is dbt's to test, beside each model (`dbt/models/marts/mart_churn_*.yml`);
    a rule lives in one of the two tools, never both."""
    hint = "build the marts with `ecom transform`"
    feature_specs = (columns_present(CHURN_FEATURE_COLUMNS), row_count_at_least(1))
    return [
        TableSuite(MARTS_SCHEMA, "mart_churn_features", feature_specs, missing_hint=hint),
        TableSuite(
            MARTS_SCHEMA,
            "mart_churn_labels",
            (
                columns_present(CHURN_LABEL_COLUMNS),
                row_count_at_least(1),
                mean_between("churned", *CHURN_BASE_RATE_BOUNDS),
            ),
            missing_hint=hint,
        ),
        TableSuite(MARTS_SCHEMA, "mart_churn_scoring", feature_specs, missing_hint=hint),
    ]


# The raw tables each mart is built from, for a partial load (a folder without events.csv):
# the dbt models leave such a mart empty and the gate skips its suite instead of failing it.
# A new mart built on another optional input (the experiment marts on experiment_assignments,
# which real exports never have) adds its entry here.
MART_NEEDS: dict[str, tuple[str, ...]] = {
    "mart_churn_features": (_raw("events"), _raw("orders")),
    "mart_churn_labels": (_raw("events"), _raw("orders")),
    "mart_churn_scoring": (_raw("events"), _raw("orders")),
    "mart_funnel": (_raw("events"),),
    "mart_retention": (_raw("orders"),),
    "mart_rfm": (_raw("orders"),),
}


def mart_suites() -> list[TableSuite]:
    """Every mart the gate checks: the churn marts plus the reporting marts."""
    suites = churn_mart_suites() + reporting_mart_suites()
    return [replace(suite, needs=MART_NEEDS.get(suite.table, suite.needs)) for suite in suites]


def reporting_mart_suites() -> list[TableSuite]:
    """Funnel, retention and RFM: only that each holds rows. Their structure (keys, allowed
    levels, ranges, the invariants that make them readable) is dbt's to test, beside each
    model (`dbt/models/marts/*.yml`); a rule lives in one of the two tools, never both."""
    hint = "build the marts with `ecom transform`"
    return [
        TableSuite(MARTS_SCHEMA, mart, (row_count_at_least(1),), missing_hint=hint)
        for mart in ("mart_funnel", "mart_retention", "mart_rfm")
    ]


def all_suites(
    now: datetime,
    *,
    include_marts: bool,
    row_counts: Mapping[str, int] | None = None,
    data_clock: datetime | None = None,
) -> list[TableSuite]:
    suites = raw_suites(now, row_counts, data_clock=data_clock)
    if include_marts:
        suites += mart_suites()
    return suites
