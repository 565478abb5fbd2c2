"""Benchmark `dbt build` (models, unit tests and data tests) at 10k and 100k users in one run.

Each size is generated (seeded, fixed end date), loaded into its own database on the configured
server (or the embedded one), and built once with `ecom.transform.build_warehouse`. Reports the
wall time of the whole build, the time of every model, and the 100k/10k ratio (target: at most
10x for 10x the data), and writes benchmarks/results/transform.md.

    python benchmarks/bench_transform.py                  # 10k and 100k users
    python benchmarks/bench_transform.py --users 2000 20000
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ecom.config import Settings
from ecom.db import create_database, drop_database
from ecom.ingest.files import has_thelook_csvs
from ecom.ingest.load import load_raw_tables
from ecom.services import Endpoints, ensure_services
from ecom.synth import generate_dataset
from ecom.transform import DbtRunSummary, build_warehouse

RESULTS = Path(__file__).resolve().parent / "results" / "transform.md"
console = Console()


@dataclass
class SizeResult:
    users: int
    rows: dict[str, int]
    load_seconds: float
    summary: DbtRunSummary

    @property
    def build_seconds(self) -> float:
        return self.summary.seconds


def _database_name(users: int) -> str:
    return f"bench_transform_{users}"


def run_size(
    settings: Settings, server: Endpoints, users: int, seed: int, end_date: dt.date
) -> SizeResult:
    data_dir = settings.resolved_home / "bench" / f"thelook_{users}_{seed}_{end_date:%Y%m%d}"
    if not has_thelook_csvs(data_dir):
        console.print(f"generating {users:,} users into {data_dir}")
        generate_dataset(users, seed, data_dir, end_date, progress=True)
    database_url = create_database(server.database_url, _database_name(users), replace=True)
    endpoints = Endpoints(database_url, server.redis_url, embedded=server.embedded)
    started = time.perf_counter()
    report = load_raw_tables(database_url, data_dir, progress=True)
    load_seconds = time.perf_counter() - started
    console.print(f"loaded {users:,} users in {load_seconds:.1f}s; running dbt build")
    summary = build_warehouse(settings.with_overrides(database_url=database_url), endpoints)
    console.print(f"dbt build at {users:,} users: {summary.seconds:.1f}s {summary.counts()}")
    rows = {table.table: table.rows for table in report.tables}
    return SizeResult(users, rows, load_seconds, summary)


def render_markdown(results: list[SizeResult], command: str) -> str:
    small, large = results[0], results[-1]
    ratio = large.build_seconds / small.build_seconds
    lines = [
        "# dbt build benchmark",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {platform.system()}, Python {platform.python_version()}  ",
        f"Run at: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "`dbt build` = every model, unit test and data test, 4 threads. Model times overlap "
        "(threads share 2 cores), so they do not add up to the wall time.",
        "",
        "| users | events | orders | load (s) | dbt build wall (s) | nodes |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        lines.append(
            f"| {result.users:,} | {result.rows.get('events', 0):,} | "
            f"{result.rows.get('orders', 0):,} | {result.load_seconds:.1f} | "
            f"{result.build_seconds:.1f} | {len(result.summary.nodes)} |"
        )
    lines += [
        "",
        f"**{large.users:,} / {small.users:,} users build time ratio: {ratio:.2f}x** "
        f"(target: at most {large.users / small.users:.0f}x).",
        "",
        "## Seconds per model",
        "",
        "| model | " + " | ".join(f"{r.users:,} users" for r in results) + " | rows at "
        f"{large.users:,} |",
        "|---|" + "---:|" * (len(results) + 1),
    ]
    models = sorted(
        large.summary.seconds_by_model(), key=lambda name: -large.summary.node(name).seconds
    )
    for name in models:
        cells = [f"{r.summary.node(name).seconds:.2f}" for r in results]
        rows = large.summary.node(name).rows
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {rows if rows else ''} |")
    test_seconds = [
        sum(n.seconds for n in r.summary.nodes if n.resource_type in ("test", "unit_test"))
        for r in results
    ]
    lines += [
        "",
        "Sum of test times: " + ", ".join(f"{s:.1f}s" for s in test_seconds) + ".",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=dt.date(2025, 11, 24))
    parser.add_argument(
        "--keep-databases", action="store_true", help="leave bench_transform_<users> for a look"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    settings = Settings()
    server = ensure_services(settings)
    try:
        results = [
            run_size(settings, server, n, args.seed, args.end_date) for n in sorted(args.users)
        ]
    finally:
        if not args.keep_databases:
            for users in args.users:
                drop_database(server.database_url, _database_name(users))

    table = Table(title="dbt build")
    table.add_column("users", justify="right")
    table.add_column("build (s)", justify="right")
    for result in results:
        table.add_row(f"{result.users:,}", f"{result.build_seconds:.1f}")
    console.print(table)
    if len(results) > 1:
        ratio = results[-1].build_seconds / results[0].build_seconds
        console.print(f"ratio {results[-1].users:,}/{results[0].users:,}: {ratio:.2f}x")
    command = (
        f"python benchmarks/bench_transform.py --users {' '.join(map(str, args.users))} "
        f"--seed {args.seed} --end-date {args.end_date}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(render_markdown(results, command))
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
