"""Failure sentences built from GX validation results (their JSON form, as GX 1.24 writes it)."""

from __future__ import annotations

from pathlib import Path

from ecom.quality.report import (
    QualityGateFailed,
    QualityReport,
    SuiteOutcome,
    describe_expectation,
    failures_from_validation,
    missing_table_failure,
    outcome_from_validation,
)


def _result(success, type_, kwargs, result, meta=None, exception_info=None, description=None):
    config = {
        "type": type_,
        "kwargs": {"batch_id": "ecom_warehouse-raw.t", **kwargs},
        "meta": meta or {},
    }
    if description:
        config["description"] = description
    return {
        "success": success,
        "expectation_config": config,
        "result": result,
        "exception_info": exception_info
        or {"raised_exception": False, "exception_message": None, "exception_traceback": None},
    }


VALIDATION = {
    "success": False,
    "suite_name": "raw.order_items",
    "statistics": {
        "evaluated_expectations": 5,
        "successful_expectations": 1,
        "unsuccessful_expectations": 4,
    },
    "results": [
        _result(
            True, "expect_column_values_to_be_unique", {"column": "id"}, {"unexpected_count": 0}
        ),
        _result(
            False,
            "expect_column_values_to_be_between",
            {"column": "sale_price", "min_value": 0.0},
            {
                "element_count": 1843,
                "unexpected_count": 1,
                "partial_unexpected_list": [-5.0],
                "partial_unexpected_counts": [{"value": -5.0, "count": 1}],
            },
            meta={"column": "sale_price"},
        ),
        _result(
            False,
            "unexpected_rows_expectation",
            {"unexpected_rows_query": "select ..."},
            {"observed_value": 3},
            meta={"column": "order_id"},
            description="every order_id exists in raw.orders.order_id",
        ),
        _result(
            False,
            "expect_table_columns_to_match_ordered_list",
            {"column_list": ["id", "order_id", "sale_price"]},
            {"observed_value": ["id", "sale_price", "extra"]},
        ),
        _result(
            False,
            "unexpected_rows_expectation",
            {"unexpected_rows_query": "select ..."},
            {},
            exception_info={
                "MetricConfigurationID(metric_name='unexpected_rows_query.row_count')": {
                    "exception_message": '(psycopg2.errors.UndefinedTable) relation "raw.nope" does not exist\nLINE 1',
                    "exception_traceback": "...",
                }
            },
        ),
    ],
}


def test_failures_name_table_column_expectation_and_observation():
    failures = failures_from_validation("raw.order_items", VALIDATION)
    assert [failure.message for failure in failures] == [
        "raw.order_items: expect_column_values_to_be_between(sale_price, min 0) failed: 1 of 1843 rows (e.g. -5.0)",
        "raw.order_items: unexpected_rows_expectation(order_id) [every order_id exists in "
        "raw.orders.order_id] failed: 3 offending rows",
        "raw.order_items: expect_table_columns_to_match_ordered_list(3 columns) failed: "
        "missing columns order_id; unexpected columns extra",
        "raw.order_items: unexpected_rows_expectation failed: raised (psycopg2.errors.UndefinedTable) "
        'relation "raw.nope" does not exist',
    ]
    assert [(f.column, f.expectation_type) for f in failures[:2]] == [
        ("sale_price", "expect_column_values_to_be_between"),
        ("order_id", "unexpected_rows_expectation"),
    ]


def test_outcome_counts_come_from_gx_statistics():
    assert outcome_from_validation("raw.order_items", VALIDATION) == SuiteOutcome(
        "raw.order_items", 5, 4
    )


def test_describe_shortens_long_value_sets():
    text = describe_expectation(
        "expect_column_values_to_be_in_set", {"value_set": list("abcdefghij")}, "status"
    )
    assert text == "expect_column_values_to_be_in_set(status, in {a, b, c, d, e, f, ... 10 in all})"


def test_report_passes_only_without_failures_and_the_exception_names_them():
    clean = QualityReport((SuiteOutcome("raw.users", 27, 0),), (), None, 1.0)
    assert clean.passed
    assert (
        clean.summary_line()
        == "quality gate passed: 27 of 27 expectations met on 1 tables in 1.0 s"
    )

    failures = (
        *failures_from_validation("raw.order_items", VALIDATION),
        missing_table_failure("analytics.mart_rfm", "build the marts with `ecom transform`"),
    )
    report = QualityReport(
        (
            SuiteOutcome("raw.order_items", 5, 4),
            SuiteOutcome("analytics.mart_rfm", 1, 1, missing=True),
        ),
        failures,
        Path("/tmp/docs/index.html"),
        2.0,
    )
    assert not report.passed
    assert report.failed_tables == ["raw.order_items", "analytics.mart_rfm"]
    error = QualityGateFailed(report)
    assert error.report is report
    text = str(error)
    assert text.splitlines()[0] == (
        "quality gate FAILED: 1 of 6 expectations met on 2 tables in 2.0 s; "
        "failing tables: raw.order_items, analytics.mart_rfm"
    )
    assert (
        "  - analytics.mart_rfm: table is missing (build the marts with `ecom transform`)" in text
    )
    assert "expect_column_values_to_be_between(sale_price, min 0)" in text
    assert text.endswith("data docs: /tmp/docs/index.html")


def test_exception_message_lists_at_most_ten_failures():
    many = tuple(missing_table_failure(f"raw.t{i}", "") for i in range(13))
    report = QualityReport(
        tuple(SuiteOutcome(f.table, 1, 1, missing=True) for f in many), many, None
    )
    lines = str(QualityGateFailed(report)).splitlines()
    assert sum(line.startswith("  - ") for line in lines) == 10
    assert lines[-1] == "  ... and 3 more (see the data docs)"


WARNED = {
    "success": False,
    "suite_name": "raw.events",
    "statistics": {
        "evaluated_expectations": 3,
        "successful_expectations": 1,
        "unsuccessful_expectations": 2,
    },
    "results": [
        _result(True, "expect_column_values_to_not_be_null", {"column": "id"}, {}),
        _result(
            False,
            "unexpected_rows_expectation",
            {"unexpected_rows_query": "select ..."},
            {"observed_value": 1708},
            meta={"column": "created_at"},
            description="created_at after the data clock (2024-06-12 00:00 UTC)",
        ),
        _result(
            False,
            "expect_column_values_to_be_between",
            {"column": "created_at", "max_value": "2024-06-26T00:00:00+00:00"},
            {"element_count": 9000, "unexpected_count": 1, "partial_unexpected_list": ["2099"]},
        ),
    ],
}
WARNED["results"][1]["expectation_config"]["severity"] = "warning"
WARNED["results"][2]["expectation_config"]["severity"] = "critical"


def test_a_warning_is_reported_apart_and_does_not_fail_the_gate():
    found = failures_from_validation("raw.events", WARNED)
    warning, blocking = found
    assert (warning.severity, warning.blocks, warning.rows) == ("warning", False, 1708)
    assert warning.message == (
        "raw.events: unexpected_rows_expectation(created_at) [created_at after the data clock "
        "(2024-06-12 00:00 UTC)] warned: 1708 offending rows"
    )
    assert blocking.blocks and blocking.message.endswith("failed: 1 of 9000 rows (e.g. 2099)")
    assert outcome_from_validation("raw.events", WARNED) == SuiteOutcome(
        "raw.events", 3, 1, warned=1
    )

    warned_only = QualityReport(
        (SuiteOutcome("raw.events", 3, 0, warned=1),), (), None, 1.0, warnings=(warning,)
    )
    assert warned_only.passed
    assert warned_only.summary_line() == (
        "quality gate passed: 2 of 3 expectations met on 1 tables in 1.0 s; "
        "1 warning (rows after the clock: raw.events.created_at 1,708)"
    )
    assert warned_only.verdict_text() == warned_only.summary_line()

    refused = QualityReport(
        (SuiteOutcome("raw.events", 3, 1, warned=1),), (blocking,), None, 1.0, warnings=(warning,)
    )
    assert not refused.passed
    assert refused.verdict_text().splitlines() == [refused.summary_line(), blocking.message]
