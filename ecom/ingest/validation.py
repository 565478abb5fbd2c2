"""What the loader checks once rows are in a staging table, and how it names a bad row.

COPY itself rejects unparsable values; `copy_error_to_load_error` turns its error CONTEXT back
into the file's line and column. After COPY, the text `null` becomes NULL and the primary key
is built; only when that build fails does the slow path here run, which drops exact duplicate
rows and names both lines of an id that appears with different content.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.extensions
from psycopg2 import errors as pg_errors
from psycopg2 import sql

from ecom.ingest.files import (
    NULL_TOKEN,
    WHOLE_FILE,
    FileRange,
    HeaderMatch,
    LoadError,
    copy_lines_before,
    differing_columns,
    find_csvs,
    first_record_with_empty_key,
    is_compressed,
    match_header,
    read_header,
    record_at_copy_line,
    records_with_key,
)
from ecom.thelook import ALL_TABLES, THELOOK_TABLES, RawTable

log = logging.getLogger(__name__)

STAGING_SCHEMA = "_ecom_raw_load"


@dataclass(frozen=True)
class TablePlan:
    """A table to load and where from; `path` is None for a table without a file (loaded empty).

    `header` is the file's columns in file order (contract spelling; see `HeaderMatch`), and
    `copy_columns` the staging columns COPY fills in that order: an ignored column goes to a
    throw-away column of its own, dropped after COPY.
    """

    table: RawTable
    path: Path | None
    header: tuple[str, ...]
    match: HeaderMatch | None = None

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.path else 0

    @property
    def compressed(self) -> bool:
        return self.path is not None and is_compressed(self.path)

    @property
    def ignored_columns(self) -> tuple[str, ...]:
        """Staging names of the throw-away columns, in header order."""
        ignored = self.match.ignored if self.match else ()
        return tuple(f"_ignored_{position}" for position in range(1, len(ignored) + 1))

    @property
    def copy_columns(self) -> tuple[str, ...]:
        throwaway = iter(self.ignored_columns)
        known = set(self.table.column_names)
        return tuple(name if name in known else next(throwaway) for name in self.header)

    def header_name(self, copy_column: str) -> str:
        """The file's name for a staging column (maps a throw-away column back)."""
        if copy_column in self.ignored_columns and self.match:
            return self.match.ignored[self.ignored_columns.index(copy_column)]
        return copy_column

    @property
    def notes(self) -> tuple[str, ...]:
        if self.path is None:
            why = (
                "the marts that need it are empty"
                if self.table.required
                else "optional: real exports have none"
            )
            return (f"no {self.table.csv_name}: {self.table.name} loaded empty ({why})",)
        return self.match.notes(self.table, self.path.name) if self.match else ()


def plan_load(data_dir: Path) -> list[TablePlan]:
    """Find each table's file and map its header onto the contract, before touching the database.

    A table without a file is planned empty: a partial folder loads what is there, and the
    load report and the quality gate say what was absent. A folder with none of the TheLook
    tables is an error (nothing to load is never what the user meant).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise LoadError(data_dir, "no such folder")
    present = find_csvs(data_dir)
    if not any(table.name in present for table in THELOOK_TABLES):
        raise LoadError(
            data_dir,
            "no TheLook CSVs here: expected some of "
            + ", ".join(table.csv_name for table in THELOOK_TABLES)
            + " (any case, optionally .gz)",
        )
    plans = []
    for table in ALL_TABLES:
        path = present.get(table.name)
        if path is None:
            plans.append(TablePlan(table, None, tuple(table.column_names)))
            continue
        match = match_header(path, table, read_header(path))
        plans.append(TablePlan(table, path, match.columns, match))
    return plans


def staging_name(table: RawTable, part: int = 0) -> sql.Composed:
    name = table.name if part == 0 else f"{table.name}__part{part}"
    return sql.SQL(".").join([sql.Identifier(STAGING_SCHEMA), sql.Identifier(name)])


def key_list(table: RawTable) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, table.primary_key))


# --------------------------------------------------------------------------- COPY errors

_COPY_CONTEXT = re.compile(r"COPY [^,]+, line (?P<line>\d+)(?:, column (?P<column>[^:\n]+))?")
_COLUMN_IN_MESSAGE = re.compile(r'column "(?P<column>[^"]+)"')


def copy_error_to_load_error(
    error: psycopg2.Error, plan: TablePlan, file_range: FileRange = WHOLE_FILE
) -> LoadError | None:
    """Translate COPY's `CONTEXT: COPY t, line N, column c` into the file's line and column.

    COPY counts line terminators, so a record holding quoted newlines is reported at another
    line than an editor shows; the record is looked up in the file to report its real line.
    Returns None when the error carries no COPY position (a lost connection, say).
    """
    assert plan.path is not None
    context = _COPY_CONTEXT.search(error.diag.context or "")
    if context is None:
        return None
    message = error.diag.message_primary or str(error).strip()
    column = context.group("column")
    if column is None:
        named = _COLUMN_IN_MESSAGE.search(message)
        column = named.group("column") if named else None
    if column is not None:
        column = plan.header_name(column)
    copy_line = copy_lines_before(plan.path, file_range.start) + int(context.group("line"))
    record = record_at_copy_line(plan.path, copy_line)
    line = record.line if record else copy_line
    reason = message
    if record is not None and len(record.fields) != len(plan.header):
        reason = (
            f"{message}: the row has {len(record.fields)} fields, the header {len(plan.header)}"
        )
    elif column in plan.table.column_names:
        expected = next(c.pg_type for c in plan.table.columns if c.name == column)
        if expected not in message:
            reason = f"{message} (column {column} holds {expected})"
    elif column is None and record is not None and len(record.fields) == len(plan.header):
        # An encoding error names no column; the scan decoded the bad bytes as U+FFFD.
        column = next(
            (
                name
                for name, text in zip(plan.header, record.fields, strict=True)
                if "\ufffd" in text
            ),
            None,
        )
    return LoadError(plan.path, reason, line=line, column=column)


# --------------------------------------------------------------------------- after COPY


def null_token_to_null(cursor: psycopg2.extensions.cursor, table: RawTable) -> int:
    """Set text fields that hold the word `null` to NULL; returns rows changed."""
    text_columns = [sql.Identifier(column.name) for column in table.columns if column.is_text]
    if not text_columns:
        return 0
    assignments = sql.SQL(", ").join(
        sql.SQL("{0} = nullif({0}, {1})").format(column, sql.Literal(NULL_TOKEN))
        for column in text_columns
    )
    condition = sql.SQL(" or ").join(
        sql.SQL("{} = {}").format(column, sql.Literal(NULL_TOKEN)) for column in text_columns
    )
    cursor.execute(
        sql.SQL("update {} set {} where {}").format(staging_name(table), assignments, condition)
    )
    return cursor.rowcount


def add_primary_key(cursor: psycopg2.extensions.cursor, table: RawTable) -> None:
    cursor.execute(
        sql.SQL("alter table {} add constraint {} primary key ({})").format(
            staging_name(table), sql.Identifier(f"{table.name}_pkey"), key_list(table)
        )
    )


def empty_key_error(plan: TablePlan) -> LoadError:
    """The error for a table whose rows lack a primary key value, naming the first such line
    (any engine's loader calls it once its own query found such a row)."""
    assert plan.path is not None
    table = plan.table
    found = first_record_with_empty_key(plan.path, list(plan.header), table)
    line, column = (found[0].line, found[1]) if found else (None, table.primary_key[0])
    return LoadError(
        plan.path, "empty primary key: every row needs a value here", line=line, column=column
    )


def conflicting_duplicate_error(plan: TablePlan, conflict: tuple[object, ...]) -> LoadError:
    """The error for a key that two different rows carry, naming both lines and the columns
    that differ (any engine's loader calls it with the first conflicting key it found)."""
    assert plan.path is not None
    table = plan.table
    header = list(plan.header)
    key_text = ", ".join(
        f"{name}={value}" for name, value in zip(table.primary_key, conflict, strict=True)
    )
    records = records_with_key(plan.path, header, table, tuple(conflict))
    first = records[0] if records else None
    second = next(
        (r for r in records[1:] if first and differing_columns(first, r, header, table)), None
    )
    if first is None or second is None:
        return LoadError(
            plan.path,
            f"duplicate id {key_text} with different content",
            column=table.primary_key[0],
        )
    differing = differing_columns(first, second, header, table)
    return LoadError(
        plan.path,
        f"duplicate id {key_text} with different content on lines {first.line} and "
        f"{second.line} (differs in {', '.join(differing)})",
        line=second.line,
        column=table.primary_key[0],
        lines=(first.line, second.line),
    )


def _raise_for_empty_key(cursor: psycopg2.extensions.cursor, plan: TablePlan) -> None:
    table = plan.table
    condition = sql.SQL(" or ").join(
        sql.SQL("{} is null").format(sql.Identifier(name)) for name in table.primary_key
    )
    cursor.execute(
        sql.SQL("select 1 from {} where {} limit 1").format(staging_name(table), condition)
    )
    if cursor.fetchone() is not None:
        raise empty_key_error(plan)


def _raise_for_conflicting_duplicates(cursor: psycopg2.extensions.cursor, plan: TablePlan) -> None:
    table = plan.table
    keys = key_list(table)
    cursor.execute(
        sql.SQL(
            "select {keys} from {name} as loaded group by {keys} "
            "having count(*) > 1 and count(distinct loaded) > 1 order by {keys} limit 1"
        ).format(keys=keys, name=staging_name(table))
    )
    conflict = cursor.fetchone()
    if conflict is not None:
        raise conflicting_duplicate_error(plan, tuple(conflict))


def _drop_exact_duplicates(cursor: psycopg2.extensions.cursor, table: RawTable) -> int:
    """Delete all but the first copy of rows that repeat another row exactly; returns how many."""
    keys = key_list(table)
    name = staging_name(table)
    cursor.execute(
        sql.SQL(
            "delete from {name} where ctid in ("
            " select ctid from ("
            "  select ctid, row_number() over (partition by {keys} order by ctid) as copy_number"
            "  from {name} where ({keys}) in"
            "   (select {keys} from {name} group by {keys} having count(*) > 1)"
            " ) as copies where copy_number > 1)"
        ).format(name=name, keys=keys)
    )
    return cursor.rowcount


def enforce_primary_key(cursor: psycopg2.extensions.cursor, plan: TablePlan) -> int:
    """Build the primary key; on failure find out why. Returns exact duplicates dropped."""
    cursor.execute("savepoint primary_key")
    try:
        add_primary_key(cursor, plan.table)
        cursor.execute("release savepoint primary_key")
        return 0
    except (pg_errors.UniqueViolation, pg_errors.NotNullViolation):
        cursor.execute("rollback to savepoint primary_key")
    _raise_for_empty_key(cursor, plan)
    _raise_for_conflicting_duplicates(cursor, plan)
    dropped = _drop_exact_duplicates(cursor, plan.table)
    add_primary_key(cursor, plan.table)
    log.info("%s: dropped %d exact duplicate row(s)", plan.table.name, dropped)
    return dropped
