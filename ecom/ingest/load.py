"""`ecom load`: TheLook CSVs into typed tables with primary keys in the `raw` schema, atomically.

How a load runs, and why:

1. Every file and header is checked before the database is touched (missing file, missing,
   unknown or repeated column), so the cheapest errors cost nothing.
2. Each table is COPY'd into a private staging schema, in parallel connections (COPY parses on
   the server, one core per connection). The staging table is created in the same transaction
   as its COPY, which lets a `wal_level=minimal` server (the embedded one) skip WAL entirely,
   and COPY FREEZE spares the first reader the hint-bit writes.
3. Validation happens where it is cheapest: COPY itself rejects unparsable values (its error
   CONTEXT is translated back to the file's line and column); the text `null` becomes NULL in
   a targeted UPDATE only when the file contains that word at all, and a quoted empty field
   (`""`, how TheLook's own generator writes NULL) is NULL through COPY's FORCE_NULL; the
   primary key is built after COPY, and only when that build fails does the slow path run,
   which drops exact duplicate rows (counted in the report) and names both lines of a
   conflicting id (`ecom.ingest.validation`).
4. One transaction replaces the raw tables with the staged ones and recreates every view that
   depended on them (`ecom.ingest.swap`). Until it commits, `raw` is untouched; if any
   step fails, the staging schema is dropped and `raw` is exactly as it was.

Every published shape of TheLook loads (`data/README.md`): header columns match the contract
in `ecom.thelook` by name, in any order and case; unknown columns are ignored and reported; a
missing geometry column is derived from longitude/latitude; `.csv.gz` files are decompressed
as COPY reads them. A table without a file is loaded empty and marked absent
(`ecom.ingest.presence`), so a partial folder loads what is there and a stale table from an
earlier load never survives next to fresh ones.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from ecom.db import connect
from ecom.ingest.files import (
    NULL_TOKEN,
    WHOLE_FILE,
    FileRange,
    LoadError,
    is_compressed,
    split_csv,
)
from ecom.ingest.presence import mark_absent
from ecom.ingest.report import LoadReport, TableLoad
from ecom.ingest.swap import swap_tables
from ecom.ingest.validation import (
    STAGING_SCHEMA,
    TablePlan,
    add_primary_key,
    copy_error_to_load_error,
    enforce_primary_key,
    null_token_to_null,
    plan_load,
    staging_name,
)
from ecom.thelook import RAW_SCHEMA, RawTable

log = logging.getLogger(__name__)

# One load at a time per database: a second `ecom load` waits for the first instead of racing it.
_LOAD_LOCK_KEY = 0x65636F6D_6C6F6164 & 0x7FFFFFFFFFFFFFFF  # "ecomload"
_COPY_CHUNK_BYTES = 1 << 20
MIN_SPLIT_BYTES = 32 << 20  # below this a second COPY stream does not pay for its set-up
_MIN_MAINTENANCE_WORK_MEM_KB = 256 * 1024  # the primary key of 2.4M events sorts in memory

# --------------------------------------------------------------------------- one table


class _LoadCancelled(Exception):
    """Another table failed; this one stops streaming so the error is reported promptly."""


class _CopySource:
    """A byte range of the CSV as COPY reads it: counts bytes for the progress bar, notices the
    `null` token, and stops early when another table of the load has failed.

    A `.csv.gz` file is decompressed as COPY reads it (always whole: a compressed stream cannot
    be cut), so nothing is unpacked to disk; the progress bar counts compressed bytes.
    """

    def __init__(
        self,
        path: Path,
        file_range: FileRange,
        on_bytes: Callable[[int], None],
        stop: threading.Event,
    ) -> None:
        self._raw = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._raw.seek(file_range.start)
        self._handle = gzip.GzipFile(fileobj=self._raw) if is_compressed(path) else self._raw
        self._remaining = None if file_range.end is None else file_range.end - file_range.start
        self._on_bytes = on_bytes
        self._stop = stop
        self._tail = b""
        self._raw_position = file_range.start
        self.bytes_read = 0
        self.saw_null_token = False
        self.read_error: Exception | None = None  # a damaged `.gz`, reported as the file's fault

    def read(self, size: int = -1) -> bytes:
        if self._stop.is_set():
            raise _LoadCancelled()
        if self._remaining is not None:
            size = self._remaining if size < 0 else min(size, self._remaining)
        try:
            chunk = self._handle.read(size)
        except (OSError, EOFError, zlib.error) as error:
            self.read_error = error
            raise
        if chunk:
            if not self.saw_null_token:
                token = NULL_TOKEN.encode()
                self.saw_null_token = token in self._tail + chunk
                self._tail = chunk[-(len(token) - 1) :]
            if self._remaining is not None:
                self._remaining -= len(chunk)
            position = self._raw.tell()
            self.bytes_read += position - self._raw_position
            self._on_bytes(position - self._raw_position)
            self._raw_position = position
        return chunk

    def close(self) -> None:
        if self._handle is not self._raw:
            self._handle.close()
        self._raw.close()


def _create_staging_table(
    cursor: psycopg2.extensions.cursor, plan: TablePlan, part: int = 0
) -> None:
    """The contract's columns in contract order, then one text column per ignored file column
    (COPY cannot skip a column; the throw-away columns are dropped once the rows are in)."""
    columns = sql.SQL(", ").join(
        [
            sql.SQL("{} {}").format(sql.Identifier(column.name), sql.SQL(column.pg_type))
            for column in plan.table.columns
        ]
        + [sql.SQL("{} text").format(sql.Identifier(name)) for name in plan.ignored_columns]
    )
    # A side part only lives until its rows are appended to the table's own staging table:
    # UNLOGGED spares it WAL on any server and the fsync at commit.
    kind = sql.SQL("create unlogged table" if part else "create table")
    cursor.execute(sql.SQL("{} {} ({})").format(kind, staging_name(plan.table, part), columns))


def _finish_columns(cursor: psycopg2.extensions.cursor, plan: TablePlan) -> None:
    """Drop the throw-away columns and derive a geometry the file lacked, as `POINT(lon lat)`
    (the export's WKT; NULL where a coordinate is missing)."""
    for name in plan.ignored_columns:
        cursor.execute(
            sql.SQL("alter table {} drop column {}").format(
                staging_name(plan.table), sql.Identifier(name)
            )
        )
    if plan.match is not None and plan.match.derived and plan.table.geometry:
        point, longitude, latitude = map(sql.Identifier, plan.table.geometry)
        cursor.execute(
            sql.SQL(
                "update {} set {} = 'POINT(' || {}::text || ' ' || {}::text || ')' "
                "where {} is not null and {} is not null"
            ).format(staging_name(plan.table), point, longitude, latitude, longitude, latitude)
        )


def _copy_range(
    connection: psycopg2.extensions.connection,
    plan: TablePlan,
    part: int,
    file_range: FileRange,
    on_bytes: Callable[[int], None],
    stop: threading.Event,
) -> tuple[int, _CopySource]:
    """COPY one byte range into the table created in this transaction (hence FREEZE); COPY's
    errors come back as LoadError with the line numbers of the whole file."""
    assert plan.path is not None
    header = sql.SQL("true" if file_range.has_header else "false")
    # FORCE_NULL reads a quoted empty field (`""`, how TheLook's generator writes NULL) as NULL
    # in the named columns, as COPY reads an unquoted one: no second pass over the rows.
    force_null = [name for name in plan.copy_columns if name in plan.table.empty_is_missing]
    options = sql.SQL("format csv, header {}, encoding 'UTF8', freeze true").format(header)
    if force_null:
        options = sql.SQL("{}, force_null ({})").format(
            options, sql.SQL(", ").join(map(sql.Identifier, force_null))
        )
    statement = sql.SQL("copy {} ({}) from stdin with ({})").format(
        staging_name(plan.table, part),
        sql.SQL(", ").join(map(sql.Identifier, plan.copy_columns)),
        options,
    )
    source = _CopySource(plan.path, file_range, on_bytes, stop)
    try:
        with connection.cursor() as cursor:
            cursor.copy_expert(statement.as_string(connection), source, size=_COPY_CHUNK_BYTES)
            return cursor.rowcount, source
    except psycopg2.Error as error:
        connection.rollback()
        if stop.is_set():
            raise _LoadCancelled() from None
        if source.read_error is not None:
            raise LoadError(
                plan.path, f"cannot read the file: {source.read_error}"
            ) from source.read_error
        translated = copy_error_to_load_error(error, plan, file_range)
        if translated is None:
            raise
        raise translated from None
    finally:
        source.close()


def _tune_session(cursor: psycopg2.extensions.cursor) -> None:
    # Staged rows are worthless until the swap commits, so their commit need not wait for disk.
    cursor.execute("set local synchronous_commit = off")
    # A timestamp written without a zone is UTC in every TheLook copy, whatever the server says.
    cursor.execute("set local timezone = 'UTC'")
    cursor.execute("select setting::bigint from pg_settings where name = 'maintenance_work_mem'")
    if cursor.fetchone()[0] < _MIN_MAINTENANCE_WORK_MEM_KB:
        cursor.execute(f"set local maintenance_work_mem = '{_MIN_MAINTENANCE_WORK_MEM_KB}kB'")


@dataclass(frozen=True)
class PartLoad:
    """A byte range of a big file, COPY'd by another connection into its own staging table."""

    part: int
    rows: int
    saw_null_token: bool
    bytes_read: int


def copy_side_part(
    database_url: str,
    plan: TablePlan,
    part: int,
    file_range: FileRange,
    *,
    on_bytes: Callable[[int], None] = lambda _: None,
    stop: threading.Event | None = None,
) -> PartLoad:
    """COPY part `part` (>= 1) of a split file into its own table, created in the same
    transaction so a `wal_level=minimal` server writes no WAL for it; commit."""
    stop = stop or threading.Event()
    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            _tune_session(cursor)
            _create_staging_table(cursor, plan, part)
        rows, source = _copy_range(connection, plan, part, file_range, on_bytes, stop)
        connection.commit()
    finally:
        connection.close()
    return PartLoad(part, rows, source.saw_null_token, source.bytes_read)


def stage_table(
    database_url: str,
    plan: TablePlan,
    *,
    first_range: FileRange | None = None,
    side_parts: Callable[[], list[PartLoad]] = list,
    on_bytes: Callable[[int], None] = lambda _: None,
    stop: threading.Event | None = None,
) -> TableLoad:
    """COPY a CSV (or its first part) into its staging table, append the parts that other
    connections COPY'd, clean and key the table, ANALYZE it, commit.

    Appending the other parts here, in the transaction that created the table, keeps the
    WAL-free path; an INSERT ... SELECT costs a fraction of parsing those rows again.
    """
    stop = stop or threading.Event()
    started = time.perf_counter()
    steps: dict[str, float] = {}
    connection = connect(database_url)
    rows = duplicates = bytes_read = 0
    parts: list[PartLoad] = []
    try:
        with connection.cursor() as cursor:
            _tune_session(cursor)
            _create_staging_table(cursor, plan)
        if plan.path is None:
            with connection.cursor() as cursor:
                add_primary_key(cursor, plan.table)
                mark_absent(cursor, staging_name(plan.table), plan.table.csv_name)
        else:
            with _timed(steps, "copy"):
                rows, source = _copy_range(
                    connection, plan, 0, first_range or WHOLE_FILE, on_bytes, stop
                )
            with _timed(steps, "wait for parts"):
                try:
                    parts = side_parts()
                except BaseException:
                    raise _LoadCancelled() from None  # the part's own error is reported instead
            with connection.cursor() as cursor:
                with _timed(steps, "append parts"):
                    _append_parts(cursor, plan.table, parts)
                _finish_columns(cursor, plan)
                rows += sum(part.rows for part in parts)
                bytes_read = source.bytes_read + sum(part.bytes_read for part in parts)
                if source.saw_null_token or any(part.saw_null_token for part in parts):
                    with _timed(steps, "null to NULL"):
                        null_token_to_null(cursor, plan.table)
                with _timed(steps, "primary key"):
                    duplicates = enforce_primary_key(cursor, plan)
                rows -= duplicates
        with connection.cursor() as cursor, _timed(steps, "analyze"):
            cursor.execute(sql.SQL("analyze {}").format(staging_name(plan.table)))
        connection.commit()
    finally:
        connection.close()
    log.debug(
        "%s steps: %s",
        plan.table.name,
        ", ".join(f"{step} {seconds:.2f} s" for step, seconds in steps.items()),
    )
    return TableLoad(
        table=plan.table.name,
        csv_path=plan.path,
        rows=rows,
        duplicates_dropped=duplicates,
        seconds=time.perf_counter() - started,
        bytes_read=bytes_read,
        parts=1 + len(parts),
        notes=plan.notes,
    )


def _append_parts(
    cursor: psycopg2.extensions.cursor, table: RawTable, parts: list[PartLoad]
) -> None:
    """Move the side parts into the table, in file order so the first copy of a row stays first."""
    for part in sorted(parts, key=lambda p: p.part):
        cursor.execute(
            sql.SQL("insert into {} select * from {}").format(
                staging_name(table), staging_name(table, part.part)
            )
        )
        cursor.execute(sql.SQL("drop table {}").format(staging_name(table, part.part)))


@contextmanager
def _timed(steps: dict[str, float], step: str) -> Iterator[None]:
    began = time.perf_counter()
    try:
        yield
    finally:
        steps[step] = time.perf_counter() - began


# --------------------------------------------------------------------------- the whole load


@contextmanager
def _progress_bars(enabled: bool, plans: list[TablePlan]) -> Iterator[dict[str, Callable]]:
    """One byte-counting bar per file; no-op callbacks when progress is off."""
    if not enabled:
        yield {plan.table.name: (lambda _: None) for plan in plans}
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        transient=True,
    ) as progress:
        callbacks = {}
        for plan in plans:
            task = progress.add_task(f"COPY {plan.table.name}", total=max(plan.size, 1))
            callbacks[plan.table.name] = lambda n, task=task: progress.advance(task, n)
        yield callbacks


def _cut_offsets(size: int, parts: int, fair_share: float) -> list[int]:
    """Where to cut a big file: the first part a little under a fair share, because its
    connection also appends the other parts and builds the key; the rest in equal parts."""
    first = max(size / parts, min(size, 0.9 * fair_share))
    rest = (size - first) / (parts - 1)
    return [int(first + rest * k) for k in range(parts - 1)]


def _split_plan(
    plans: list[TablePlan], workers: int, min_split_bytes: int
) -> dict[str, list[FileRange]]:
    """Byte ranges per table: a file bigger than its fair share of the connections (events,
    three quarters of TheLook's bytes) is cut so that no connection waits on one long COPY."""
    total = sum(plan.size for plan in plans)
    fair_share = total / workers if workers else total
    ranges = {}
    for plan in plans:
        parts = 1
        splittable = plan.path is not None and not plan.compressed and workers > 1
        if splittable and plan.size > max(fair_share, min_split_bytes):
            parts = min(workers, math.ceil(plan.size / fair_share))
        ranges[plan.table.name] = (
            split_csv(plan.path, _cut_offsets(plan.size, parts, fair_share))
            if parts > 1
            else [WHOLE_FILE]
        )
    return ranges


def _stage_all(
    database_url: str,
    plans: list[TablePlan],
    workers: int,
    progress: bool,
    min_split_bytes: int,
) -> list[TableLoad]:
    """Stage every table in parallel, biggest first; on the first failure stop the others.

    Side parts of split files are queued before every table, so by the time a table's own
    connection waits for its parts they are already running: the pool cannot deadlock.
    """
    stop = threading.Event()
    results: dict[str, TableLoad] = {}
    failures: list[tuple[str, BaseException]] = []
    ordered = sorted(plans, key=lambda plan: plan.size, reverse=True)
    ranges = _split_plan(ordered, workers, min_split_bytes)
    with _progress_bars(progress, ordered) as callbacks, ThreadPoolExecutor(workers) as pool:
        futures: dict[Future, TablePlan] = {}
        side_futures: dict[str, list[Future]] = {}
        for plan in ordered:
            for part, file_range in enumerate(ranges[plan.table.name][1:], start=1):
                future = pool.submit(
                    copy_side_part,
                    database_url,
                    plan,
                    part,
                    file_range,
                    on_bytes=callbacks[plan.table.name],
                    stop=stop,
                )
                futures[future] = plan
                side_futures.setdefault(plan.table.name, []).append(future)
        for plan in ordered:
            pending = side_futures.get(plan.table.name, [])
            future = pool.submit(
                stage_table,
                database_url,
                plan,
                first_range=ranges[plan.table.name][0],
                side_parts=lambda pending=pending: [f.result() for f in pending],
                on_bytes=callbacks[plan.table.name],
                stop=stop,
            )
            futures[future] = plan
        try:
            for future in as_completed(futures):
                plan = futures[future]
                try:
                    outcome = future.result()
                except _LoadCancelled:
                    continue
                except BaseException as error:
                    failures.append((plan.table.name, error))
                    stop.set()
                    continue
                if isinstance(outcome, TableLoad):
                    results[plan.table.name] = outcome
                    log.info(
                        "staged %s: %s rows in %.1f s",
                        plan.table.name,
                        f"{outcome.rows:,}",
                        outcome.seconds,
                    )
        finally:
            stop.set()  # also stops the other connections on KeyboardInterrupt
    if failures:
        # Report the error of the first table in contract order, a LoadError before anything else.
        order = [plan.table.name for plan in plans]
        _, first = min(
            failures,
            key=lambda failure: (
                not isinstance(failure[1], LoadError),
                order.index(failure[0]),
            ),
        )
        raise first
    return [results[plan.table.name] for plan in plans]


def _reset_staging_schema(connection: psycopg2.extensions.connection, *, create: bool) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(STAGING_SCHEMA))
        )
        if create:
            cursor.execute(sql.SQL("create schema {}").format(sql.Identifier(STAGING_SCHEMA)))
    connection.commit()


def _discard_staging(connection: psycopg2.extensions.connection) -> None:
    """Best effort after a failed load: the staged tables are useless, `raw` was never touched."""
    try:
        connection.rollback()
        _reset_staging_schema(connection, create=False)
    except psycopg2.Error as error:  # the original failure matters more than this one
        log.warning("could not drop schema %s after the failed load: %s", STAGING_SCHEMA, error)


def load_raw_tables(
    database_url: str,
    data_dir: Path,
    *,
    progress: bool = True,
    workers: int | None = None,
    min_split_bytes: int = MIN_SPLIT_BYTES,
) -> LoadReport:
    """Load every contract table from `data_dir` into `raw`, all or nothing.

    Raises LoadError (file, line, column) for bad input; on any failure `raw` keeps exactly
    the tables and rows it had. `workers` parallel connections COPY the files (default: one
    per CPU core, at most 4); a file larger than its fair share of them and than
    `min_split_bytes` is COPY'd in parts by several connections.
    """
    started = time.perf_counter()
    data_dir = Path(data_dir)
    plans = plan_load(data_dir)
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    log.info(
        "loading %d tables from %s with %d parallel connection(s)", len(plans), data_dir, workers
    )

    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("select pg_try_advisory_lock(%s)", (_LOAD_LOCK_KEY,))
            if not cursor.fetchone()[0]:
                log.info("another load into this database is running; waiting for it")
                cursor.execute("select pg_advisory_lock(%s)", (_LOAD_LOCK_KEY,))
        connection.commit()
        _reset_staging_schema(connection, create=True)  # also clears a killed load's leftovers
        try:
            tables = _stage_all(database_url, plans, workers, progress, min_split_bytes)
            swap_started = time.perf_counter()
            with connection.cursor() as cursor:
                swap = swap_tables(
                    cursor, STAGING_SCHEMA, RAW_SCHEMA, [plan.table.name for plan in plans]
                )
                cursor.execute(sql.SQL("drop schema {}").format(sql.Identifier(STAGING_SCHEMA)))
            connection.commit()
            swap_seconds = time.perf_counter() - swap_started
        except BaseException:
            _discard_staging(connection)
            raise
    finally:
        connection.close()  # also releases the advisory lock

    report = LoadReport(
        tables=tuple(tables),
        seconds=time.perf_counter() - started,
        swap_seconds=swap_seconds,
        views_recreated=swap.views_recreated,
    )
    log.info("loaded %s", report.summary_line())
    return report
