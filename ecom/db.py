"""Thin PostgreSQL access: connections, transactions and the retryable-error test."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import psycopg2
import psycopg2.extensions
from psycopg2 import errors as pg_errors
from psycopg2 import sql as pg_sql

from ecom.config import PostgresParts

# Errors worth a retry: the server restarted, the network blinked, or a lock wait was lost.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
)


def connect(database_url: str, *, dbname: str | None = None) -> psycopg2.extensions.connection:
    """Open a psycopg2 connection from an ECOM_DATABASE_URL (TCP or pgserver's unix socket)."""
    return psycopg2.connect(PostgresParts(database_url).dsn(dbname))


@contextlib.contextmanager
def transaction(database_url: str) -> Iterator[psycopg2.extensions.cursor]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    connection = connect(database_url)
    try:
        with connection, connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


def fetch_all(database_url: str, sql: str, params: tuple | dict | None = None) -> list[tuple]:
    with transaction(database_url) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def table_exists(database_url: str, schema: str, table: str) -> bool:
    rows = fetch_all(database_url, "select to_regclass(%s) is not null", (f"{schema}.{table}",))
    return bool(rows[0][0])


def _administer(server_url: str, *statements: pg_sql.Composable) -> None:
    """Run statements outside a transaction (CREATE/DROP DATABASE refuse to run inside one)."""
    connection = connect(server_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.close()


def _drop_statement(name: str) -> pg_sql.Composed:
    return pg_sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pg_sql.Identifier(name))


def drop_database(server_url: str, name: str) -> None:
    """Drop database `name` on the server of `server_url` if it exists, closing its connections."""
    _administer(server_url, _drop_statement(name))


def create_database(server_url: str, name: str, *, replace: bool = False) -> str:
    """Create database `name` beside the one `server_url` names and return its URL.

    Tests and benchmarks each build into a database of their own so they never touch anyone
    else's tables; `replace` drops a leftover of the same name (from an interrupted run) first.
    """
    create = pg_sql.SQL("CREATE DATABASE {}").format(pg_sql.Identifier(name))
    _administer(server_url, *([_drop_statement(name)] if replace else []), create)
    return PostgresParts(server_url).with_database(name).url


def read_query_frame(database_url: str, sql: str, dtype: dict[str, str] | None = None):
    """A query's rows as a pandas frame through COPY, about 10x faster than fetching rows when
    a stage reads a whole mart; `dtype` pins columns pandas would otherwise guess. (pandas is
    imported here: every command imports this module, and most never need it.)"""
    import pandas as pd

    buffer = io.StringIO()
    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH CSV HEADER", buffer)
    finally:
        connection.close()
    buffer.seek(0)
    return pd.read_csv(buffer, dtype=dtype)
