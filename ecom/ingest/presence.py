"""Which raw tables the last load found no file for, recorded on the tables themselves.

A partial folder loads what is there and creates the other tables empty, so every staging
view still resolves. Downstream stages must tell "absent from the load" from "present but
empty" (an empty events.csv is suspicious, a missing one is a choice): the loader marks an
absent table with a comment, which moves with the table in the swap and is replaced by the
next load, and `absent_tables` reads it back.
"""

from __future__ import annotations

import psycopg2.extensions
from psycopg2 import sql

from ecom.db import fetch_all
from ecom.thelook import RAW_SCHEMA

ABSENT_COMMENT_PREFIX = "ecom load: absent"


def mark_absent(cursor: psycopg2.extensions.cursor, table: sql.Composable, file_name: str) -> None:
    cursor.execute(
        sql.SQL("comment on table {} is %s").format(table),
        (f"{ABSENT_COMMENT_PREFIX}: the loaded folder had no {file_name}",),
    )


def absent_tables(database_url: str) -> set[str]:
    """Names of the raw tables the last load had no file for (empty set before any load)."""
    rows = fetch_all(
        database_url,
        "select c.relname from pg_catalog.pg_class as c "
        "join pg_catalog.pg_namespace as n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relkind = 'r' "
        "and pg_catalog.obj_description(c.oid, 'pg_class') like %s",
        (RAW_SCHEMA, ABSENT_COMMENT_PREFIX + "%"),
    )
    return {row[0] for row in rows}
