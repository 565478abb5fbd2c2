"""The gate's expectation definitions agree with the raw contract and are valid GX expectations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from ecom import thelook
from ecom.features import contract
from ecom.quality.suites import (
    CHURN_BASE_RATE_BOUNDS,
    CHURN_FEATURE_COLUMNS,
    CHURN_LABEL_COLUMNS,
    FUTURE_LEAD_DAYS,
    ExpectationSpec,
    all_suites,
    mart_suites,
    raw_suites,
    row_count_references,
)

NOW = datetime(2025, 6, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def _columns_named(spec: ExpectationSpec) -> set[str]:
    """Every column an expectation refers to through its kwargs."""
    names = {spec.kwargs.get(key) for key in ("column", "column_A", "column_B")} - {None}
    if spec.type in {"expect_compound_columns_to_be_unique"}:
        names |= set(spec.kwargs["column_list"])
    return names


def test_every_raw_table_has_a_suite_with_its_contract_schema():
    suites = {suite.table: suite for suite in raw_suites(NOW)}
    assert list(suites) == [table.name for table in thelook.ALL_TABLES]
    for table in thelook.ALL_TABLES:
        suite = suites[table.name]
        assert suite.required == table.required
        ordered = [
            spec
            for spec in suite.expectations
            if spec.type == "expect_table_columns_to_match_ordered_list"
        ]
        assert [spec.kwargs["column_list"] for spec in ordered] == [table.column_names]
        typed = {
            spec.kwargs["column"]: spec.kwargs["type_"]
            for spec in suite.expectations
            if spec.type == "expect_column_values_to_be_of_type"
        }
        assert set(typed) == set(table.column_names)
        assert typed[table.columns[0].name] in {"BIGINT", "TEXT"}


def test_raw_expectations_only_name_columns_of_their_table():
    for suite in raw_suites(NOW):
        known = set(thelook.TABLES_BY_NAME[suite.table].column_names)
        for spec in suite.expectations:
            assert _columns_named(spec) <= known, (suite.name, spec)


def test_primary_keys_are_unique_and_not_null():
    for suite in raw_suites(NOW):
        table = thelook.TABLES_BY_NAME[suite.table]
        not_null = {
            s.kwargs["column"]
            for s in suite.expectations
            if s.type == "expect_column_values_to_not_be_null"
        }
        assert set(table.primary_key) <= not_null
        unique_keys = [
            [s.kwargs["column"]]
            if s.type == "expect_column_values_to_be_unique"
            else s.kwargs["column_list"]
            for s in suite.expectations
            if s.type
            in {"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"}
        ]
        assert list(table.primary_key) in unique_keys


def test_allowed_values_come_from_the_raw_contract():
    suites = {suite.table: suite for suite in raw_suites(NOW)}
    value_sets = {
        (suite.table, spec.kwargs["column"]): spec.kwargs["value_set"]
        for suite in suites.values()
        for spec in suite.expectations
        if spec.type == "expect_column_values_to_be_in_set"
    }
    assert value_sets[("orders", "status")] == list(thelook.ORDER_STATUSES)
    assert value_sets[("order_items", "status")] == list(thelook.ORDER_STATUSES)
    assert value_sets[("events", "event_type")] == list(thelook.EVENT_TYPES)
    assert value_sets[("events", "browser")] == list(thelook.BROWSERS)


def _future_specs(suites, severity):
    return {
        (suite.table, spec.kwargs["column"]): spec
        for suite in suites
        for spec in suite.expectations
        if spec.severity == severity
        and spec.type == "expect_column_values_to_be_between"
        and "max_value" in spec.kwargs
        and "after" in (spec.description or "")
    }


def test_every_timestamp_warns_after_the_clock_and_blocks_past_the_lead():
    timestamps = {
        (table.name, column.name)
        for table in thelook.ALL_TABLES
        for column in table.columns
        if column.pg_type == "timestamptz"
    }
    suites = raw_suites(NOW)
    warnings = _future_specs(suites, "warning")
    blocking = _future_specs(suites, "critical")
    assert set(warnings) == set(blocking) == timestamps
    # Rows at the clock itself count as after it (strict bound), as in the marts' `>= clock_at`.
    assert {
        (spec.kwargs["max_value"], spec.kwargs["strict_max"]) for spec in warnings.values()
    } == {(NOW.isoformat(), True)}
    assert {spec.kwargs["max_value"] for spec in blocking.values()} == {
        (NOW + timedelta(days=FUTURE_LEAD_DAYS)).isoformat()
    }
    with pytest.raises(ValueError, match="timezone-aware"):
        raw_suites(datetime(2025, 6, 1))


def test_the_data_clock_moves_the_warning_and_the_wall_clock_bounds_the_lead():
    data_clock = NOW - timedelta(days=400)  # an old export (or a replay as of then), today
    suites = raw_suites(NOW, data_clock=data_clock)
    warning = _future_specs(suites, "warning")[("orders", "delivered_at")]
    assert warning.kwargs["max_value"] == data_clock.isoformat()
    assert "the data clock" in warning.description
    bound = _future_specs(suites, "critical")[("users", "created_at")].kwargs["max_value"]
    assert bound == (NOW + timedelta(days=FUTURE_LEAD_DAYS)).isoformat()


def test_row_count_floors_follow_the_reference_counts():
    assert row_count_references() == ["raw.orders"]

    def floor(suites, table):
        (spec,) = [
            s for s in next(x for x in suites if x.table == table).expectations
            if s.type == "expect_table_row_count_to_be_between" and s.description
        ]  # fmt: skip
        return spec.kwargs["min_value"]

    counted = raw_suites(NOW, {"raw.orders": 1234})
    assert floor(counted, "order_items") == 1234
    assert floor(counted, "events") == 1234
    assert floor(raw_suites(NOW), "events") == 1  # orders absent: only non-empty


# What only the gate checks on the churn marts; everything structural is a dbt test.
GATE_ONLY_MART_RULES = {
    "expect_table_columns_to_match_set",  # the contract's names, which Feast and the model read
    "expect_table_row_count_to_be_between",
    "expect_column_mean_to_be_between",  # the labels' base rate
}


def test_mart_suites_check_what_dbt_cannot():
    suites = {suite.table: suite for suite in mart_suites()}
    assert set(suites) == {
        "mart_churn_features", "mart_churn_labels", "mart_churn_scoring",
        "mart_funnel", "mart_retention", "mart_rfm",
    }  # fmt: skip
    assert all(suite.schema == "analytics" and suite.required for suite in suites.values())
    for suite in suites.values():
        assert {spec.type for spec in suite.expectations} <= GATE_ONLY_MART_RULES, suite.name
    features = suites["mart_churn_features"].expectations
    present = next(spec for spec in features if spec.type == "expect_table_columns_to_match_set")
    assert present.kwargs["column_set"] == list(CHURN_FEATURE_COLUMNS)
    base_rate = next(
        spec
        for spec in suites["mart_churn_labels"].expectations
        if spec.type == "expect_column_mean_to_be_between"
    )
    assert (base_rate.kwargs["min_value"], base_rate.kwargs["max_value"]) == CHURN_BASE_RATE_BOUNDS


def _dbt_tests(mart: str) -> tuple[dict[str, list], list]:
    """(column -> its data tests, the model's own data tests) from the mart's YAML."""
    document = yaml.safe_load((ROOT / "dbt" / "models" / "marts" / f"{mart}.yml").read_text())
    (model,) = document["models"]
    columns = {column["name"]: column.get("data_tests", []) for column in model["columns"]}
    return columns, model.get("data_tests", [])


def _named(tests: list, name: str) -> list:
    """The arguments of each test called `name` ({} for a bare `- not_null`)."""
    found = []
    for test in tests:
        if test == name:
            found.append({})
        elif isinstance(test, dict) and name in test:
            found.append((test[name] or {}).get("arguments", {}))
    return found


@pytest.mark.parametrize("mart", contract.FEATURE_MARTS)
def test_dbt_tests_hold_the_feature_contract(mart):
    """NULLs and ranges of both feature marts are the contract's, feature by feature, as dbt
    tests beside each model (the gate no longer repeats them)."""
    columns, model_tests = _dbt_tests(mart)
    not_null = {name for name, tests in columns.items() if _named(tests, "not_null")}
    assert not_null == {column.name for column in contract.KEY_COLUMNS} | {
        feature.name for feature in contract.FEATURES if not feature.nullable
    }
    ranges = {
        name: (arguments.get("min_value"), arguments.get("max_value"))
        for name, tests in columns.items()
        for arguments in _named(tests, "accepted_range")
    }
    assert ranges == {
        feature.name: feature.domain.bounds
        for feature in contract.FEATURES
        if feature.domain is not contract.ANY
    }
    assert ranges["age"] == (0, 120)
    expressions = [
        arguments["expression"] for arguments in _named(model_tests, "expression_is_true")
    ]
    assert any(
        expression.startswith("feature_timestamp = cast(cutoff_date") for expression in expressions
    )


def test_dbt_tests_hold_the_keys_and_the_label_rules():
    _, feature_tests = _dbt_tests("mart_churn_features")
    assert _named(feature_tests, "unique_combination_of_columns") == [
        {"combination_of_columns": ["user_id", "cutoff_date"]}
    ]
    scoring, _ = _dbt_tests("mart_churn_scoring")
    assert _named(scoring["user_id"], "unique") and _named(scoring["cutoff_date"], "single_value")
    labels, label_tests = _dbt_tests("mart_churn_labels")
    assert {name for name, tests in labels.items() if _named(tests, "not_null")} == set(
        CHURN_LABEL_COLUMNS
    )
    assert _named(labels["churned"], "accepted_values") == [{"values": [0, 1], "quote": False}]
    assert _named(label_tests, "relationships_composite")[0]["to"] == "ref('mart_churn_features')"
    (horizon,) = _named(label_tests, "expression_is_true")
    assert "churn_label_horizon_days" in horizon["expression"]


def test_include_marts_switches_the_mart_suites():
    raw_only = all_suites(NOW, include_marts=False)
    everything = all_suites(NOW, include_marts=True)
    assert {suite.schema for suite in raw_only} == {"raw"}
    assert len(everything) == len(raw_only) + len(mart_suites())


def test_every_spec_builds_a_valid_gx_expectation():
    """GX validates kwargs when it builds an expectation: a typo in a spec fails here."""
    from ecom.quality.gate import _to_gx_expectation

    for suite in all_suites(NOW, include_marts=True, row_counts={"raw.orders": 10}):
        for spec in suite.expectations:
            expectation = _to_gx_expectation(spec)
            assert expectation.expectation_type == spec.type, (suite.name, spec)
            if spec.columns_label:
                assert expectation.meta["column"] == spec.columns_label
