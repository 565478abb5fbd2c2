"""Benchmark `ecom load` against plain `psql \\copy` and `pandas.to_sql` on the same CSVs.

    python benchmarks/bench_ingest.py --users 100000 --seed 42

One run, one fresh database (`ecom_bench_ingest` on the configured or embedded server):

* psql \\copy, no keys: each file into a pre-created typed table without constraints, one psql
  session, files one after another. The floor: parsing and writing rows, nothing else.
* psql \\copy, with keys: the same into tables that already have their primary keys.
* load_raw_tables: the loader end to end (header checks, staging, COPY, `null` clean-up, key
  build, duplicate check, ANALYZE, swap into `raw`); then again over the loaded `raw` (a re-load);
  then fresh from a gzip copy of the same files (`.csv.gz`, decompressed as COPY reads them; a
  compressed file is one stream, never split).
* pandas.to_sql: `read_csv` + `to_sql` (SQLAlchemy, psycopg2, chunks of 10,000 rows) of the
  first --to-sql-rows rows of each file; its full-size time is extrapolated per table by rows
  and labelled as such, because the whole dataset takes many minutes that way.

Writes the table to benchmarks/results/ingest.md together with the command that produced it.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ecom.config import PostgresParts, Settings, libpq_env
from ecom.db import connect, create_database, drop_database, fetch_all
from ecom.ingest.files import find_csvs, has_thelook_csvs
from ecom.ingest.load import load_raw_tables
from ecom.ingest.report import LoadReport
from ecom.services import ensure_services
from ecom.thelook import ALL_TABLES, RawTable

BENCH_DATABASE = "ecom_bench_ingest"
# `ecom load` end to end (checks, NULL handling including FORCE_NULL, keys, swap) against the
# floor of raw COPY into typed tables without keys.
TARGET_RATIO = 1.1
RESULTS = Path(__file__).resolve().parent / "results" / "ingest.md"
console = Console()


@dataclass
class Measurement:
    method: str
    seconds: list[float]
    rows: int
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.median


# --------------------------------------------------------------------------- setup


def _dataset(args: argparse.Namespace, settings: Settings) -> Path:
    data_dir = args.data or settings.resolved_home / "bench" / f"thelook_{args.users}_{args.seed}"
    if has_thelook_csvs(data_dir):
        console.print(f"reusing the CSVs in {data_dir}")
        return data_dir
    from ecom.synth import generate_dataset

    console.print(f"generating {args.users:,} users (seed {args.seed}) into {data_dir}")
    generate_dataset(args.users, args.seed, data_dir, None, progress=True)
    return data_dir


def _execute(database_url: str, *statements: str) -> None:
    connection = connect(database_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    connection.close()


def _settle(database_url: str) -> None:
    """Flush the previous run's dirty pages so it does not slow down the next one."""
    try:
        _execute(database_url, "checkpoint")
    except Exception as error:  # CHECKPOINT needs superuser or pg_checkpoint
        console.print(f"[yellow]no checkpoint between runs: {error}")


def _warm_page_cache(paths: list[Path]) -> None:
    for path in paths:
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass


def _psql_binary() -> str:
    system = shutil.which("psql")
    if system:
        return system
    import pgserver

    return str(Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql")


def _table_ddl(schema: str, table: RawTable, *, with_key: bool) -> str:
    columns = ", ".join(f'"{c.name}" {c.pg_type}' for c in table.columns)
    key = f", primary key ({', '.join(table.primary_key)})" if with_key else ""
    return f'create table "{schema}"."{table.name}" ({columns}{key})'


# --------------------------------------------------------------------------- methods


def run_psql_copy(
    database_url: str, csvs: dict[str, Path], schema: str, *, with_key: bool
) -> tuple[float, int]:
    tables = [table for table in ALL_TABLES if table.name in csvs]
    _execute(
        database_url,
        f'drop schema if exists "{schema}" cascade',
        f'create schema "{schema}"',
        *(_table_ddl(schema, table, with_key=with_key) for table in tables),
    )
    script = "\n".join(
        f'\\copy "{schema}"."{table.name}" from \'{str(csvs[table.name]).replace(chr(39), chr(39) * 2)}\' '
        "with (format csv, header true)"
        for table in tables
    )
    env = {**os.environ, **libpq_env(database_url)}
    _settle(database_url)
    started = time.perf_counter()
    result = subprocess.run(
        [_psql_binary(), "-X", "-v", "ON_ERROR_STOP=1", "-f", "-"],
        input=script,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"psql failed: {result.stderr}")
    rows = sum(int(n) for n in re.findall(r"^COPY (\d+)$", result.stdout, flags=re.MULTILINE))
    # Every method starts from the same database: only `raw` (or nothing) in it.
    _execute(database_url, f'drop schema "{schema}" cascade')
    return seconds, rows


def run_load_raw_tables(
    database_url: str, data_dir: Path, *, fresh: bool
) -> tuple[float, LoadReport]:
    if fresh:
        _execute(database_url, "drop schema if exists raw cascade")
    _settle(database_url)
    started = time.perf_counter()
    report = load_raw_tables(database_url, data_dir, progress=False)
    return time.perf_counter() - started, report


def gzip_copy(csvs: dict[str, Path], target: Path) -> Path:
    """`<name>.csv.gz` beside nothing else in `target`, made once with gzip's default level (as
    BigQuery's compressed export); kept between runs like the generated dataset."""
    target.mkdir(parents=True, exist_ok=True)
    for path in csvs.values():
        compressed = target / f"{path.name}.gz"
        if not compressed.exists() or compressed.stat().st_mtime < path.stat().st_mtime:
            with open(compressed, "wb") as sink:
                subprocess.run(["gzip", "-c", str(path)], stdout=sink, check=True)
    return target


def run_pandas_to_sql(
    database_url: str, csvs: dict[str, Path], row_limit: int, full_rows: dict[str, int]
) -> tuple[float, float, int]:
    """Seconds for the subset, seconds extrapolated to the full files, rows in the subset."""
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(PostgresParts(database_url).sqlalchemy_url("psycopg2"))
    _execute(
        database_url, "drop schema if exists bench_pandas cascade", "create schema bench_pandas"
    )
    _settle(database_url)
    measured = extrapolated = 0.0
    rows = 0
    for table in ALL_TABLES:
        if table.name not in csvs:
            continue
        started = time.perf_counter()
        frame = pd.read_csv(csvs[table.name], nrows=row_limit)
        frame.to_sql(
            table.name,
            engine,
            schema="bench_pandas",
            if_exists="replace",
            index=False,
            chunksize=10_000,
        )
        seconds = time.perf_counter() - started
        measured += seconds
        rows += len(frame)
        extrapolated += seconds * full_rows[table.name] / max(len(frame), 1)
    engine.dispose()
    return measured, extrapolated, rows


# --------------------------------------------------------------------------- report


def _server_facts(database_url: str) -> str:
    version, wal_level = fetch_all(
        database_url, "select current_setting('server_version'), current_setting('wal_level')"
    )[0]
    return f"PostgreSQL {version}, wal_level={wal_level}"


def _render(measurements: list[Measurement], baseline: Measurement) -> Table:
    table = Table(title="CSV -> PostgreSQL, same files")
    for column in ("method", "seconds", "rows/s", "x psql \\copy (no keys)", "note"):
        table.add_column(column, justify="left" if column in {"method", "note"} else "right")
    for item in measurements:
        table.add_row(
            item.method,
            f"{item.median:.2f}",
            f"{item.rows_per_second:,.0f}",
            f"{item.median / baseline.median:.2f}x",
            item.note,
        )
    return table


def _markdown(
    measurements: list[Measurement],
    baseline: Measurement,
    targets: list[Measurement],
    command: str,
    facts: dict[str, str],
    rows_by_table: dict[str, int],
    sizes: dict[str, int],
) -> str:
    lines = [
        "# Ingest benchmark: `ecom load` vs `psql \\copy` vs `pandas.to_sql`",
        "",
        "Generated by `benchmarks/bench_ingest.py`; do not edit by hand.",
        "",
        f"Command: `{command}`",
        "",
        *(f"- {key}: {value}" for key, value in facts.items()),
        "",
        "| table | rows | MiB |",
        "|---|---:|---:|",
        *(
            f"| {name} | {rows:,} | {sizes.get(name, 0) / 2**20:.1f} |"
            for name, rows in rows_by_table.items()
        ),
        "",
        "| method | seconds (median) | runs | rows/s | ratio to psql \\copy, no keys | note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for item in measurements:
        lines.append(
            f"| {item.method} | {item.median:.2f} | {len(item.seconds)} | "
            f"{item.rows_per_second:,.0f} | {item.median / baseline.median:.2f}x | {item.note} |"
        )
    ratios = [item.median / baseline.median for item in targets]
    met = all(ratio <= TARGET_RATIO for ratio in ratios)
    lines += [
        "",
        f"Target: `ecom load` within {TARGET_RATIO}x of raw COPY end to end. Measured: "
        + ", ".join(
            f"{item.method.split(', ')[-1]} {ratio:.2f}x"
            for item, ratio in zip(targets, ratios, strict=True)
        )
        + f" ({'met' if met else 'NOT met'}).",
        "",
        "`load_raw_tables` includes header checks, COPY into staging tables in parallel "
        "connections (with FORCE_NULL, so a quoted empty field as TheLook's generator writes "
        "NULL is NULL), `null` -> NULL, the primary-key build with the duplicate check, ANALYZE, "
        "and the swap into `raw` with dependent views kept. The `psql \\copy` rows load the same "
        "files into typed tables and do nothing else (the string `null` stays text, no keys, "
        "no statistics). The `.csv.gz` row is the same load from gzip files: each is "
        "decompressed as COPY reads it, and a compressed file cannot be cut, so events is one "
        "stream there. The pandas row is measured on the first rows of each file and "
        "extrapolated linearly per table to the full row counts.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data", type=Path, help="CSV folder (default: generated under ECOM_HOME)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per COPY method")
    parser.add_argument("--to-sql-rows", type=int, default=50_000, help="rows per file for pandas")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args(argv)
    command = "python benchmarks/bench_ingest.py " + shlex.join(argv or sys.argv[1:])

    settings = Settings()
    endpoints = ensure_services(settings)
    load_before = os.getloadavg()[0]
    data_dir = _dataset(args, settings)
    csvs = find_csvs(data_dir)
    sizes = {name: path.stat().st_size for name, path in csvs.items()}
    database_url = create_database(endpoints.database_url, BENCH_DATABASE, replace=True)
    try:
        _warm_page_cache(list(csvs.values()))
        gzip_dir = gzip_copy(csvs, data_dir.parent / f"{data_dir.name}_gz")
        _warm_page_cache(list(find_csvs(gzip_dir).values()))
        copy_runs, copy_pk_runs, load_runs, reload_runs, gzip_runs = [], [], [], [], []
        report: LoadReport | None = None
        for run in range(args.repeat):
            console.print(f"run {run + 1}/{args.repeat}")
            _execute(database_url, "drop schema if exists raw cascade")
            seconds, copied = run_psql_copy(database_url, csvs, "bench_copy", with_key=False)
            copy_runs.append(seconds)
            seconds, copied_pk = run_psql_copy(database_url, csvs, "bench_copy_pk", with_key=True)
            copy_pk_runs.append(seconds)
            seconds, report = run_load_raw_tables(database_url, data_dir, fresh=True)
            load_runs.append(seconds)
            seconds, report = run_load_raw_tables(database_url, data_dir, fresh=False)
            reload_runs.append(seconds)
            seconds, gzip_report = run_load_raw_tables(database_url, gzip_dir, fresh=True)
            assert gzip_report.rows_by_table() == report.rows_by_table()
            gzip_runs.append(seconds)
        assert report is not None
        rows = report.total_rows
        rows_by_table = report.rows_by_table()
        split = {load.table: load.parts for load in report.tables if load.parts > 1}
        console.print(f"pandas.to_sql on the first {args.to_sql_rows:,} rows of each file")
        measured, extrapolated, pandas_rows = run_pandas_to_sql(
            database_url, csvs, args.to_sql_rows, rows_by_table
        )
        facts = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": (
                f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
                f"load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after the run "
                "(other work shares the cores)"
            ),
            "server": f"{_server_facts(database_url)}, {'embedded (pgserver)' if endpoints.embedded else 'configured server'}",
            "split into parallel COPY streams": ", ".join(
                f"{table} ({parts} parts)" for table, parts in split.items()
            )
            or "none",
            "data": (
                f"{data_dir}"
                + ("" if args.data else f" ({args.users:,} users, seed {args.seed})")
                + f", {sum(sizes.values()) / 2**20:.0f} MiB, {rows:,} rows"
            ),
        }
        baseline = Measurement("psql \\copy, typed tables, no keys", copy_runs, copied)
        targets = [
            Measurement("ecom load (load_raw_tables), fresh", load_runs, rows),
            Measurement("ecom load (load_raw_tables), re-load over raw", reload_runs, rows),
        ]
        measurements = [
            baseline,
            Measurement("psql \\copy, typed tables with primary keys", copy_pk_runs, copied_pk),
            *targets,
            Measurement(
                "ecom load, the same files as .csv.gz, fresh",
                gzip_runs,
                rows,
                f"{sum(p.stat().st_size for p in find_csvs(gzip_dir).values()) / 2**20:.0f} MiB "
                "compressed; each file one COPY stream",
            ),
            Measurement(
                "pandas read_csv + to_sql",
                [extrapolated],
                rows,
                f"extrapolated from {pandas_rows:,} rows measured in {measured:.1f} s",
            ),
        ]
        console.print(_render(measurements, baseline))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            _markdown(measurements, baseline, targets, command, facts, rows_by_table, sizes)
        )
        console.print(f"wrote {args.out}")
    finally:
        if not args.keep_database:
            drop_database(endpoints.database_url, BENCH_DATABASE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
