"""Benchmark the analysis of a 100k-user experiment: aggregated in PostgreSQL vs rows in pandas.

    python benchmarks/bench_experiments.py [--users 100000] [--repeat 3]

In a database of its own (`ecom_bench_experiments`, recreated each run) it builds a
`analytics.mart_experiment_results` of `--users` users by SQL (the mart's columns, a 50/50
split, treatment's cart sessions 5% likelier to purchase, pre-period columns that share each
user's propensity), then
analyses every metric of ecom.experiments.metrics (plain and CUPED) side by side:

1. in the database: tea-tasting on an Ibis table; PostgreSQL computes each variant's count,
   means, variances and covariances, and two rows travel to Python;
2. in pandas: the rows are read into a DataFrame (ecom.experiments.data.load_results, what
   `ecom experiment analyze` does), then tea-tasting aggregates them in Python;
3. the full `analyze_experiment` on the DataFrame (SRM, both readings, Holm, the Bayesian read,
   segments with BH, and the daily always-valid path), for scale.

Both ways must give the same numbers (checked to 1e-9). Results go to stdout and
benchmarks/results/experiments.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import sys
import time
from pathlib import Path

import ibis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ecom.config import PostgresParts, Settings  # noqa: E402
from ecom.db import create_database, transaction  # noqa: E402
from ecom.experiments.analysis import analyze_experiment  # noqa: E402
from ecom.experiments.data import load_results  # noqa: E402
from ecom.experiments.metrics import METRICS, experiment_definition  # noqa: E402
from ecom.services import ensure_services  # noqa: E402

BENCH_DATABASE = "ecom_bench_experiments"
EXPERIMENT_ID = "bench_checkout"
RESULTS = ROOT / "benchmarks" / "results" / "experiments.md"

RESULTS_SQL = """
create schema if not exists analytics;
drop table if exists analytics.mart_experiment_results;
select setseed(0.42);
create table analytics.mart_experiment_results as
with users as (
    select u as user_id, random() < 0.5 as treated, random() as propensity,
           random() as r1, random() as r2, random() as r3, random() as r4, random() as r5
    from generate_series(1, %(users)s) as u
), activity as (
    select *, floor(-ln(1 - r1) * 1.4)::int as cart_sessions,
              floor(-ln(1 - r2) * 1.2)::int as pre_cart_sessions,
              '2025-03-24'::timestamptz + (r3 * 56) * interval '1 day' as first_exposed_at
    from users
), outcomes as (
    select *, case when cart_sessions = 0 then 0
                   else least(cart_sessions, floor(cart_sessions * propensity
                        * case when treated then 1.05 else 1 end + r4)::int) end
                   as purchase_sessions,
              case when pre_cart_sessions = 0 then 0
                   else least(pre_cart_sessions, floor(pre_cart_sessions * propensity + r5)::int) end
                   as pre_purchase_sessions
    from activity
)
select %(experiment_id)s::text as experiment_id, user_id::bigint,
       case when treated then 'treatment' else 'control' end as variant,
       first_exposed_at, first_exposed_at::date as exposure_date,
       least(first_exposed_at + interval '28 days', '2025-05-19'::timestamptz)
           as analysis_window_ended_at,
       (array['Search', 'Organic', 'Facebook', 'Email', 'Display'])[1 + (user_id %% 5)] as traffic_source,
       (array['Chrome', 'Safari', 'Firefox', 'Other'])[1 + (user_id %% 4)] as browser,
       cart_sessions + floor(r5 * 3)::int as sessions, cart_sessions, purchase_sessions,
       (cart_sessions > 0)::int as reached_cart, (purchase_sessions > 0)::int as purchased_after_cart,
       purchase_sessions as orders, (purchase_sessions * (40 + 80 * r4))::float8 as revenue,
       purchase_sessions * 2 as items,
       pre_cart_sessions + floor(r4 * 3)::int as pre_sessions, pre_cart_sessions, pre_purchase_sessions,
       (pre_cart_sessions > 0)::int as pre_reached_cart,
       (pre_purchase_sessions > 0)::int as pre_purchased_after_cart,
       pre_purchase_sessions as pre_orders, (pre_purchase_sessions * (40 + 80 * r5))::float8 as pre_revenue,
       pre_purchase_sessions * 2 as pre_items
from outcomes;
analyze analytics.mart_experiment_results;
"""


def build_results(database_url: str, users: int) -> None:
    with transaction(database_url) as cursor:
        cursor.execute(RESULTS_SQL, {"users": users, "experiment_id": EXPERIMENT_ID})


def ibis_table(database_url: str):
    parts = PostgresParts(database_url)
    connection = ibis.postgres.connect(
        host=parts.host,
        port=parts.port,
        user=parts.user,
        password=parts.password or None,
        database=parts.dbname,
    )
    table = connection.table("mart_experiment_results", database="analytics")
    return table.filter(table.experiment_id == EXPERIMENT_ID)


def best_of(repeat: int, run) -> tuple[float, object]:
    timings, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - began)
    return min(timings), result


def in_database(table) -> dict:
    return {
        cuped: experiment_definition(cuped=cuped).analyze(table, control="control")
        for cuped in (False, True)
    }


def in_pandas(database_url: str) -> dict:
    frame = load_results(database_url, EXPERIMENT_ID)
    return {
        cuped: experiment_definition(cuped=cuped).analyze(frame, control="control")
        for cuped in (False, True)
    }


def largest_difference(left: dict, right: dict) -> float:
    worst = 0.0
    for cuped, results in left.items():
        for name, result in results.items():
            for field, value in result._asdict().items():
                other = getattr(right[cuped][name], field)
                if math.isfinite(value) or math.isfinite(other):
                    worst = max(worst, abs(value - other) / max(1.0, abs(other)))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    endpoints = ensure_services(Settings())
    database_url = create_database(endpoints.database_url, BENCH_DATABASE, replace=True)
    began = time.perf_counter()
    build_results(database_url, args.users)
    build_seconds = time.perf_counter() - began

    connect_seconds, table = best_of(1, lambda: ibis_table(database_url))
    database_seconds, database_results = best_of(args.repeat, lambda: in_database(table))
    pandas_seconds, pandas_results = best_of(args.repeat, lambda: in_pandas(database_url))
    read_seconds, frame = best_of(args.repeat, lambda: load_results(database_url, EXPERIMENT_ID))
    full_seconds, analysis = best_of(1, lambda: analyze_experiment(frame, EXPERIMENT_ID))
    difference = largest_difference(database_results, pandas_results)
    primary = database_results[True][METRICS[0].name]

    rows = [
        ("tea-tasting on an Ibis table (PostgreSQL aggregates)", database_seconds, "2 per reading"),
        ("  plus, once: Ibis connects and reads the table's schema", connect_seconds, "0"),
        ("rows into pandas, then tea-tasting", pandas_seconds, f"{len(frame):,}"),
        ("  of which reading the rows (load_results)", read_seconds, f"{len(frame):,}"),
        ("full analyze_experiment on the DataFrame", full_seconds, f"{len(frame):,}"),
    ]
    reference = database_seconds
    lines = [
        "# Experiment analysis benchmark",
        "",
        f"`python benchmarks/bench_experiments.py --users {args.users} --repeat {args.repeat}` "
        f"on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC (2 cores shared with other jobs; "
        f"best of {args.repeat}). A {args.users:,}-user `mart_experiment_results` built by SQL "
        f"in {build_seconds:.1f} s; {len(METRICS)} metrics, each plain and with CUPED.",
        "",
        "| what | seconds | rows to Python | x in-database |",
        "|---|---:|---:|---:|",
        *(
            f"| {name} | {seconds:.2f} | {moved} | {seconds / reference:.2f} |"
            for name, seconds, moved in rows
        ),
        "",
        f"Same numbers both ways: the largest relative difference over every field of every "
        f"metric is {difference:.1e}. Primary metric (CUPED): {METRICS[0].name} "
        f"{primary.rel_effect_size:+.2%} [{primary.rel_effect_size_ci_lower:+.2%}, "
        f"{primary.rel_effect_size_ci_upper:+.2%}]; SRM p = {analysis.srm.pvalue:.3g}; "
        f"verdict: {analysis.verdict.decision}.",
        "",
        "In the database, PostgreSQL scans the table once per reading and returns count, means, "
        "variances and covariances per variant; nothing per user crosses the wire. In pandas, "
        "every row is sent, parsed into Python objects and aggregated again. The full analysis "
        "needs the rows anyway (segments, daily looks, Beta posteriors), so the CLI reads them "
        "once; the in-database path is the one to take when the table outgrows memory.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if difference > 1e-9:
        raise SystemExit(f"in-database and pandas results differ by {difference:.1e}")
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
