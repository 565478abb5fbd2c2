"""The feature marts dbt really builds have the feature contract's columns, order and types.

The dbt macro (`dbt/macros/churn.sql`) keeps its own readable column list; this test is what
ties it to `ecom.features.contract`, so a dbt change that drops, renames, reorders or retypes a
feature fails here instead of in Feast, training or a prediction. It reads the warehouse the
hand-counted dbt tests built (the session's `tiny_warehouse`), so it costs no extra build.
"""

from __future__ import annotations

import pytest

from ecom.features import contract
from tests.integration.pg_catalog import column_types

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mart", contract.FEATURE_MARTS)
def test_dbt_mart_columns_and_types_equal_the_contract(tiny_warehouse, mart: str) -> None:
    _, endpoints, summary = tiny_warehouse
    assert summary.node(mart).status == "success"
    built = list(column_types(endpoints.database_url, contract.MART_SCHEMA, mart).items())
    expected = list(contract.mart_column_types().items())
    assert built == expected, (
        f"{contract.MART_SCHEMA}.{mart} as dbt built it differs from ecom.features.contract: "
        f"dbt has and the contract lacks {sorted(set(built) - set(expected))}, "
        f"the contract has and dbt lacks {sorted(set(expected) - set(built))}"
    )
