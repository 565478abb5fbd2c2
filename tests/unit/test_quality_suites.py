"""The gate's expectation definitions agree with the raw contract and are valid GX expectations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ecom import thelook
from ecom.features import contract
from ecom.quality.suites import (
    CHURN_BASE_RATE_BOUNDS,
    CHURN_FEATURE_COLUMNS,
    FUTURE_LEAD_DAYS,
    ExpectationSpec,
    all_suites,
    mart_suites,
    raw_suites,
    row_count_references,
)

NOW = datetime(2025, 6, 1, tzinfo=UTC)


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
        (suite.table, spec.column or spec.kwargs["column"]): spec
        for suite in suites
        for spec in suite.expectations
        if spec.severity == severity
        and (spec.type == "unexpected_rows_expectation" or "max_value" in spec.kwargs)
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
    assert (
        f">= '{NOW.isoformat()}'"
        in warnings[("events", "created_at")].kwargs["unexpected_rows_query"]
    )
    assert {spec.kwargs["max_value"] for spec in blocking.values()} == {
        (NOW + timedelta(days=FUTURE_LEAD_DAYS)).isoformat()
    }
    with pytest.raises(ValueError, match="timezone-aware"):
        raw_suites(datetime(2025, 6, 1))


def test_the_data_clock_moves_the_warning_and_the_wall_clock_bounds_the_lead():
    data_clock = NOW - timedelta(days=400)  # an old export (or a replay as of then), today
    suites = raw_suites(NOW, data_clock=data_clock)
    warning = _future_specs(suites, "warning")[("orders", "delivered_at")]
    assert f">= '{data_clock.isoformat()}'" in warning.kwargs["unexpected_rows_query"]
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


def test_mart_suites_check_the_churn_contract():
    suites = {suite.table: suite for suite in mart_suites(label_horizon_days=30)}
    assert set(suites) == {
        "mart_churn_features", "mart_churn_labels", "mart_churn_scoring",
        "mart_funnel", "mart_retention", "mart_rfm",
    }  # fmt: skip
    assert all(suite.schema == "analytics" and suite.required for suite in suites.values())
    features = suites["mart_churn_features"].expectations
    assert (
        ExpectationSpec(
            "expect_compound_columns_to_be_unique", {"column_list": ["user_id", "cutoff_date"]}
        )
        in features
    )
    present = next(spec for spec in features if spec.type == "expect_table_columns_to_match_set")
    assert present.kwargs["column_set"] == list(CHURN_FEATURE_COLUMNS)
    rates = {
        spec.kwargs["column"]
        for spec in features
        if spec.type == "expect_column_values_to_be_between" and spec.kwargs.get("max_value") == 1
    }
    assert rates == {"view_to_cart_rate", "cart_to_purchase_rate"}
    base_rate = next(
        spec
        for spec in suites["mart_churn_labels"].expectations
        if spec.type == "expect_column_mean_to_be_between"
    )
    assert (base_rate.kwargs["min_value"], base_rate.kwargs["max_value"]) == CHURN_BASE_RATE_BOUNDS
    horizon = [
        spec for spec in suites["mart_churn_labels"].expectations if "interval" in str(spec.kwargs)
    ]
    assert "interval '30 days'" in horizon[0].kwargs["unexpected_rows_query"]


@pytest.mark.parametrize("mart", contract.FEATURE_MARTS)
def test_feature_mart_suites_check_the_feature_contract(mart):
    """Columns, NULLs and ranges of both feature marts are the contract's, feature by feature."""
    (suite,) = [suite for suite in mart_suites(label_horizon_days=30) if suite.table == mart]
    specs = suite.expectations
    (present,) = [spec for spec in specs if spec.type == "expect_table_columns_to_match_set"]
    assert present.kwargs["column_set"] == list(contract.MART_COLUMNS)
    not_null = {
        spec.kwargs["column"]
        for spec in specs
        if spec.type == "expect_column_values_to_not_be_null"
    }
    assert not_null == {column.name for column in contract.KEY_COLUMNS} | {
        feature.name for feature in contract.FEATURES if not feature.nullable
    }
    assert {"frequency_orders", "monetary_value", "tenure_days"} <= not_null
    assert not_null.isdisjoint({"recency_days", "view_to_cart_rate", "age", "country"})
    ranges = {
        spec.kwargs["column"]: (spec.kwargs.get("min_value"), spec.kwargs.get("max_value"))
        for spec in specs
        if spec.type == "expect_column_values_to_be_between"
    }
    assert ranges == {
        feature.name: feature.domain.bounds
        for feature in contract.FEATURES
        if feature.domain is not contract.ANY
    }
    assert ranges["cart_adds"] == ranges["tenure_days"] == (0, None)
    assert ranges["view_to_cart_rate"] == (0, 1)
    assert ranges["age"] == (0, 120)


def test_include_marts_switches_the_mart_suites():
    raw_only = all_suites(NOW, 30, include_marts=False)
    everything = all_suites(NOW, 30, include_marts=True)
    assert {suite.schema for suite in raw_only} == {"raw"}
    assert len(everything) == len(raw_only) + len(mart_suites(30))


def test_every_spec_builds_a_valid_gx_expectation():
    """GX validates kwargs when it builds an expectation: a typo in a spec fails here."""
    from ecom.quality.gate import _to_gx_expectation

    for suite in all_suites(NOW, 30, include_marts=True, row_counts={"raw.orders": 10}):
        for spec in suite.expectations:
            expectation = _to_gx_expectation(spec)
            assert expectation.expectation_type == spec.type, (suite.name, spec)
            if spec.columns_label:
                assert expectation.meta["column"] == spec.columns_label
