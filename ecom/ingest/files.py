"""The loader's view of the CSV files: which exist, whether their headers match the contract,
and which line of a file a record sits on.

Everything here reads files only, never the database, so the checks run before a load touches
PostgreSQL and the line lookups can be unit-tested. The record scans are slow-path helpers:
they run only after COPY or the primary key has already rejected a file, to turn "row 81 of
the table" into "line 84 of events.csv".
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

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
    """The contract tables whose file is present in `data_dir`, by table name.

    Names match whatever their case (`Distribution_centers.csv`), plain or gzip-compressed
    (`events.csv.gz`), because that is how downloads and hand-made copies arrive. Two files for
    one table (`users.csv` and `users.csv.gz`) are an error: which one to load is a guess.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return {}
    tables_by_file = {name: table for table in ALL_TABLES for name in table.file_names}
    found: dict[str, Path] = {}
    for path in sorted(data_dir.iterdir()):
        table = tables_by_file.get(path.name.lower())
        if table is None or not path.is_file():
            continue
        if table.name in found:
            raise LoadError(
                path,
                f"two files for table {table.name}: {found[table.name].name} and {path.name}; "
                "keep one",
            )
        found[table.name] = path
    return found


def has_thelook_csvs(data_dir: Path) -> bool:
    """True when `data_dir` holds at least one TheLook table's CSV.

    The CLI generates a dataset only into a folder with none of them; a folder with some but not
    all is a user's (partial) data, which the load takes as it is instead of overwriting.
    """
    present = find_csvs(data_dir)
    return any(table.name in present for table in THELOOK_TABLES)


def is_compressed(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def open_binary(path: Path) -> BinaryIO:
    """The file's CSV bytes, decompressed on the fly for `.csv.gz`."""
    if is_compressed(path):
        return gzip.open(path, "rb")
    return open(path, "rb")


def open_text(path: Path, encoding: str = "utf-8") -> TextIO:
    """The file's CSV text (newlines kept as written, bad bytes replaced), gzip or not."""
    return io.TextIOWrapper(open_binary(path), encoding=encoding, errors="replace", newline="")


# --------------------------------------------------------------------------- headers


def read_header(path: Path) -> list[str]:
    """The column names on line 1, without a UTF-8 byte-order mark or surrounding spaces."""
    try:
        with open_text(path, encoding="utf-8-sig") as handle:
            first_line = handle.readline()
    except (OSError, EOFError) as error:  # a truncated or non-gzip `.gz`
        raise LoadError(path, f"cannot read the file: {error}", line=1) from None
    if not first_line.strip():
        raise LoadError(path, "the file is empty: expected a header line", line=1)
    return [name.strip() for name in next(csv.reader([first_line]))]


@dataclass(frozen=True)
class HeaderMatch:
    """How a file's header maps onto its table.

    `columns` is the header in file order, each name spelled as the contract spells it (names
    match whatever their case) or as the file spells it for a column the contract lacks;
    `ignored` are those unknown columns, loaded into throw-away columns and dropped; `derived`
    is the geometry column the file lacks, which the loader derives from longitude/latitude.
    """

    columns: tuple[str, ...]
    ignored: tuple[str, ...] = ()
    derived: str | None = None

    def notes(self, table: RawTable, file_name: str) -> tuple[str, ...]:
        """What the load report says about this file's shape, one sentence each."""
        notes = []
        if self.derived and table.geometry:
            _, longitude, latitude = table.geometry
            notes.append(
                f"{file_name}: no {self.derived} column, derived from {latitude}/{longitude}"
            )
        if self.ignored:
            names = ", ".join(self.ignored)
            notes.append(
                f"{file_name}: unknown column{'s' * (len(self.ignored) > 1)} {names} ignored"
            )
        return tuple(notes)


def match_header(path: Path, table: RawTable, header: list[str]) -> HeaderMatch:
    """Map a header onto the contract by name, or raise LoadError naming file and column.

    Order is free (COPY is given the header's order). Unknown columns are ignored, not fatal:
    exports grow columns the marts do not read. A missing geometry column is derived; any other
    missing column is one the marts read, so it stops the load.
    """
    by_lower = {name.lower(): name for name in table.column_names}
    seen: set[str] = set()
    columns, ignored = [], []
    for name in header:
        canonical = by_lower.get(name.lower(), name)
        if canonical.lower() in seen:
            raise LoadError(
                path, f"column {name!r} appears twice in the header", line=1, column=name
            )
        seen.add(canonical.lower())
        columns.append(canonical)
        if canonical not in table.column_names:
            ignored.append(name)
    derivable = table.geometry[0] if table.geometry else None
    missing = [name for name in table.column_names if name not in columns and name != derivable]
    if missing:
        raise LoadError(
            path,
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
            f"in the header; {table.name} needs: {', '.join(table.column_names)}",
            line=1,
            column=missing[0],
        )
    derived = derivable if derivable and derivable not in columns else None
    return HeaderMatch(tuple(columns), tuple(ignored), derived)


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
    with open_text(path) as handle:
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
        if name in types
        and normalized_field(first.fields[position], types[name])
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
