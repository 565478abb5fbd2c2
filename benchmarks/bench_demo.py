"""Benchmark `make demo`: seconds per stage, the total, and peak memory, in one run.

Runs what `make demo` runs (`ecom pipeline` then `ecom report`) as child processes on a fresh
ECOM_HOME and PREFECT_HOME (new embedded PostgreSQL and Redis, an empty data folder, so the
run generates its data like a first demo), then reads each stage's flow-run time from the
Prefect database the run wrote. The natural limit of an orchestrated run is the sum of its
stages' own times: the ratio total / sum of stages is what orchestration, process start-up and
Prefect's temporary server cost. Writes benchmarks/results/demo.md.

    python benchmarks/bench_demo.py                  # 100,000 users, seed 42
    python benchmarks/bench_demo.py --users 20000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "demo.md"
BIN = Path(sys.executable).parent


def run(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, check=True)
    return time.perf_counter() - started


def stage_seconds(prefect_home: Path) -> list[tuple[str, float]]:
    """(flow name, seconds) of every flow run, in start order, from Prefect's own database."""
    with sqlite3.connect(prefect_home / "prefect.db") as connection:
        rows = connection.execute(
            "select flow.name, flow_run.total_run_time from flow_run "
            "join flow on flow.id = flow_run.flow_id order by flow_run.start_time"
        ).fetchall()
    return [(name, _seconds(total)) for name, total in rows]


# The pipeline flow's last lines: one per stage, "<stage> <what it did>" (flows/pipeline.py).
STAGES = ("load", "transform", "quality", "features", "train", "uplift", "score", "targets",
          "drift", "monitor", "experiment")  # fmt: skip


def stage_results(prefect_home: Path) -> list[tuple[str, str]]:
    """(stage, the result line it reported) from the pipeline run's logs in Prefect's database:
    the rows loaded, models and tests, expectations, users scored, AUCs and drift share the
    README quotes, written here by the run that measured the times."""
    with sqlite3.connect(prefect_home / "prefect.db") as connection:
        messages = connection.execute(
            "select log.message from log join flow_run on flow_run.id = log.flow_run_id "
            "join flow on flow.id = flow_run.flow_id "
            "where flow.name = 'churn-pipeline' and log.task_run_id is null "
            "order by log.timestamp"
        ).fetchall()
    results = {}
    for (message,) in messages:
        stage, _, line = message.partition(" ")
        if stage in STAGES:
            results[stage] = line.strip()
    return list(results.items())


def _seconds(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    text = str(value)  # sqlite stores intervals as '1970-01-01 00:00:12.345000'
    clock = dt.datetime.fromisoformat(text)
    return (clock - dt.datetime(1970, 1, 1)).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--campaign",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Plant the retention campaign, as `make demo` does (so the uplift stage runs).",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the run's folder.")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="ecom-bench-demo-"))
    home, prefect_home, data = base / "home", base / "prefect", base / "data"
    data.mkdir()  # empty, as a first demo's data folder: the pipeline generates into it
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ECOM_", "MLFLOW_", "PREFECT_"))
    }
    env |= {
        "ECOM_HOME": str(home),
        "PREFECT_HOME": str(prefect_home),
        "ECOM_REPORTS_DIR": str(base / "reports"),
        "ECOM_MODEL_CARD": str(base / "model_card.md"),
        "ECOM_DOCS_DIR": str(base / "docs"),
    }
    ecom = str(BIN / "ecom")
    try:
        pipeline = run(
            [
                ecom,
                "pipeline",
                "--data",
                str(data),
                "--users",
                str(args.users),
                "--seed",
                str(args.seed),
                *(["--campaign"] if args.campaign else []),
            ],
            env,
        )
        report = run([ecom, "report", "--out", str(base / "reports")], env)
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        stages = stage_seconds(prefect_home)
        results = stage_results(prefect_home)
        subprocess.run([ecom, "services", "down"], cwd=ROOT, env=env, check=False)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    nested = [(name, seconds) for name, seconds in stages if name != "churn-pipeline"]
    stage_total = sum(seconds for _, seconds in nested) + report
    total = pipeline + report
    lines = [
        "# `make demo`, stage by stage",
        "",
        f"`python benchmarks/bench_demo.py --users {args.users} --seed {args.seed}"
        f"{'' if args.campaign else ' --no-campaign'}` on "
        f"{dt.date.today():%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}: a first run (fresh embedded servers, data generated).",
        "",
        "| stage | seconds |",
        "|---|---:|",
        *(f"| {name} | {seconds:.1f} |" for name, seconds in nested),
        f"| report | {report:.1f} |",
        f"| **sum of stages** | **{stage_total:.1f}** |",
        f"| **total, as `make demo` runs it** | **{total:.1f}** |",
        "",
        f"Total / sum of stages: {total / stage_total:.2f}x (Prefect's temporary server, "
        f"process start-up and imports). Peak memory of any child process: {peak_mib:,.0f} MiB.",
        "",
        "## What each stage reported",
        "",
        "| stage | result |",
        "|---|---|",
        *(f"| {stage} | {line.replace('|', '/')} |" for stage, line in results),
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
