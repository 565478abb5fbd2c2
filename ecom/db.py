"""Thin PostgreSQL access: connections, transactions and the retryable-error test."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Iterator

import psycopg
import psycopg2
import psycopg2.extensions
from psycopg2 import errors as pg_errors
from psycopg2 import sql as pg_sql

from ecom.config import PostgresParts

# Errors worth a retry: the server restarted, the network blinked, or a lock wait was lost.
# psycopg (3) is the driver of Feast's PostgreSQL offline store, so materialization raises it.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
)


def is_transient(error: BaseException) -> bool:
    """Whether a retry can fix `error`: a transient database error, one that says so itself
    (`transient = True`, e.g. a dbt run whose only failures were lost connections), or one
    raised `from` such an error (libraries wrap the driver's). Only the explicit cause counts:
    an error raised while merely handling a transient one may be bad data."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, TRANSIENT_ERRORS) or getattr(current, "transient", False) is True:
            return True
        seen.add(id(current))
        current = current.__cause__
    return False


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


class LockBusy(RuntimeError):
    """Another session held an advisory lock for longer than the caller would wait."""


@contextlib.contextmanager
def session_lock(
    database_url: str,
    name: str,
    *,
    timeout_seconds: float,
    poll_seconds: float = 1.0,
    waiting: Callable[[str], object] | None = None,
) -> Iterator[None]:
    """Hold the session-level advisory lock `name` for the block, on a connection of its own.

    Waits at most `timeout_seconds` (polling, so the wait is bounded and can say who holds it
    through `waiting`), then raises `LockBusy`. The lock ends with the connection, so a crashed
    holder never leaves it behind."""
    connection = connect(database_url)
    connection.autocommit = True
    deadline = time.monotonic() + timeout_seconds
    announced = False
    try:
        with connection.cursor() as cursor:
            while True:
                cursor.execute("select pg_try_advisory_lock(hashtext(%s))", (name,))
                if cursor.fetchone()[0]:
                    break
                cursor.execute(
                    "select string_agg(pid::text, ', ') from pg_locks where locktype = 'advisory'"
                    " and objid = hashtext(%s)::oid and granted",
                    (name,),
                )
                holders = cursor.fetchone()[0] or "unknown"
                if time.monotonic() >= deadline:
                    raise LockBusy(
                        f"{name} is held by PostgreSQL backend {holders}; gave up waiting after "
                        f"{timeout_seconds:g} s"
                    )
                if waiting is not None and not announced:
                    waiting(f"waiting for {name}, held by PostgreSQL backend {holders}")
                    announced = True
                time.sleep(min(poll_seconds, max(deadline - time.monotonic(), 0)))
        yield
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


def copy_frame(cursor, table: str, frame) -> None:
    """Append a frame's rows to `table` (its columns named by the frame's) through one COPY,
    inside the caller's transaction: the writers replace a slice of a table atomically, and
    COPY is the fastest way in. An empty cell (pandas' NaN/None) is SQL NULL."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False)
    buffer.seek(0)
    columns = ", ".join(frame.columns)
    cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)


# COPY's text-format NULL marker: unquoted in CSV, so no quoted text value can equal it.
_COPY_NULL = "\\N"


def read_query_frame(
    database_url: str,
    sql: str,
    dtype: dict[str, str] | None = None,
    *,
    only_sql_null: bool = False,
):
    """A query's rows as a pandas frame through COPY, about 10x faster than fetching rows when
    a stage reads a whole mart; `dtype` pins columns pandas would otherwise guess.

    By default pandas' own missing markers apply ("", "NA", "None", ... become NaN). With
    `only_sql_null`, only SQL NULL is missing: COPY writes it as a marker no text can be and
    pandas reads nothing else as missing, so text such as "NA", "None" or "" stays text, as
    Feast's online read keeps it (a model scored in batch and online must see the same value).
    (pandas is imported here: every command imports this module, and most never need it.)"""
    import pandas as pd

    null = f" NULL '{_COPY_NULL}'" if only_sql_null else ""
    buffer = io.StringIO()
    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH CSV HEADER{null}", buffer)
    finally:
        connection.close()
    buffer.seek(0)
    if only_sql_null:
        return pd.read_csv(buffer, dtype=dtype, keep_default_na=False, na_values=[_COPY_NULL])
    return pd.read_csv(buffer, dtype=dtype)
