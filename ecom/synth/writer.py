"""Write tables as CSV in the public TheLook export's format.

Headers are exactly the column names of `ecom.thelook`; timestamps read
`2025-09-12 01:11:58.000000 UTC`; geometry reads `POINT(lon lat)`; NULLs are empty fields;
text is left unquoted as in the export (pyarrow's "needed" style would quote every string), falling back to
quoting when a value holds a comma, quote or newline. pyarrow's CSV writer does the heavy lifting (pandas' `to_csv`
is several times slower on the 2.4M event rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ecom.thelook import RawTable

EXPORT_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S UTC"  # seconds carry 6 decimals for microsecond data


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


def write_table(frame: Mapping[str, Any] | pd.DataFrame, table: RawTable, out_dir: Path) -> int:
    """Write `frame` (columns named as in `table`, extra columns ignored) to DIR/<table>.csv.

    Columns may be numpy arrays, pandas Series or ready-made pyarrow arrays (used for the big
    string columns of events, which are built in Arrow to avoid millions of Python strings).
    """
    missing = [name for name in table.column_names if name not in frame]
    if missing:
        raise KeyError(f"{table.csv_name}: columns {missing} were not generated")
    arrays = [
        _to_arrow_column(
            frame[column.name], column.pg_type, f"{table.csv_name} column {column.name}"
        )
        for column in table.columns
    ]
    arrow_table = pa.Table.from_arrays(arrays, names=table.column_names)
    path = out_dir / table.csv_name
    try:
        _write_csv(arrow_table, table, path, quoting_style="none")
    except pa.ArrowInvalid:  # some value holds a structural character: quote strings
        _write_csv(arrow_table, table, path, quoting_style="needed")
    return arrow_table.num_rows


def _write_csv(arrow_table: pa.Table, table: RawTable, path: Path, quoting_style: str) -> None:
    with path.open("wb") as sink:
        sink.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(
            arrow_table,
            sink,
            write_options=pacsv.WriteOptions(include_header=False, quoting_style=quoting_style),
        )
