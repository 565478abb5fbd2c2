"""The churn marts' structural rules fire in dbt, where they live (the quality gate dropped its
copies of them: a rule lives in dbt or in Great Expectations, never both).

Rows that break each rule are planted in copies of the tiny warehouse's marts, `dbt test` runs
on the three marts, and every rule must fail by name; the built marts are put back afterwards,
so the other modules reading the same build see it unchanged.
"""

from __future__ import annotations

import pytest

from ecom.db import transaction
from ecom.transform import DbtRunError, run_dbt

pytestmark = pytest.mark.integration

MARTS = "mart_churn_features mart_churn_labels mart_churn_scoring"

# The marts carry unique indexes (PostgreSQL refuses a duplicate key outright), so each is set
# aside and replaced by a plain copy for the length of the test, then put back as built.
SET_ASIDE = "".join(
    f"alter table analytics.{mart} rename to {mart}__built;"
    f"create table analytics.{mart} as select * from analytics.{mart}__built;"
    for mart in MARTS.split()
)
PUT_BACK = "".join(
    f"drop table if exists analytics.{mart};alter table analytics.{mart}__built rename to {mart};"
    for mart in MARTS.split()
)

PLANT = """
insert into analytics.mart_churn_features
select * from analytics.mart_churn_features limit 1;
create temp table planted_feature on commit drop as
    select * from analytics.mart_churn_features limit 1;
update planted_feature set age = 130, tenure_days = -1, frequency_orders = null,
    view_to_cart_rate = 1.5, feature_timestamp = feature_timestamp + interval '1 hour';
insert into analytics.mart_churn_features select * from planted_feature;

insert into analytics.mart_churn_labels (user_id, cutoff_date, feature_timestamp, churned,
    label_horizon_end)
select -7, cutoff_date, feature_timestamp, 2, feature_timestamp
from analytics.mart_churn_labels limit 1;

create temp table planted_score on commit drop as
    select * from analytics.mart_churn_scoring limit 1;
update planted_score set age = 131, cutoff_date = cutoff_date + 7,
    feature_timestamp = feature_timestamp + interval '7 days';
insert into analytics.mart_churn_scoring select * from planted_score;
"""

# (fragment of the failing dbt test's name, the rule) for every rule the gate no longer checks.
RULES = (
    ("unique_combination_of_columns_mart_churn_features", "one row per user and cutoff"),
    ("not_null_mart_churn_features_frequency_orders", "a non-nullable feature"),
    ("accepted_range_mart_churn_features_age", "age within 0-120"),
    ("accepted_range_mart_churn_features_tenure_days", "tenure never negative"),
    ("accepted_range_mart_churn_features_view_to_cart_rate", "a rate within 0-1"),
    ("mart_churn_features_feature_timestamp", "feature_timestamp is the cutoff, 00:00 UTC"),
    ("accepted_values_mart_churn_labels_churned", "churned is 0 or 1"),
    ("relationships_composite_mart_churn_labels", "every label has its feature row"),
    ("mart_churn_labels_label_horizon_end", "the horizon is the cutoff + 30 days"),
    ("unique_mart_churn_scoring_user_id", "one scoring row per user"),
    ("single_value_mart_churn_scoring_cutoff_date", "one scoring date"),
)


def test_every_structural_churn_mart_rule_fails_in_dbt(tiny_warehouse) -> None:
    settings, endpoints, _ = tiny_warehouse
    with transaction(endpoints.database_url) as cursor:
        cursor.execute(SET_ASIDE)
    try:
        with transaction(endpoints.database_url) as cursor:
            cursor.execute(PLANT)
        with pytest.raises(DbtRunError) as failure:
            run_dbt(
                ["test", "--select", MARTS, "--exclude-resource-type", "unit_test"],
                settings=settings,
                endpoints=endpoints,
            )
    finally:
        with transaction(endpoints.database_url) as cursor:
            cursor.execute(PUT_BACK)
    failed = [node.name for node in failure.value.summary.failed_nodes]
    missed = [rule for fragment, rule in RULES if not any(fragment in name for name in failed)]
    assert not missed, f"rules that did not fire: {missed}; failed tests: {failed}"
