"""`ecom load` on Spark: the same CSVs, contract and checks as `ecom.ingest`, into Parquet tables.

The files are planned by `ecom.ingest.validation.plan_load` (which file is which table, the
header mapped onto the contract in `ecom.thelook`), read by Spark's CSV reader as text in the
file's column order, and cast to the contract's types in Spark SQL. Then the loader's rules,
in the loader's order: a value that does not parse, a row with the wrong number of fields, an
empty primary key or a key with two different rows stops the load with a `LoadError` naming
the file, line and column (the line is found by `ecom.ingest`'s own record scans); exact
duplicate rows are dropped and counted. Every table is checked before any is written, so a bad
file leaves the `raw` database as it was (tables are checked, then written, `TABLE_THREADS` at a
time; the first bad file in the plan's order is the one reported); the tables are then written as Parquet-backed tables
of the `raw` database (`raw.<table>`, the names dbt's sources read).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ecom.ingest.files import NULL_TOKEN, LoadError, iter_records
from ecom.ingest.report import LoadReport, TableLoad
from ecom.ingest.validation import (
    TablePlan,
    conflicting_duplicate_error,
    empty_key_error,
    plan_load,
)
from ecom.thelook import RAW_SCHEMA, Column

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

SPARK_TYPES = {
    "bigint": "bigint",
    "integer": "int",
    "double precision": "double",
    "text": "string",
    "timestamptz": "timestamp",
}
CORRUPT_RECORD = "_corrupt_record"
# Tables checked and written at once: each is a handful of small Spark jobs whose time is
# mostly the driver's planning and the scheduler's round trips, which overlap across tables.
TABLE_THREADS = 4


def _quoted(name: str) -> str:
    return f"`{name}`"


def _text_expression(column: Column) -> str:
    """The field as text with the loader's NULLs: empty (quoted or not) and, in text columns,
    the word `null` (ecom.ingest.validation.null_token_to_null)."""
    expression = _quoted(column.name)
    if column.empty_is_missing:
        expression = f"nullif({expression}, '')"
    if column.is_text:
        expression = f"nullif({expression}, '{NULL_TOKEN}')"
    return expression


def _typed_expression(column: Column) -> str:
    """The contract type of a text field; `try_cast` gives NULL where the text does not parse
    (found and reported by `_raise_for_bad_values`). Spark parses every timestamp form the
    loader accepts (`... UTC`, `...Z`, `+00:00`, zoneless read as UTC in a UTC session)."""
    text = _text_expression(column)
    if column.is_text:
        return text
    return f"try_cast({text} as {SPARK_TYPES[column.pg_type]})"


def _derived_geometry(plan: TablePlan) -> str:
    """`POINT(lon lat)` from the coordinates, for a file without the geometry column."""
    assert plan.table.geometry is not None
    _, longitude, latitude = map(_quoted, plan.table.geometry)
    return (
        f"case when {longitude} is not null and {latitude} is not null then "
        f"concat('POINT(', cast({longitude} as string), ' ', cast({latitude} as string), ')') end"
    )


def _read_text(spark: SparkSession, plan: TablePlan) -> DataFrame:
    """The file's records as text columns named like the staging table's (`copy_columns`),
    with Spark's record of rows that do not have the header's number of fields."""
    from pyspark.sql.types import StringType, StructField, StructType

    assert plan.path is not None
    schema = StructType(
        [StructField(name, StringType()) for name in plan.copy_columns]
        + [StructField(CORRUPT_RECORD, StringType())]
    )
    return (
        spark.read.schema(schema)
        .option("header", True)
        .option("enforceSchema", True)  # columns by position: the header was matched already
        .option("multiLine", True)  # a quoted field may hold newlines
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD)
        .csv(str(plan.path))
        .cache()  # Spark refuses to query the corrupt-record column of an uncached scan
    )


def _typed(text: DataFrame, plan: TablePlan) -> DataFrame:
    """The contract's columns in contract order, typed; a geometry the file lacks, derived."""
    expressions = []
    for column in plan.table.columns:
        if plan.match is not None and plan.match.derived == column.name:
            continue
        expressions.append(f"{_typed_expression(column)} as {_quoted(column.name)}")
    typed = text.selectExpr(*expressions)
    if plan.match is not None and plan.match.derived:
        typed = typed.selectExpr("*", f"{_derived_geometry(plan)} as {plan.match.derived}")
    return typed.select(*plan.table.column_names)


def _line_of(plan: TablePlan, column: str, text: str) -> int | None:
    """The file line of the first record whose `column` holds `text`."""
    assert plan.path is not None
    position = list(plan.header).index(column)
    for record in iter_records(plan.path):
        if len(record.fields) > position and record.fields[position] == text:
            return record.line
    return None


def _raise_for_malformed_rows(plan: TablePlan) -> None:
    """A row with more or fewer fields than the header (as COPY's 'extra data' errors)."""
    assert plan.path is not None
    for record in iter_records(plan.path):
        if len(record.fields) != len(plan.header):
            raise LoadError(
                plan.path,
                f"the row has {len(record.fields)} fields, the header {len(plan.header)}",
                line=record.line,
            )
    raise LoadError(plan.path, "a row Spark's CSV reader cannot parse")


def _value_failures(plan: TablePlan) -> list[tuple[Column, str]]:
    """Per typed column of the file, the condition of a field that is not a value of its type."""
    return [
        (
            column,
            f"({_text_expression(column)} is not null and {_typed_expression(column)} is null)",
        )
        for column in plan.table.columns
        if not column.is_text and column.name in plan.copy_columns
    ]


def _raise_for_bad_value(text: DataFrame, plan: TablePlan) -> None:
    """The first field that is not a value of its column's type, named by line and column."""
    assert plan.path is not None
    failures = _value_failures(plan)
    flags = [f"{failure} as `_bad_{index}`" for index, (_, failure) in enumerate(failures)]
    condition = " or ".join(failure for _, failure in failures)
    row = text.selectExpr("*", *flags).where(condition).limit(1).collect()[0].asDict()
    column = next(column for index, (column, _) in enumerate(failures) if row[f"_bad_{index}"])
    value = row[column.name]
    raise LoadError(
        plan.path,
        f"invalid input value {value!r} (column {column.name} holds {column.pg_type})",
        line=_line_of(plan, column.name, value),
        column=column.name,
    )


def _check_records(text: DataFrame, plan: TablePlan) -> tuple[int, int]:
    """One pass over the file's records for every per-row rule; returns the number of records
    and of distinct keys (equal: no duplicates to look at, the common case).

    Raises, in the loader's order, for a malformed row, a value that does not parse, then an
    empty primary key (the slower scans that name the line run only on those errors)."""
    failures = [failure for _, failure in _value_failures(plan)] or ["false"]
    keys = [
        _typed_expression(column)
        for column in plan.table.columns
        if column.name in plan.table.primary_key
    ]
    empty_key = " or ".join(f"{key} is null" for key in keys)
    counts = text.selectExpr(
        "count(*) as records",
        f"count_if({CORRUPT_RECORD} is not null) as malformed",
        f"count_if({' or '.join(failures)}) as bad_values",
        f"count_if({empty_key}) as empty_keys",
        f"count(distinct {', '.join(keys)}) as distinct_keys",
    ).collect()[0]
    if counts.malformed:
        _raise_for_malformed_rows(plan)
    if counts.bad_values:
        _raise_for_bad_value(text, plan)
    if counts.empty_keys:
        raise empty_key_error(plan)
    return int(counts.records), int(counts.distinct_keys)


def _drop_exact_duplicates(
    typed: DataFrame, plan: TablePlan, records: int
) -> tuple[DataFrame, int]:
    """The table without exact duplicate rows and how many were dropped; raises when two
    different rows carry one key (the loader's `enforce_primary_key`)."""
    keys = list(plan.table.primary_key)
    distinct = typed.dropDuplicates()
    copies = distinct.groupBy(*keys).count()
    totals = copies.selectExpr("coalesce(sum(count), 0) as rows", "max(count) as most").collect()[0]
    if totals.most is not None and totals.most > 1:
        conflict = copies.where("count > 1").orderBy(*keys).limit(1).collect()[0]
        raise conflicting_duplicate_error(plan, tuple(conflict[name] for name in keys))
    return distinct, records - int(totals.rows)


def _empty_table(spark: SparkSession, plan: TablePlan) -> DataFrame:
    ddl = ", ".join(
        f"{_quoted(column.name)} {SPARK_TYPES[column.pg_type]}" for column in plan.table.columns
    )
    return spark.createDataFrame([], ddl)


def _checked_table(spark: SparkSession, plan: TablePlan) -> tuple[DataFrame, int, int]:
    """One table read and checked (not yet written): its rows without exact duplicates, how
    many rows it keeps and how many duplicates it dropped."""
    if plan.path is None:
        return _empty_table(spark, plan), 0, 0
    text = _read_text(spark, plan)
    records, distinct_keys = _check_records(text, plan)
    typed = _typed(text, plan)
    if distinct_keys == records:
        return typed, records, 0
    table, dropped = _drop_exact_duplicates(typed, plan, records)
    return table, records - dropped, dropped


def _timed_check(spark: SparkSession, plan: TablePlan) -> tuple:
    table_started = time.perf_counter()
    frame, rows, dropped = _checked_table(spark, plan)
    return plan, frame, rows, dropped, time.perf_counter() - table_started


def _written(
    plan: TablePlan, frame: DataFrame, rows: int, dropped: int, seconds: float
) -> TableLoad:
    """The checked table written as `raw.<table>`, and its line of the load report."""
    table_started = time.perf_counter()
    frame.write.mode("overwrite").format("parquet").saveAsTable(f"{RAW_SCHEMA}.{plan.table.name}")
    return TableLoad(
        table=plan.table.name,
        csv_path=plan.path,
        rows=rows,
        duplicates_dropped=dropped,
        seconds=seconds + time.perf_counter() - table_started,
        bytes_read=plan.size,
        notes=plan.notes,
    )


def load_raw_tables_on_spark(spark: SparkSession, data_dir: Path) -> LoadReport:
    """Load every contract table from `data_dir` into Spark's `raw` database; every table is
    checked before any is written, so bad input leaves `raw` as it was (LoadError: file, line,
    column)."""
    started = time.perf_counter()
    plans = plan_load(data_dir)
    with ThreadPoolExecutor(TABLE_THREADS, "spark-load") as pool:
        # Results in plan order: the first bad file in that order raises, as in a serial load.
        checked = [
            future.result() for future in [pool.submit(_timed_check, spark, p) for p in plans]
        ]
        write_started = time.perf_counter()
        spark.sql(f"create database if not exists {RAW_SCHEMA}")
        loads = list(pool.map(lambda entry: _written(*entry), checked))
    spark.catalog.clearCache()  # the files' text, cached for the checks
    report = LoadReport(
        tables=tuple(loads),
        seconds=time.perf_counter() - started,
        swap_seconds=time.perf_counter() - write_started,
        views_recreated=0,
    )
    log.info("loaded on Spark: %s", report.summary_line())
    return report
