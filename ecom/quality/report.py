"""The quality gate's verdict, and how a GX validation result becomes a sentence a person reads.

Pure functions over the JSON form of GX results (`ExpectationSuiteValidationResult.to_json_dict()`),
so the wording of failures is unit-tested without a database. A failure reads like
`raw.order_items: expect_column_values_to_be_between(sale_price, min 0) failed: 1 of 1843 rows
(e.g. -5.0)`: table, expectation, column, bound, how many rows and an example.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# How many offending values a message quotes, and how many failures an exception message lists.
_EXAMPLES_PER_FAILURE = 3
_FAILURES_IN_EXCEPTION = 10
_FAILURES_IN_VERDICT = 3
# Lists longer than this (column lists, value sets) are shortened in messages.
_LIST_ITEMS_SHOWN = 6


@dataclass(frozen=True)
class ExpectationFailure:
    """One broken expectation on one table; a "warning" is reported and does not block."""

    table: str
    column: str | None
    expectation_type: str
    observed: str
    message: str
    severity: str = "critical"
    rows: int | None = None  # how many rows broke it, when GX counted them

    @property
    def blocks(self) -> bool:
        return self.severity != "warning"


@dataclass(frozen=True)
class SuiteOutcome:
    """How one table fared: expectations evaluated and failed (a missing table counts as one)."""

    table: str
    evaluated: int
    failed: int  # blocking failures only
    missing: bool = False
    rows: int | None = None  # as GX counted them for the row-count expectation
    warned: int = 0  # failed expectations of severity "warning"

    @property
    def passed(self) -> bool:
        return self.failed == 0


@dataclass(frozen=True)
class QualityReport:
    """The gate's result: per-table outcomes, every blocking failure, every warning, and where
    the data docs are. Only blocking failures fail the gate."""

    suites: tuple[SuiteOutcome, ...]
    failures: tuple[ExpectationFailure, ...]
    data_docs_path: Path | None
    seconds: float = 0.0
    skipped: tuple[str, ...] = field(default_factory=tuple)  # optional tables that are absent
    warnings: tuple[ExpectationFailure, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return not self.failures and all(suite.passed for suite in self.suites)

    def warnings_line(self) -> str:
        """`rows after the data clock: raw.events.created_at 1,708, ...` (or '' when none)."""
        if not self.warnings:
            return ""
        counted = [
            f"{warning.table}.{warning.column} {warning.rows:,}"
            for warning in self.warnings
            if warning.rows is not None and warning.column
        ]
        if len(counted) == len(self.warnings):
            return "rows after the clock: " + ", ".join(counted)
        return "; ".join(warning.message for warning in self.warnings)

    @property
    def evaluated(self) -> int:
        return sum(suite.evaluated for suite in self.suites)

    @property
    def failed(self) -> int:
        return sum(suite.failed for suite in self.suites)

    @property
    def failed_tables(self) -> list[str]:
        return [suite.table for suite in self.suites if not suite.passed]

    def summary_line(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        text = (
            f"quality gate {verdict}: {self.evaluated - self.failed - len(self.warnings)} of "
            f"{self.evaluated} "
            f"expectations met on {len(self.suites)} tables in {self.seconds:.1f} s"
        )
        if not self.passed:
            text += f"; failing tables: {', '.join(self.failed_tables)}"
        if self.warnings:
            text += f"; {len(self.warnings)} warning{'s' * (len(self.warnings) > 1)} "
            text += f"({self.warnings_line()})"
        return text

    def verdict_text(self) -> str:
        """What is kept with the verdict: the summary and, when refused, the first failures, so
        a later "no champion" can say what the gate refused without re-running it."""
        if self.passed:
            return self.summary_line()
        shown = [failure.message for failure in self.failures[:_FAILURES_IN_VERDICT]]
        more = len(self.failures) - len(shown)
        return "\n".join(
            [self.summary_line(), *shown, *([f"... and {more} more"] if more > 0 else [])]
        )


class QualityGateFailed(Exception):
    """Raised by callers that must not go on (features, training) when the gate fails."""

    def __init__(self, report: QualityReport) -> None:
        self.report = report
        super().__init__(failure_message(report))


def failure_message(report: QualityReport) -> str:
    """The exception text: which expectations failed on which tables, most important first."""
    lines = [report.summary_line()]
    shown = report.failures[:_FAILURES_IN_EXCEPTION]
    lines += [f"  - {failure.message}" for failure in shown]
    if len(report.failures) > len(shown):
        lines.append(f"  ... and {len(report.failures) - len(shown)} more (see the data docs)")
    if report.data_docs_path:
        lines.append(f"data docs: {report.data_docs_path}")
    return "\n".join(lines)


def missing_table_failure(table: str, hint: str) -> ExpectationFailure:
    message = f"{table}: table is missing" + (f" ({hint})" if hint else "")
    return ExpectationFailure(table, None, "table_exists", "missing", message)


# --------------------------------------------------------------------------- describing


def _short(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _short_list(values: Sequence[Any]) -> str:
    items = [_short(value) for value in values[:_LIST_ITEMS_SHOWN]]
    if len(values) > _LIST_ITEMS_SHOWN:
        items.append(f"... {len(values)} in all")
    return ", ".join(items)


def describe_expectation(
    expectation_type: str, kwargs: Mapping[str, Any], column: str | None
) -> str:
    """`expect_column_values_to_be_between(sale_price, min 0)`: the type, column and bounds."""
    parts: list[str] = []
    if column:
        parts.append(column)
    if "min_value" in kwargs and kwargs["min_value"] is not None:
        parts.append(f"min {_short(kwargs['min_value'])}")
    if "max_value" in kwargs and kwargs["max_value"] is not None:
        parts.append(f"max {_short(kwargs['max_value'])}")
    if "value_set" in kwargs:
        parts.append(f"in {{{_short_list(list(kwargs['value_set']))}}}")
    if "type_" in kwargs:
        parts.append(str(kwargs["type_"]))
    if expectation_type in {
        "expect_table_columns_to_match_ordered_list",
        "expect_table_columns_to_match_set",
    }:
        columns = kwargs.get("column_list") or kwargs.get("column_set") or []
        parts.append(f"{len(columns)} columns")
    return f"{expectation_type}({', '.join(parts)})" if parts else expectation_type


def _examples(result: Mapping[str, Any]) -> list[Any]:
    counts = result.get("partial_unexpected_counts") or []
    values = [entry.get("value") for entry in counts] or list(
        result.get("partial_unexpected_list") or []
    )
    distinct: list[Any] = []
    for value in values:
        if value is not None and value not in distinct:
            distinct.append(value)
    return distinct[:_EXAMPLES_PER_FAILURE]


def _column_difference(expected: Sequence[str], observed: Sequence[str]) -> str:
    missing = [name for name in expected if name not in observed]
    unexpected = [name for name in observed if name not in expected]
    parts = []
    if missing:
        parts.append(f"missing columns {_short_list(missing)}")
    if unexpected:
        parts.append(f"unexpected columns {_short_list(unexpected)}")
    if not parts:
        parts.append(f"columns out of order: {_short_list(list(observed))}")
    return "; ".join(parts)


def describe_observed(
    expectation_type: str,
    kwargs: Mapping[str, Any],
    result: Mapping[str, Any],
    exception_message: str | None = None,
) -> str:
    """What was seen instead: `1 of 1843 rows (e.g. -5.0)`, `observed 0.02`, `3 rows`, ..."""
    if exception_message:
        return f"raised {exception_message.strip().splitlines()[0]}"
    if "unexpected_count" in result:
        text = f"{result['unexpected_count']} of {result.get('element_count', '?')} rows"
        examples = _examples(result)
        if examples:
            text += f" (e.g. {', '.join(str(example) for example in examples)})"
        return text
    observed = result.get("observed_value")
    if expectation_type == "unexpected_rows_expectation":
        return f"{observed} offending rows"
    if expectation_type == "expect_table_columns_to_match_ordered_list" and isinstance(
        observed, list
    ):
        return _column_difference(kwargs.get("column_list") or [], observed)
    if expectation_type == "expect_table_columns_to_match_set":
        missing = (result.get("details") or {}).get("mismatched", {}).get("missing") or []
        if missing:
            return f"missing columns {_short_list(missing)}"
    if isinstance(observed, float):
        return f"observed {observed:.4g}"
    return f"observed {observed}"


def _exception_message(exception_info: Mapping[str, Any]) -> str | None:
    """GX reports an error either flat or keyed by the metric that raised; find either."""
    if exception_info.get("raised_exception"):
        return exception_info.get("exception_message") or "an exception"
    for value in exception_info.values():
        if isinstance(value, Mapping) and value.get("exception_message"):
            return str(value["exception_message"])
    return None


def failures_from_validation(table: str, validation: Mapping[str, Any]) -> list[ExpectationFailure]:
    """Every unsuccessful expectation of one suite's validation result, as a failure.

    The column comes from the expectation's `meta["column"]` (set by `ecom.quality.gate` from the
    suite spec, because SQL expectations have no column argument), else from its kwargs.
    """
    failures = []
    for outcome in validation.get("results", []):
        if outcome.get("success"):
            continue
        config = outcome.get("expectation_config") or {}
        expectation_type = config.get("type", "unknown_expectation")
        kwargs = {
            key: value for key, value in (config.get("kwargs") or {}).items() if key != "batch_id"
        }
        column = (config.get("meta") or {}).get("column") or kwargs.get("column")
        exception_message = _exception_message(outcome.get("exception_info") or {})
        observed = describe_observed(
            expectation_type, kwargs, outcome.get("result") or {}, exception_message
        )
        described = describe_expectation(expectation_type, kwargs, column)
        if config.get("description"):
            described += f" [{config['description']}]"
        severity = str(config.get("severity") or "critical")
        verb = "warned" if severity == "warning" else "failed"
        failures.append(
            ExpectationFailure(
                table=table,
                column=column,
                expectation_type=expectation_type,
                observed=observed,
                message=f"{table}: {described} {verb}: {observed}",
                severity=severity,
                rows=_offending_rows(outcome.get("result") or {}),
            )
        )
    return failures


def _offending_rows(result: Mapping[str, Any]) -> int | None:
    """The number of rows that broke an expectation, when GX counted them."""
    if isinstance(result.get("unexpected_count"), int):
        return result["unexpected_count"]
    observed = result.get("observed_value")
    return observed if isinstance(observed, int) else None


def needs_examples(outcome: Mapping[str, Any]) -> bool:
    """A blocking failure of a column expectation: its message quotes offending values, which
    the gate's first pass (counts only) does not fetch."""
    config = outcome.get("expectation_config") or {}
    return (
        not outcome.get("success")
        and config.get("severity", "critical") != "warning"
        and "unexpected_count" in (outcome.get("result") or {})
    )


def _expectation_key(outcome: Mapping[str, Any]) -> tuple[str, str]:
    config = outcome.get("expectation_config") or {}
    kwargs = {
        key: value for key, value in (config.get("kwargs") or {}).items() if key != "batch_id"
    }
    return str(config.get("type")), repr(sorted(kwargs.items()))


def merge_examples(validation: Mapping[str, Any], examples: Mapping[str, Any]) -> dict[str, Any]:
    """`validation` with each result that `examples` (a second validation of some of its
    expectations, in SUMMARY format) also holds replaced by that fuller result; the verdict
    (`success`) and the expectation's own configuration stay the first validation's."""
    fuller = {
        _expectation_key(outcome): outcome.get("result") or {}
        for outcome in examples.get("results", [])
    }
    results = []
    for outcome in validation.get("results", []):
        key = _expectation_key(outcome)
        results.append({**outcome, "result": fuller[key]} if key in fuller else dict(outcome))
    return {**validation, "results": results}


def outcome_from_validation(table: str, validation: Mapping[str, Any]) -> SuiteOutcome:
    statistics = validation.get("statistics") or {}
    evaluated = int(statistics.get("evaluated_expectations", 0))
    unsuccessful = int(statistics.get("unsuccessful_expectations", 0))
    warned = sum(
        1
        for outcome in validation.get("results", [])
        if not outcome.get("success")
        and (outcome.get("expectation_config") or {}).get("severity") == "warning"
    )
    rows = None
    for outcome in validation.get("results", []):
        config = outcome.get("expectation_config") or {}
        observed = (outcome.get("result") or {}).get("observed_value")
        if config.get("type") == "expect_table_row_count_to_be_between" and isinstance(
            observed, int
        ):
            rows = observed
    return SuiteOutcome(table, evaluated, unsuccessful - warned, rows=rows, warned=warned)
