"""Benchmark ad-hoc funnels against one full sequential scan of the raw events.

    ECOM_HOME=... python benchmarks/bench_funnels.py [--repeat 3] [--slow-paths] [--no-write]

Runs on the warehouse the settings name (the embedded one under ECOM_HOME, or
ECOM_DATABASE_URL), which must hold the demo world: raw.events loaded and the intermediate
event models built (int_events_sequenced, int_events_sequenced_sessions and
int_events_sequenced_patterns: `ecom pipeline`, or `ecom load` then `ecom transform`).
In one run, on one connection, it times (median of --repeat):

1. the floor: `select count(*), max(created_at) from raw.events`, one full sequential scan;
2. `ecom funnel --steps product,cart,purchase --breakdown traffic_source` (sessions, 14 days);
3. `ecom funnel --steps home,department,product,cart,purchase --order strict` (sessions).

Targets: (2) under 2x the scan, (3) under 4x. Both ratios and absolute times go to stdout and
benchmarks/results/funnels.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from results_file import publish  # noqa: E402

from ecom.analytics.events import DEFAULT_RELATION, Step, parse_steps  # noqa: E402
from ecom.analytics.funnels import FunnelQuery, companion, funnel_on  # noqa: E402
from ecom.analytics.retention import RetentionQuery, retention_on  # noqa: E402
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


def slow_path_actions(cursor) -> dict[str, Callable[[], object]]:
    """Questions off the session fast path: they number events in the event view."""
    questions = {
        "3-step funnel, users": FunnelQuery(
            steps=parse_steps("product,cart,purchase"), unit="user"
        ),
        "3-step funnel, a URI prefix step": FunnelQuery(
            steps=parse_steps("department:/department/men,product,cart")
        ),
        "3-step funnel, 1 h window (cuts ~6% of sessions)": FunnelQuery(
            steps=parse_steps("product,cart,purchase"), window=dt.timedelta(hours=1)
        ),
    }
    actions: dict[str, Callable[[], object]] = {
        name: (lambda query=query: funnel_on(cursor, query)) for name, query in questions.items()
    }
    actions["weekly retention, product then purchase"] = lambda: retention_on(
        cursor, RetentionQuery(start_event=Step("product"), return_event=Step("purchase"))
    )
    return actions


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="do not write results/funnels.md")
    parser.add_argument(
        "--slow-paths",
        action="store_true",
        help="also time, once each, the questions that read the event view (a user funnel, a "
        "URI prefix, retention) and a session funnel whose window cuts many sessions",
    )
    args = parser.parse_args()

    settings = get_settings()
    connection = connect(ensure_services(settings).database_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        for relation in (
            DEFAULT_RELATION,
            companion(DEFAULT_RELATION, "_sessions"),
            companion(DEFAULT_RELATION, "_patterns"),
        ):
            cursor.execute("select to_regclass(%s) is not null", (".".join(relation),))
            if not cursor.fetchone()[0]:
                sys.exit(
                    f"{'.'.join(relation)} is missing: run `ecom pipeline` (or `ecom load` "
                    "and `ecom transform`) on this ECOM_HOME first"
                )
        cursor.execute("select count(*) from raw.events")
        events = cursor.fetchone()[0]

        def scan() -> None:
            cursor.execute(SCAN)
            cursor.fetchall()

        actions: dict[str, Callable[[], object]] = {SCAN: scan}
        for name, (query, _) in QUESTIONS.items():
            actions[name] = lambda query=query: funnel_on(cursor, query)
        for action in actions.values():
            action()  # warm the cache: every timing then reads from memory alike
        # Rounds interleave the scan with the questions, so a change of load on a shared
        # machine weighs on the floor and the questions alike.
        seconds: dict[str, list[float]] = {name: [] for name in actions}
        for _ in range(args.repeat):
            for name, action in actions.items():
                started = time.perf_counter()
                action()
                seconds[name].append(time.perf_counter() - started)
        floor = statistics.median(seconds[SCAN])
        lines = [
            "# Ad-hoc funnels vs one scan of raw.events",
            "",
            f"`python benchmarks/bench_funnels.py --repeat {args.repeat}"
            f"{' --slow-paths' if args.slow_paths else ''}` on {events:,} events "
            f"(median of {args.repeat} interleaved rounds, one connection; {platform.node()}, "
            f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"load average {os.getloadavg()[0]:.1f} at the start: a busy shared machine when it "
            "is well above the core count).",
            "",
            "| question | seconds (median) | fastest | x scan | target | met |",
            "|---|---:|---:|---:|---:|---|",
            f"| `{SCAN}` | {floor:.2f} | {min(seconds[SCAN]):.2f} | 1.0 | | |",
        ]
        for name, (_, target) in QUESTIONS.items():
            median = statistics.median(seconds[name])
            ratio = median / floor
            lines.append(
                f"| {name} | {median:.2f} | {min(seconds[name]):.2f} | {ratio:.1f} | "
                f"< {target:g} | {'yes' if ratio < target else 'no'} |"
            )
        if args.slow_paths:
            lines += [
                "",
                "Other kinds of question, once each (`--slow-paths`), with a scan beside them:",
                "",
                "| question | seconds | x scan |",
                "|---|---:|---:|",
            ]
            for name, action in slow_path_actions(cursor).items():
                scanned = time.perf_counter()
                scan()
                started = time.perf_counter()
                action()
                took = time.perf_counter() - started
                lines.append(f"| {name} | {took:.2f} | {took / (started - scanned):.1f} |")
    connection.close()
    publish("\n".join(lines) + "\n", "funnels.md", write=not args.no_write)


if __name__ == "__main__":
    main()
