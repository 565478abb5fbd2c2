"""The uplift champion's held-out evaluation as two tables the report and Metabase chart:
`analytics.uplift_qini_curve` (from `curves.qini_curves`) and `analytics.uplift_policy_value`
(the training result's policy frame).

Only the model that takes the `champion` alias writes them, and each write replaces every row in
one transaction: the tables always hold exactly the champion's evaluation, the one the
retention list uses, so a card's SQL needs no MLflow look-up to pick it and a challenger that
lost the gate never shows.
"""

from __future__ import annotations

import pandas as pd

from ecom.db import copy_frame, fetch_all, table_exists, transaction
from ecom.targeting.curves import CURVE_COLUMNS, qini_curves

QINI_TABLE = "analytics.uplift_qini_curve"
POLICY_TABLE = "analytics.uplift_policy_value"
QINI_DDL = f"""
create table if not exists {QINI_TABLE} (
    model_version text not null,
    ranking text not null,
    share_contacted double precision not null,
    incremental_conversions_ipw double precision not null,
    primary key (model_version, ranking, share_contacted)
)
"""
# The truth columns stay NULL for campaigns without the generator's planted outcomes.
POLICY_COLUMNS = (
    "policy",
    "budget_share",
    "contacts",
    "incremental_conversions_ipw",
    "incremental_conversions_ipw_low",
    "incremental_conversions_ipw_high",
    "profit_ipw",
    "incremental_conversions_truth",
    "profit_truth",
)
POLICY_DDL = f"""
create table if not exists {POLICY_TABLE} (
    model_version text not null,
    policy text not null,
    budget_share double precision not null,
    contacts double precision not null,
    incremental_conversions_ipw double precision not null,
    incremental_conversions_ipw_low double precision not null,
    incremental_conversions_ipw_high double precision not null,
    profit_ipw double precision not null,
    incremental_conversions_truth double precision,
    profit_truth double precision,
    primary key (model_version, policy, budget_share)
)
"""


def policy_rows(policies: pd.DataFrame) -> pd.DataFrame:
    """The policy frame in the table's columns (truth columns empty when absent)."""
    required = [column for column in POLICY_COLUMNS[:7] if column not in policies]
    if required:
        raise ValueError(f"the policy frame lacks the column(s) {', '.join(required)}")
    return policies.reindex(columns=list(POLICY_COLUMNS))


def write_champion_evaluation(
    database_url: str, model_version: str, test: pd.DataFrame, policies: pd.DataFrame
) -> tuple[int, int]:
    """Replace both tables' rows with this champion's curve and policy values, atomically.
    Returns the rows written (curve, policies)."""
    curve = qini_curves(test).assign(model_version=model_version)
    values = policy_rows(policies).assign(model_version=model_version)
    with transaction(database_url) as cursor:
        cursor.execute("select pg_advisory_xact_lock(hashtext('uplift_evaluation'))")
        cursor.execute("create schema if not exists analytics")
        for table, ddl in ((QINI_TABLE, QINI_DDL), (POLICY_TABLE, POLICY_DDL)):
            cursor.execute(ddl)
            cursor.execute(f"delete from {table}")
        copy_frame(cursor, QINI_TABLE, curve[["model_version", *CURVE_COLUMNS]])
        copy_frame(cursor, POLICY_TABLE, values[["model_version", *POLICY_COLUMNS]])
    return len(curve), len(values)


def evaluated_version(database_url: str) -> str | None:
    """The model version the tables hold, or None before any champion wrote them."""
    schema, table = QINI_TABLE.split(".")
    if not table_exists(database_url, schema, table):
        return None
    rows = fetch_all(database_url, f"select distinct model_version from {QINI_TABLE}")
    return rows[0][0] if len(rows) == 1 else None
