"""Write tables as CSV, in the public TheLook export's format or in the format of TheLook's generator.

`export` (BigQuery's export): headers exactly the column names of `ecom.thelook`; timestamps
read `2025-09-12 01:11:58.000000 UTC`; geometry reads `POINT(lon lat)` (derived from the row's
coordinates when the frame has none); NULLs are empty fields; text is left unquoted as in the
export (pyarrow's "needed" style would quote every string), falling back to quoting when a value
holds a comma, quote or newline.

`thelook` (what the generator's `csv.writer(quoting=csv.QUOTE_NONNUMERIC)` writes): every text
value quoted, NULL written as a quoted empty string `""` (in integer columns too), numbers read
from its helper files (product ids, prices, costs, coordinates) as quoted strings, timestamps
without a zone (`2024-06-11 07:46:05`, microseconds only when the instant has them), rows ending
in CRLF, and no geometry columns; `products.csv` and `distribution_centers.csv` are its helper
files, copied as they are (plain CSV, no geometry).

pyarrow's CSV writer does the heavy lifting in both (pandas' `to_csv` is several times slower
on the 2.4M event rows).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ecom.thelook import RawTable

EXPORT_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S UTC"  # seconds carry 6 decimals for microsecond data
GENERATOR_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"  # Python's str(datetime), naive
CSV_FORMATS = ("export", "thelook")
# Columns TheLook's generator copies as text from its helper CSVs, so csv quotes them.
GENERATOR_TEXT_NUMBERS: dict[str, tuple[str, ...]] = {
    "users": ("latitude", "longitude"),
    "order_items": ("product_id", "sale_price"),
    "inventory_items": (
        "product_id",
        "cost",
        "product_retail_price",
        "product_distribution_center_id",
    ),
}
# Tables the generator uploads from its helper files unchanged rather than writing them.
GENERATOR_HELPER_TABLES = ("products", "distribution_centers")
ROWS_PER_CHUNK = 200_000


def format_timestamps(values: np.ndarray | pd.Series) -> pa.Array:
    """datetime64 (naive UTC, NaT for missing) to export strings, NULL for NaT."""
    array = pa.array(np.asarray(values, dtype="datetime64[us]"), type=pa.timestamp("us"))
    return pc.strftime(array, format=EXPORT_TIMESTAMP_FORMAT)


def format_points(longitude: np.ndarray, latitude: np.ndarray) -> pa.Array:
    """Geometry as the export writes it: POINT(lon lat)."""
    lon = pc.cast(pa.array(np.asarray(longitude, dtype=float)), pa.string())
    lat = pc.cast(pa.array(np.asarray(latitude, dtype=float)), pa.string())
    return pc.binary_join_element_wise("POINT(", lon, " ", lat, ")", "")


def _to_arrow_column(
    values: pd.Series | np.ndarray | pa.Array, pg_type: str, where: str
) -> pa.Array:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    series = pd.Series(values)
    if pg_type == "timestamptz":
        return format_timestamps(series.to_numpy())
    if pg_type in ("bigint", "integer"):
        if series.dtype.kind not in "iu" and str(series.dtype) != "Int64":
            raise TypeError(f"{where}: expected integers, got dtype {series.dtype}")
        return pa.array(series, type=pa.int64(), from_pandas=True)
    if pg_type == "double precision":
        return pa.array(series.astype(float), type=pa.float64(), from_pandas=True)
    return pa.array(series, type=pa.string(), from_pandas=True)


def write_table(
    frame: Mapping[str, Any] | pd.DataFrame,
    table: RawTable,
    out_dir: Path,
    csv_format: str = "export",
) -> int:
    """Write `frame` (columns named as in `table`, extra columns ignored) to DIR/<table>.csv.

    Columns may be numpy arrays, pandas Series or ready-made pyarrow arrays (used for the big
    string columns of events, which are built in Arrow to avoid millions of Python strings).
    `csv_format` is one of CSV_FORMATS (see the module's docstring).
    """
    if csv_format not in CSV_FORMATS:
        raise ValueError(f"csv format {csv_format!r} is not one of {', '.join(CSV_FORMATS)}")
    frame = dict(frame.items())
    if table.geometry is not None:
        point, longitude, latitude = table.geometry
        if csv_format == "thelook":
            frame.pop(point, None)
        elif point not in frame and longitude in frame and latitude in frame:
            frame[point] = format_points(frame[longitude], frame[latitude])
    columns = [
        column
        for column in table.columns
        if csv_format == "export" or table.geometry is None or column.name != table.geometry[0]
    ]
    missing = [column.name for column in columns if column.name not in frame]
    if missing:
        raise KeyError(f"{table.csv_name}: columns {missing} were not generated")
    path = out_dir / table.csv_name
    names = [column.name for column in columns]
    if csv_format == "thelook" and table.name not in GENERATOR_HELPER_TABLES:
        text_numbers = GENERATOR_TEXT_NUMBERS.get(table.name, ())
        arrays = [
            _to_generator_column(frame[column.name], column.pg_type, column.name in text_numbers)
            for column in columns
        ]
        return _write_generator_csv(pa.Table.from_arrays(arrays, names=names), path)
    arrays = [
        _to_arrow_column(
            frame[column.name], column.pg_type, f"{table.csv_name} column {column.name}"
        )
        for column in columns
    ]
    arrow_table = pa.Table.from_arrays(arrays, names=names)
    try:
        _write_csv(arrow_table, path, quoting_style="none")
    except pa.ArrowInvalid:  # some value holds a structural character: quote strings
        _write_csv(arrow_table, path, quoting_style="needed")
    return arrow_table.num_rows


def _write_csv(arrow_table: pa.Table, path: Path, quoting_style: str) -> None:
    with path.open("wb") as sink:
        sink.write((",".join(arrow_table.column_names) + "\n").encode())
        pacsv.write_csv(
            arrow_table,
            sink,
            write_options=pacsv.WriteOptions(include_header=False, quoting_style=quoting_style),
        )


def format_generator_timestamps(values: np.ndarray | pd.Series | pa.Array) -> pa.Array:
    """datetime64 (naive UTC, NaT for missing) as Python prints a naive datetime, NULL for NaT:
    `2024-06-11 07:46:05`, or `2024-06-11 07:46:05.123456` when the instant has microseconds."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        values = values.to_numpy(zero_copy_only=False)
    stamps = np.asarray(values, dtype="datetime64[us]")
    array = pa.array(stamps, type=pa.timestamp("us"))
    with_fraction = pc.strftime(array, format=GENERATOR_TIMESTAMP_FORMAT)
    whole = pc.strftime(
        array.cast(pa.timestamp("s"), safe=False), format=GENERATOR_TIMESTAMP_FORMAT
    )
    has_fraction = pa.array(stamps.astype(np.int64) % 1_000_000 != 0)
    return pc.if_else(has_fraction, with_fraction, whole)


def _to_generator_column(
    values: pd.Series | np.ndarray | pa.Array, pg_type: str, text_number: bool
) -> pa.Array:
    """One column as the generator's csv module sees it: str (quoted), int or float, or None.

    Text, timestamps and text numbers come back as strings with NULL already written as ""
    (so the writer quotes them); numbers keep their type and their NULLs.
    """
    if pg_type == "timestamptz":
        return pc.fill_null(format_generator_timestamps(values), "")
    array = (
        values if isinstance(values, pa.Array) else pa.array(pd.Series(values), from_pandas=True)
    )
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if text_number or pg_type == "text":
        return pc.fill_null(array.cast(pa.string()), "")
    return array.cast(pa.int64() if pg_type in ("bigint", "integer") else pa.float64())


def _write_generator_csv(arrow_table: pa.Table, path: Path) -> int:
    """QUOTE_NONNUMERIC with CRLF rows: numbers bare, every string quoted, NULL numbers as "".

    pyarrow's "needed" style quotes every string and leaves numbers bare, as csv.QUOTE_NONNUMERIC
    does; only a NULL number differs (pyarrow writes an empty field). So rows are written in runs
    sharing one pattern of NULL numbers, each NULL column of a run swapped for a column of "".
    TheLook's events table has two runs: its registered rows, then its anonymous ones.
    """
    with path.open("wb") as sink:
        sink.write((",".join(arrow_table.column_names) + "\r\n").encode())
        for run in _runs_of_null_numbers(arrow_table):
            for start in range(0, run.num_rows, ROWS_PER_CHUNK):
                buffer = io.BytesIO()
                pacsv.write_csv(
                    run.slice(start, ROWS_PER_CHUNK),
                    buffer,
                    write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"),
                )
                sink.write(buffer.getvalue().replace(b"\n", b"\r\n"))
    return arrow_table.num_rows


def _runs_of_null_numbers(arrow_table: pa.Table) -> Iterator[pa.Table]:
    """Consecutive row ranges in which each numeric column is all NULL or all present, with the
    all-NULL columns replaced by quoted empty strings."""
    nullable = [
        index
        for index, column in enumerate(arrow_table.columns)
        if not pa.types.is_string(column.type) and column.null_count > 0
    ]
    if not nullable:
        yield arrow_table
        return
    pattern = np.column_stack(
        [arrow_table.column(index).is_null().to_numpy(zero_copy_only=False) for index in nullable]
    )
    changes = np.flatnonzero((pattern[1:] != pattern[:-1]).any(axis=1)) + 1
    bounds = np.concatenate([[0], changes, [arrow_table.num_rows]])
    for start, stop in itertools.pairwise(bounds):
        run = arrow_table.slice(int(start), int(stop - start))
        for position, index in enumerate(nullable):
            if pattern[start, position]:
                empty = pa.repeat(pa.scalar("", type=pa.string()), run.num_rows)
                run = run.set_column(index, arrow_table.column_names[index], empty)
        yield run
