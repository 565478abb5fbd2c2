"""What the quality gate skips after a partial load, and why, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

from ecom.quality.gate import skip_reason
from ecom.quality.suites import MART_NEEDS, all_suites, mart_suites, raw_suites

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def _suites() -> dict[str, object]:
    return {suite.name: suite for suite in all_suites(NOW, include_marts=True)}


def test_every_mart_names_the_raw_tables_it_is_built_from():
    suites = {suite.table: suite for suite in mart_suites()}
    assert set(MART_NEEDS) <= set(suites)
    raw_names = {suite.name for suite in raw_suites(NOW)}
    for table, suite in suites.items():
        assert suite.needs, f"{table} declares no raw tables"
        assert set(suite.needs) <= raw_names, table


def test_foreign_keys_and_row_count_floors_name_the_table_they_read():
    suites = {suite.table: suite for suite in raw_suites(NOW, {"raw.orders": 5})}
    needs = {spec.needs for spec in suites["products"].expectations if spec.needs}
    assert needs == {("raw.distribution_centers",)}
    floors = [spec for spec in suites["events"].expectations if spec.needs == ("raw.orders",)]
    assert [spec.kwargs["min_value"] for spec in floors] == [5]


def test_absent_tables_and_what_is_built_from_them_are_skipped_with_a_reason():
    suites = _suites()
    existing = set(suites)
    absent = {"raw.events", "raw.experiment_assignments"}
    reasons = {name: skip_reason(suite, existing, absent) for name, suite in suites.items()}
    skipped = {name for name, reason in reasons.items() if reason}
    assert skipped == {
        "raw.events", "raw.experiment_assignments", "analytics.mart_churn_features",
        "analytics.mart_churn_labels", "analytics.mart_churn_scoring", "analytics.mart_funnel",
    }  # fmt: skip
    assert reasons["raw.events"] == "absent from the load (no events.csv)"
    assert reasons["raw.experiment_assignments"].endswith("; optional")
    assert reasons["analytics.mart_funnel"] == (
        "empty by design: built from raw.events, absent from the load"
    )


def test_an_optional_table_that_does_not_exist_is_skipped_and_a_required_one_is_not():
    suites = _suites()
    existing = set(suites) - {"raw.experiment_assignments", "analytics.mart_rfm"}
    assert skip_reason(suites["raw.experiment_assignments"], existing, set()) == (
        "absent (optional)"
    )
    assert skip_reason(suites["analytics.mart_rfm"], existing, set()) is None
