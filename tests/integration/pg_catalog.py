"""What PostgreSQL's catalogue says a built table is, for tests that check the loader's or
dbt's output against a contract."""

from __future__ import annotations

from ecom.db import fetch_all


def column_types(database_url: str, schema: str, table: str) -> dict[str, str]:
    """Column name -> `information_schema.columns.data_type`, in the table's column order."""
    return dict(
        fetch_all(
            database_url,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, table),
        )
    )
