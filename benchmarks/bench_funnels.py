"""Benchmark ad-hoc funnels against one full sequential scan of the raw events.

    ECOM_HOME=... python benchmarks/bench_funnels.py [--repeat 3] [--no-write]

Runs on the warehouse the settings name (the embedded one under ECOM_HOME, or
ECOM_DATABASE_URL), which must hold the demo world: raw.events loaded and
intermediate.int_events_sequenced built (`ecom pipeline`, or `ecom load` then `ecom transform`).
In one run, on one connection, it times (median of --repeat):

1. the floor: `select count(*), max(created_at) from raw.events`, one full sequential scan;
2. `ecom funnel --steps product,cart,purchase --breakdown traffic_source` (sessions, 14 days);
3. `ecom funnel --steps home,department,product,cart,purchase --order strict` (sessions).

Targets: (2) under 2x the scan, (3) under 4x. Both ratios and absolute times go to stdout and
benchmarks/results/funnels.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from results_file import publish  # noqa: E402

from ecom.analytics.events import DEFAULT_RELATION, parse_steps  # noqa: E402
from ecom.analytics.funnels import FunnelQuery, funnel_on  # noqa: E402
from ecom.config import get_settings  # noqa: E402
from ecom.db import connect  # noqa: E402
from ecom.services import ensure_services  # noqa: E402

SCAN = "select count(*), max(created_at) from raw.events"
QUESTIONS = {
    "3-step funnel, breakdown traffic_source": (
        FunnelQuery(steps=parse_steps("product,cart,purchase"), breakdown="traffic_source"),
        2.0,
    ),
    "5-step strict funnel": (
        FunnelQuery(steps=parse_steps("home,department,product,cart,purchase"), order="strict"),
        4.0,
    ),
}


def timed(action: Callable[[], object], repeat: int) -> float:
    """Median wall-clock seconds of `repeat` runs."""
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="do not write results/funnels.md")
    args = parser.parse_args()

    settings = get_settings()
    connection = connect(ensure_services(settings).database_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("select to_regclass(%s) is not null", (".".join(DEFAULT_RELATION),))
        if not cursor.fetchone()[0]:
            sys.exit(
                f"{'.'.join(DEFAULT_RELATION)} is missing: run `ecom pipeline` (or `ecom load` "
                "and `ecom transform`) on this ECOM_HOME first"
            )
        cursor.execute("select count(*) from raw.events")
        events = cursor.fetchone()[0]

        def scan() -> None:
            cursor.execute(SCAN)
            cursor.fetchall()

        scan()  # warm the cache: every timing then reads from memory alike
        floor = timed(scan, args.repeat)
        lines = [
            "# Ad-hoc funnels vs one scan of raw.events",
            "",
            f"`python benchmarks/bench_funnels.py --repeat {args.repeat}` on {events:,} events "
            f"(median of {args.repeat} runs, one connection).",
            "",
            "| question | seconds | x scan | target | met |",
            "|---|---:|---:|---:|---|",
            f"| `{SCAN}` | {floor:.2f} | 1.0 | | |",
        ]
        for name, (query, target) in QUESTIONS.items():
            seconds = timed(lambda query=query: funnel_on(cursor, query), args.repeat)
            ratio = seconds / floor
            lines.append(
                f"| {name} | {seconds:.2f} | {ratio:.1f} | < {target:g} | "
                f"{'yes' if ratio < target else 'no'} |"
            )
    connection.close()
    publish("\n".join(lines) + "\n", "funnels.md", write=not args.no_write)


if __name__ == "__main__":
    main()
