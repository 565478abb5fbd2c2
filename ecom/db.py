"""Thin PostgreSQL access: connections, transactions and the retryable-error test."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg2
import psycopg2.extensions
from psycopg2 import errors as pg_errors

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
    connection = psycopg2.connect(PostgresParts(database_url).dsn(dbname))
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
    connection.commit()
    return connection


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
