"""What a load did: rows per table, exact duplicates dropped, time, throughput."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from ecom.thelook import ALL_TABLES

OPTIONAL_TABLE_NAMES = frozenset(table.name for table in ALL_TABLES if not table.required)


@dataclass(frozen=True)
class TableLoad:
    """One table's load. `seconds` covers COPY, NULL clean-up, key checks and ANALYZE."""

    table: str
    csv_path: Path | None  # None: optional table without a CSV, loaded empty
    rows: int
    duplicates_dropped: int
    seconds: float
    bytes_read: int
    parts: int = 1  # parallel COPY streams the file was cut into
    notes: tuple[str, ...] = ()  # how the file's shape was handled, or that it was absent

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class LoadReport:
    """The whole load; `seconds` is wall-clock end to end, including validation and the swap."""

    tables: tuple[TableLoad, ...]
    seconds: float
    swap_seconds: float
    views_recreated: int

    @property
    def total_rows(self) -> int:
        return sum(table.rows for table in self.tables)

    @property
    def duplicates_dropped(self) -> int:
        return sum(table.duplicates_dropped for table in self.tables)

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def absent_tables(self) -> tuple[str, ...]:
        """TheLook tables the folder had no file for (loaded empty); optional ones excluded."""
        return tuple(
            table.table
            for table in self.tables
            if table.csv_path is None and table.table not in OPTIONAL_TABLE_NAMES
        )

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(note for table in self.tables for note in table.notes)

    def rows_by_table(self) -> dict[str, int]:
        return {table.table: table.rows for table in self.tables}

    def table(self, name: str) -> TableLoad:
        for table in self.tables:
            if table.table == name:
                return table
        raise KeyError(f"no table {name!r} in this load report")

    def summary_line(self) -> str:
        line = (
            f"{self.total_rows:,} rows into {len(self.tables)} raw tables in {self.seconds:.1f} s "
            f"({self.rows_per_second:,.0f} rows/s, {self.duplicates_dropped:,} exact duplicates dropped)"
        )
        if self.absent_tables:
            line += f"; no file for {', '.join(self.absent_tables)} (loaded empty)"
        return line

    def as_rich_table(self) -> Table:
        table = Table(
            title="raw tables loaded",
            caption=f"swap {self.swap_seconds:.2f} s; {self.views_recreated} dependent view(s) kept",
            caption_justify="left",
        )
        for column, justify in (
            ("table", "left"),
            ("rows", "right"),
            ("duplicates", "right"),
            ("seconds", "right"),
            ("rows/s", "right"),
            ("source", "left"),
        ):
            table.add_column(column, justify=justify)
        for load in self.tables:
            table.add_row(
                load.table,
                f"{load.rows:,}",
                f"{load.duplicates_dropped:,}",
                f"{load.seconds:.2f}",
                f"{load.rows_per_second:,.0f}",
                load.csv_path.name if load.csv_path else "(no CSV: empty)",
            )
        table.add_section()
        table.add_row(
            "total",
            f"{self.total_rows:,}",
            f"{self.duplicates_dropped:,}",
            f"{self.seconds:.2f}",
            f"{self.rows_per_second:,.0f}",
            "",
        )
        if self.notes:
            table.caption = "\n".join((table.caption or "", *self.notes))
        return table
