"""Benchmark the raw load, `dbt run`, the training set and batch scoring: PostgreSQL vs Spark.

Engines: PostgreSQL (the default path), Spark `local[2]` (driver and executors in one JVM) and
a Spark standalone cluster of a master and two one-core workers on loopback
(ecom/spark/cluster.py). Each size is generated (seeded, fixed end date) and loaded into its own
PostgreSQL database; a champion (XGBoost, one candidate) is trained there once, on the smallest
size, and scores every size on every engine. The training set is Feast's point-in-time
join of the churn labels to the `churn_v1` views: its PostgreSQL offline store on PostgreSQL,
`ecom.spark.features.training_frame_on_spark` (Feast's Spark offline store) on Spark, each
including the registry apply. Each Spark run is its own process (one SparkSession per JVM),
with its warehouse and metastore in a fresh folder. Every Spark JVM (driver, executors, the
cluster's daemons) gets the same flags: `--java-options`, else ECOM_SPARK_JAVA_OPTIONS, else
`SHORT_LIVED_JVM_OPTIONS` as the tests use (each JVM here lives minutes). Reports the seconds
of each stage, Spark's ratio to PostgreSQL, and each engine's growth factor from the smallest
to the largest size; writes benchmarks/results/spark.md.

    python benchmarks/bench_spark.py                      # 20k and 100k users
    python benchmarks/bench_spark.py --users 2000 10000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import publish

from ecom.churn import models as churn_models
from ecom.churn import training
from ecom.churn.scoring import score_users
from ecom.config import Settings
from ecom.db import create_database, drop_database
from ecom.features import store as features
from ecom.ingest.files import has_thelook_csvs
from ecom.ingest.load import load_raw_tables
from ecom.services import Endpoints, ensure_services
from ecom.spark.cluster import standalone_cluster
from ecom.spark.session import SHORT_LIVED_JVM_OPTIONS
from ecom.synth import generate_dataset
from ecom.transform import build_warehouse

STAGES = ("load", "dbt run", "training set", "scoring")
ENGINES = ("postgres", "spark local[2]", "spark cluster (2 workers)")


def _database_name(users: int) -> str:
    return f"spark_bench_{users}"


def data_folder(settings: Settings, users: int, seed: int, end_date: dt.date) -> Path:
    folder = settings.resolved_home / "bench" / f"thelook_{users}_{seed}_{end_date:%Y%m%d}"
    if not has_thelook_csvs(folder):
        generate_dataset(users, seed, folder, end_date, progress=False)
    return folder


def run_postgres(settings: Settings, endpoints: Endpoints, data_dir: Path) -> dict[str, float]:
    """The default engine's stages on one database (timed as `ecom` runs them)."""
    seconds = {}
    started = time.perf_counter()
    load_raw_tables(endpoints.database_url, data_dir, progress=False)
    seconds["load"] = time.perf_counter() - started
    seconds["dbt run"] = build_warehouse(settings, endpoints, command="run").seconds
    started = time.perf_counter()
    features.apply_feature_repo(settings, endpoints)
    rows = len(features.training_frame(settings, endpoints))
    seconds["training set"] = time.perf_counter() - started
    seconds["training rows"] = rows
    seconds["scoring"] = score_users(settings, endpoints).seconds
    return seconds


def train_champion(settings: Settings, endpoints: Endpoints) -> str:
    features.apply_feature_repo(settings, endpoints)
    frame = features.training_frame(settings, endpoints)
    columns = features.feature_service_columns(settings, endpoints)
    result = training.train_on_frame(settings, frame, columns, candidates=(churn_models.XGB_PLAIN,))
    if not result.promoted:
        raise RuntimeError(f"the benchmark's champion was not promoted: {result.decision.reason}")
    return result.model_version


def run_spark_child(arguments: argparse.Namespace) -> None:
    """One Spark run (a child process): load, dbt run, training set, scoring; prints the
    seconds as JSON."""
    from ecom.spark.features import training_frame_on_spark
    from ecom.spark.raw import load_raw_tables_on_spark
    from ecom.spark.scoring import score_users_on_spark
    from ecom.spark.session import spark_session
    from ecom.spark.transform import build_warehouse_on_spark

    home = Path(arguments.child_home)
    settings = Settings().with_overrides(
        home=home,
        engine="spark",
        spark_master=arguments.master,
        spark_dir=home / "spark",
        spark_java_options=arguments.java_options,
        database_url=arguments.database_url,
        mlflow_tracking_uri=arguments.tracking_uri,
    )
    endpoints = Endpoints(arguments.database_url, arguments.redis_url, embedded=False)
    seconds = {}
    started = time.perf_counter()
    spark = spark_session(settings)
    seconds["session"] = time.perf_counter() - started
    started = time.perf_counter()
    load_raw_tables_on_spark(spark, Path(arguments.data_dir))
    seconds["load"] = time.perf_counter() - started
    seconds["dbt run"] = build_warehouse_on_spark(settings, spark, command="run").seconds
    started = time.perf_counter()
    rows = len(training_frame_on_spark(settings, spark))
    seconds["training set"] = time.perf_counter() - started
    seconds["training rows"] = rows
    seconds["scoring"] = score_users_on_spark(settings, endpoints, spark).seconds
    print("BENCH_SECONDS " + json.dumps(seconds), flush=True)


def run_spark(
    master: str,
    data_dir: Path,
    database_url: str,
    redis_url: str,
    tracking_uri: str,
    java_options: str,
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench_spark_") as home:
        output = subprocess.run(
            [
                sys.executable,
                __file__,
                *("--child-home", home, "--master", master, "--data-dir", str(data_dir)),
                *("--database-url", database_url, "--redis-url", redis_url),
                *("--tracking-uri", tracking_uri),
                f"--java-options={java_options}",
            ],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "ECOM_ENGINE": "spark"},
        ).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH_SECONDS "))
    return json.loads(line.removeprefix("BENCH_SECONDS "))


def render(
    results: dict[int, dict[str, dict[str, float]]], command: str, load: str, java_options: str
) -> str:
    sizes = sorted(results)
    lines = [
        "# Spark vs PostgreSQL",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; 1-minute load average {load}  ",
        f"Run at: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "Seconds per stage. `load`: the CSVs into raw tables with the loader's checks; `dbt run`: "
        "every model (no tests); `training set`: Feast's point-in-time training frame (registry "
        "apply included) through the PostgreSQL offline store or the Spark one; `scoring`: the "
        "champion over the scoring mart, written to PostgreSQL. Spark's session start is listed "
        "apart (paid once per process).",
        "",
        f"Spark JVM options (driver, executors, cluster daemons): `{java_options or 'none'}`",
        "",
        "| users | engine | session | " + " | ".join(STAGES) + " | total | vs PostgreSQL |",
        "|---:|---|---:|" + "---:|" * (len(STAGES) + 2),
    ]
    for users in sizes:
        base = sum(results[users]["postgres"][stage] for stage in STAGES)
        for engine in ENGINES:
            seconds = results[users][engine]
            total = sum(seconds[stage] for stage in STAGES)
            cells = " | ".join(f"{seconds[stage]:.1f}" for stage in STAGES)
            session = f"{seconds['session']:.1f}" if "session" in seconds else ""
            lines.append(
                f"| {users:,} | {engine} | {session} | {cells} | {total:.1f} | {total / base:.2f}x |"
            )
    lines += ["", "Training set rows: " + "; ".join(training_rows(results, n) for n in sizes)]
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        lines += [
            "",
            f"## Growth from {small:,} to {large:,} users ({large / small:.0f}x the data)",
            "",
            "| engine | " + " | ".join(STAGES) + " | total |",
            "|---|" + "---:|" * (len(STAGES) + 1),
        ]
        for engine in ENGINES:
            growth = [
                results[large][engine][stage] / results[small][engine][stage] for stage in STAGES
            ]
            total = sum(results[large][engine][s] for s in STAGES) / sum(
                results[small][engine][s] for s in STAGES
            )
            lines.append(
                f"| {engine} | " + " | ".join(f"{g:.2f}x" for g in growth) + f" | {total:.2f}x |"
            )
    return "\n".join(lines) + "\n"


def training_rows(results: dict[int, dict[str, dict[str, float]]], users: int) -> str:
    """The rows each engine's training frame held at `users` (the same number, or it says so)."""
    counts = {int(results[users][engine]["training rows"]) for engine in ENGINES}
    if len(counts) == 1:
        return f"{counts.pop():,} at {users:,} users"
    by_engine = ", ".join(f"{e} {int(results[users][e]['training rows']):,}" for e in ENGINES)
    return f"DIFFERENT at {users:,} users: {by_engine}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=dt.date(2025, 11, 24))
    parser.add_argument("--no-write", action="store_true", help="print only")
    for child_option in (
        "--child-home",
        "--master",
        "--data-dir",
        "--database-url",
        "--redis-url",
        "--tracking-uri",
    ):
        parser.add_argument(child_option, help=argparse.SUPPRESS)
    parser.add_argument(
        "--java-options",
        default=os.environ.get("ECOM_SPARK_JAVA_OPTIONS") or SHORT_LIVED_JVM_OPTIONS,
        help="JVM flags for every Spark JVM (default: ECOM_SPARK_JAVA_OPTIONS, else the tests' "
        "SHORT_LIVED_JVM_OPTIONS)",
    )
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if arguments.child_home:
        run_spark_child(arguments)
        return

    settings = Settings()
    server = ensure_services(settings)
    workdir = Path(tempfile.mkdtemp(prefix="bench_spark_", dir=settings.resolved_home))
    tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    results: dict[int, dict[str, dict[str, float]]] = {}
    champion = None
    try:
        with standalone_cluster(
            workdir / "cluster", workers=2, java_options=arguments.java_options
        ) as cluster:
            for users in sorted(arguments.users):
                data_dir = data_folder(settings, users, arguments.seed, arguments.end_date)
                url = create_database(server.database_url, _database_name(users), replace=True)
                endpoints = Endpoints(url, server.redis_url, embedded=server.embedded)
                sized = settings.with_overrides(database_url=url, mlflow_tracking_uri=tracking_uri)
                if champion is None:
                    load_raw_tables(url, data_dir, progress=False)
                    build_warehouse(sized, endpoints, command="run")
                    champion = train_champion(sized, endpoints)
                    print(f"champion v{champion} trained at {users:,} users", flush=True)
                results[users] = {"postgres": run_postgres(sized, endpoints, data_dir)}
                for engine, master in zip(
                    ENGINES[1:], ("local[2]", cluster.master_url), strict=True
                ):
                    results[users][engine] = run_spark(
                        master,
                        data_dir,
                        url,
                        server.redis_url,
                        tracking_uri,
                        arguments.java_options,
                    )
                print(json.dumps({users: results[users]}), flush=True)
    finally:
        for users in arguments.users:
            drop_database(server.database_url, _database_name(users))
    command = (
        f"python benchmarks/bench_spark.py --users {' '.join(map(str, arguments.users))} "
        f"--seed {arguments.seed} --end-date {arguments.end_date}"
    )
    load = f"{os.getloadavg()[0]:.1f} at the end"
    report = render(results, command, load, arguments.java_options)
    publish(report, "spark.md", write=not arguments.no_write)


if __name__ == "__main__":
    main()
