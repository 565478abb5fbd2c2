"""The loader's view of the CSV files: which exist, whether their headers match the contract,
and which line of a file a record sits on.

Everything here reads files only, never the database, so the checks run before a load touches
PostgreSQL and the line lookups can be unit-tested. The record scans are slow-path helpers:
they run only after COPY or the primary key has already rejected a file, to turn "row 81 of
the table" into "line 84 of events.csv".
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ecom.thelook import ALL_TABLES, THELOOK_TABLES, RawTable

# Public exports write a missing text value as this string; the loader stores NULL instead.
NULL_TOKEN = "null"


class LoadError(Exception):
    """A file that cannot be loaded, with where the problem is: file, line and column.

    `line` is the 1-based line of the CSV file (the header is line 1); `line` and `column` are
    None when the problem is not at one place (a missing file). `lines` lists every line
    involved when there is more than one (both copies of a conflicting duplicate id).
    """

    def __init__(
        self,
        file: Path | str,
        reason: str,
        *,
        line: int | None = None,
        column: str | None = None,
        lines: tuple[int, ...] = (),
    ) -> None:
        self.file = Path(file)
        self.reason = reason
        self.line = line
        self.column = column
        self.lines = lines or ((line,) if line is not None else ())
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = [str(self.file)]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.reason}"

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # keeps the fields when Prefect or multiprocessing pickles the error
        return (
            _rebuild_load_error,
            (str(self.file), self.reason, self.line, self.column, self.lines),
        )


def _rebuild_load_error(
    file: str, reason: str, line: int | None, column: str | None, lines: tuple[int, ...]
) -> LoadError:
    return LoadError(file, reason, line=line, column=column, lines=lines)


# --------------------------------------------------------------------------- discovery


def find_csvs(data_dir: Path) -> dict[str, Path]:
    """The contract tables whose CSV is present in `data_dir`, by table name."""
    data_dir = Path(data_dir)
    return {
        table.name: data_dir / table.csv_name
        for table in ALL_TABLES
        if (data_dir / table.csv_name).is_file()
    }


def has_thelook_csvs(data_dir: Path) -> bool:
    """True when `data_dir` holds at least one TheLook table's CSV.

    The CLI generates a dataset only into a folder with none of them; a folder with some but not
    all is a user's data with a file missing, which the load reports instead of overwriting.
    """
    present = find_csvs(data_dir)
    return any(table.name in present for table in THELOOK_TABLES)


# --------------------------------------------------------------------------- headers


def read_header(path: Path) -> list[str]:
    """The column names on line 1, without a UTF-8 byte-order mark or surrounding spaces."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        first_line = handle.readline()
    if not first_line.strip():
        raise LoadError(path, "the file is empty: expected a header line", line=1)
    return [name.strip() for name in next(csv.reader([first_line]))]


def check_header(path: Path, table: RawTable, header: list[str]) -> None:
    """Raise LoadError unless the header names exactly the contract's columns.

    Order may differ from the contract: COPY is given the header's order, so a file with
    reordered columns loads correctly. Public exports use the contract order anyway.
    """
    expected = table.column_names
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise LoadError(
                path, f"column {name!r} appears twice in the header", line=1, column=name
            )
        seen.add(name)
        if name not in expected:
            raise LoadError(
                path,
                f"unknown column {name!r} in the header; {table.name} has: {', '.join(expected)}",
                line=1,
                column=name,
            )
    missing = [name for name in expected if name not in seen]
    if missing:
        raise LoadError(
            path,
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
            f"in the header; {table.name} needs: {', '.join(expected)}",
            line=1,
            column=missing[0],
        )


# --------------------------------------------------------------------------- record scans


@dataclass(frozen=True)
class CsvRecord:
    """One CSV record: the file line it starts on, the line PostgreSQL's COPY calls it, fields."""

    line: int
    copy_line: int
    fields: list[str]


class _LineCounter:
    """Feeds lines to csv.reader while counting physical lines and COPY's line terminators."""

    def __init__(self, lines: Iterable[str], terminator: str) -> None:
        self._lines = iter(lines)
        self._terminator = terminator
        self.lines_read = 0
        self.terminators_read = 0
        self.last_line = ""

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.lines_read += 1
        self.terminators_read += line.endswith(self._terminator)
        self.last_line = line
        return line


def _terminator(first_line: str) -> str:
    # COPY fixes the file's end-of-line style from the first line and counts only that one.
    if first_line.endswith("\r\n"):
        return "\r\n"
    if first_line.endswith("\r"):
        return "\r"
    return "\n"


def iter_records(path: Path) -> Iterator[CsvRecord]:
    """Every data record of a CSV file with its starting line number.

    `copy_line` reproduces how COPY numbers lines in its error CONTEXT: it counts line
    terminators of the file's style, so a quoted field holding newlines shifts its numbers.
    Line numbers otherwise follow the file as a text editor shows it.
    """
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        header_line = handle.readline()
        counter = _LineCounter(handle, _terminator(header_line))
        counter.lines_read = 1
        counter.terminators_read = int(header_line.endswith(_terminator(header_line)))
        reader = csv.reader(counter)
        while True:
            lines_before = counter.lines_read
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error:
                return  # an unterminated quote: COPY's own line number is the best we have
            ends_with_terminator = counter.last_line.endswith(_terminator(header_line))
            copy_line = counter.terminators_read - int(ends_with_terminator) + 1
            yield CsvRecord(lines_before + 1, copy_line, fields)


def record_at_copy_line(path: Path, copy_line: int) -> CsvRecord | None:
    """The record that COPY's CONTEXT "line N" refers to, or None if the scan cannot find it."""
    for record in iter_records(path):
        if record.copy_line >= copy_line:
            return record if record.copy_line == copy_line else None
    return None


def _key_value(text: str, pg_type: str) -> object:
    text = text.strip()
    if pg_type in {"bigint", "integer"}:
        try:
            return int(text)
        except ValueError:
            return text
    return text


def records_with_key(
    path: Path, header: list[str], table: RawTable, key: tuple[object, ...]
) -> list[CsvRecord]:
    """All records whose primary key equals `key` (values as PostgreSQL returned them)."""
    types = {column.name: column.pg_type for column in table.columns}
    positions = [header.index(name) for name in table.primary_key]
    key_types = [types[name] for name in table.primary_key]
    found = []
    for record in iter_records(path):
        if len(record.fields) != len(header):
            continue
        values = tuple(
            _key_value(record.fields[position], pg_type)
            for position, pg_type in zip(positions, key_types, strict=True)
        )
        if values == key:
            found.append(record)
    return found


def first_record_with_empty_key(
    path: Path, header: list[str], table: RawTable
) -> tuple[CsvRecord, str] | None:
    """The first record whose primary key field is empty (or `null` in a text key), and which."""
    types = {column.name: column.pg_type for column in table.columns}
    for record in iter_records(path):
        for name in table.primary_key:
            value = record.fields[header.index(name)].strip()
            if value == "" or (types[name] == "text" and value == NULL_TOKEN):
                return record, name
    return None


def normalized_field(text: str, pg_type: str) -> object:
    """A field as the table stores it, so that '1.0' and '1' or '' and 'null' compare equal."""
    if text == "" or (pg_type == "text" and text == NULL_TOKEN):
        return None
    if pg_type in {"bigint", "integer", "double precision"}:
        try:
            return float(text)
        except ValueError:
            return text
    if pg_type == "timestamptz":
        return re.sub(r"\.0+(?= |$)", "", text.strip())
    return text


def differing_columns(
    first: CsvRecord, second: CsvRecord, header: list[str], table: RawTable
) -> list[str]:
    """Columns (in header order) whose stored values differ between two records."""
    types = {column.name: column.pg_type for column in table.columns}
    return [
        name
        for position, name in enumerate(header)
        if normalized_field(first.fields[position], types[name])
        != normalized_field(second.fields[position], types[name])
    ]


# --------------------------------------------------------------------------- splitting


@dataclass(frozen=True)
class FileRange:
    """A byte range of a CSV that holds whole records, for one of several parallel COPYs."""

    start: int
    end: int | None  # None: to the end of the file

    @property
    def has_header(self) -> bool:
        return self.start == 0


WHOLE_FILE = FileRange(0, None)
_SCAN_BYTES = 1 << 24


def _count(handle, needle: bytes, start: int, end: int) -> int:
    """Occurrences of a one- or two-byte needle in [start, end), read in bounded chunks."""
    total = 0
    handle.seek(start)
    buffer = bytearray(min(_SCAN_BYTES, max(end - start, 1)))
    previous_last = -1
    position = start
    while position < end:
        size = handle.readinto(buffer)
        size = min(size, end - position)
        if size <= 0:
            break
        total += buffer.count(needle, 0, size)
        if len(needle) == 2 and previous_last == needle[0] and buffer[0] == needle[1]:
            total += 1  # the needle straddles two chunks
        previous_last = buffer[size - 1]
        position += size
    return total


def copy_lines_before(path: Path, offset: int) -> int:
    """How many lines COPY counts in the file before `offset`: its line terminators, in the
    style of the header line. Maps COPY's line numbers in a later part back to the file's."""
    if offset <= 0:
        return 0
    with open(path, "rb") as handle:
        header_line = handle.readline()
        return _count(handle, _terminator_bytes(header_line), 0, offset)


def _terminator_bytes(header_line: bytes) -> bytes:
    if header_line.endswith(b"\r\n"):
        return b"\r\n"
    return b"\r" if header_line.endswith(b"\r") else b"\n"


def split_csv(path: Path, cut_near: list[int]) -> list[FileRange]:
    """Cut a CSV into byte ranges of whole records, each cut at the first record boundary at or
    after the requested offsets (ascending); offsets past the last record are ignored.

    A cut goes after a line feed where the number of quote characters so far is even: that is
    exactly where COPY's CSV reader is outside a quoted field (a doubled quote inside a field
    adds two), so no record is ever cut in half, even one with newlines in a quoted field.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        header_line = handle.readline()
        if not cut_near or not header_line.endswith(b"\n"):
            return [WHOLE_FILE]
        ranges: list[FileRange] = []
        start = 0
        position = 0
        quotes = 0
        for offset in cut_near:
            target = max(offset, position, len(header_line) - 1)
            while True:
                handle.seek(target)
                handle.readline()  # to the end of the line holding the target byte
                cut = handle.tell()
                if cut >= size:
                    break
                quotes += _count(handle, b'"', position, cut)
                position = target = cut
                if quotes % 2 == 0:
                    break
            if cut >= size:
                break
            ranges.append(FileRange(start, position))
            start = position
        ranges.append(FileRange(start, None))
    return ranges
