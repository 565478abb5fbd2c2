"""Benchmark the uplift stage at TheLook scale against the issue's targets.

    python benchmarks/bench_uplift.py [--users 100000] [--seed 42] [--no-write]

Generates `--users` users with the planted retention campaign into a temporary folder, loads
them into a database of its own (`ecom_bench_uplift`, recreated each run), builds the campaign
and feature marts, applies the Feast repo and runs `train_uplift` with the truth (own MLflow
store, nothing registered), timing each step. Reports the test Qini against the oracle's (target:
at least 70%), the uplift policy's incremental conversions over the churn-risk policy's at a 20%
budget on the planted truth with its bootstrap interval (target: at least 1.5x, interval above
1), the policy table, and the training time (target: under 60 s). Results go to stdout and
benchmarks/results/uplift.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results_file import publish  # noqa: E402
from ecom.config import PostgresParts, Settings  # noqa: E402
from ecom.db import create_database  # noqa: E402
from ecom.features.store import apply_feature_repo  # noqa: E402
from ecom.ingest.load import load_raw_tables  # noqa: E402
from ecom.services import Endpoints, ensure_services  # noqa: E402
from ecom.synth import generate_dataset  # noqa: E402
from ecom.synth.campaign import CampaignPlan  # noqa: E402
from ecom.targeting.training import train_uplift  # noqa: E402
from ecom.transform import build_warehouse  # noqa: E402

BENCH_DATABASE = "ecom_bench_uplift"
DECISION_USERS = 200  # scoring rows the per-decision cost is timed over, one at a time
MODELS = (
    "+mart_campaign_outcomes,resource_type:model "
    "+mart_churn_features,resource_type:model +mart_churn_scoring,resource_type:model"
)


def decision_costs(model, database_url: str, repeat: int) -> list[tuple[str, float, float]]:
    """In-process cost of one `/predict` contact decision (one user, the columns as the online
    read gives them), through econml on a one-row frame (as the service did) and through the
    proved booster fast path (as it does now): (case, p50 ms, p99 ms)."""
    import numpy as np
    import pandas as pd

    from ecom.churn.predict import Economics
    from ecom.churn.scoring import read_scoring_features
    from ecom.targeting.fast_effect import BOOSTERS, FastEffect
    from ecom.targeting.targets import contact_decisions

    features = read_scoring_features(database_url).sample(DECISION_USERS, random_state=0)
    names = [*model.encoding.numeric, *model.encoding.categorical]
    rows = [{name: [features[name].iloc[i]] for name in names} for i in range(len(features))]
    fast = FastEffect(model, features.head(100))
    if fast.engine != BOOSTERS:
        raise SystemExit(f"the fast path was refused: {fast.failures}")
    churn, economics = np.array([0.5]), Economics()
    cases = {
        f"econml effect on a one-row DataFrame ({model.learner_name})": lambda row: (
            contact_decisions(pd.DataFrame(row), churn, economics, model, intervals=False)
        ),
        f"booster fast path on the row's lists ({model.learner_name})": lambda row: (
            contact_decisions(row, churn, economics, fast, intervals=False)
        ),
    }
    results = []
    for name, decide in cases.items():
        samples = []
        for turn in range(repeat):
            row = rows[turn % len(rows)]
            started = time.perf_counter()
            decide(row)
            samples.append((time.perf_counter() - started) * 1000)
        samples.sort()
        p50, p99 = samples[len(samples) // 2], samples[round(0.99 * (len(samples) - 1))]
        print(f"{name:<60} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms")
        results.append((name, p50, p99))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--database", default=BENCH_DATABASE, help="database to (re)create")
    parser.add_argument(
        "--register",
        action="store_true",
        help="log and gate in the run's own MLflow store, as the pipeline does",
    )
    parser.add_argument("--profile", type=Path, help="write train_uplift's cProfile stats here")
    parser.add_argument(
        "--decisions", type=int, default=1000, help="one-user contact decisions timed per path"
    )
    args = parser.parse_args()

    settings = Settings()
    endpoints = ensure_services(settings)
    url = create_database(endpoints.database_url, args.database, replace=True)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        bench = settings.with_overrides(
            database_url=url, mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"
        )
        bench_endpoints = Endpoints(url, endpoints.redis_url, embedded=endpoints.embedded)
        data_dir = tmp_path / "data"
        end = dt.date(2026, 1, 5)

        def timed(name: str, step):
            started = time.perf_counter()
            value = step()
            timings[name] = time.perf_counter() - started
            return value

        timed(
            "generate",
            lambda: generate_dataset(
                args.users, args.seed, data_dir, end, progress=False, campaign=CampaignPlan()
            ),
        )
        timed("load", lambda: load_raw_tables(url, data_dir, progress=False))
        summary = timed("dbt build", lambda: build_warehouse(bench, bench_endpoints, select=MODELS))
        if not summary.success:
            raise SystemExit(f"dbt failed: {summary.failed_nodes}")
        timed("feast apply", lambda: apply_feature_repo(bench, bench_endpoints))

        def train():
            return train_uplift(bench, bench_endpoints, truth_dir=data_dir, register=args.register)

        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            result = timed("train_uplift", lambda: profiler.runcall(train))
            profiler.dump_stats(args.profile)
        else:
            result = timed("train_uplift", train)
        decisions = decision_costs(result.model, url, args.decisions)
    m = result.metrics
    ratio = m["test_qini"] / m["test_qini_oracle"]
    lines = [
        f"# Uplift stage at {args.users:,} users (seed {args.seed})",
        "",
        f"Command: `python benchmarks/bench_uplift.py --users {args.users} --seed {args.seed}"
        f"{' --register' if args.register else ''}` "
        f"on database `{PostgresParts(url).dbname}`.",
        "",
        f"- campaign rows: {result.rows} (train / validation / test split by user)",
        f"- chosen learner: {result.chosen} (validation Qini {result.validation_qini})",
        f"- test Qini {m['test_qini']:.4f} [{m['test_qini_low']:.4f}, {m['test_qini_high']:.4f}]"
        f", oracle {m['test_qini_oracle']:.4f}: ratio {ratio:.2f} (target >= 0.70)",
        f"- on the planted truth, Qini {m['test_qini_truth']:.4f} vs oracle "
        f"{m['test_qini_truth_oracle']:.4f}: ratio {m['test_qini_truth'] / m['test_qini_truth_oracle']:.2f}",
        f"- uplift / churn-risk incremental conversions at 20%, truth: "
        f"{m['uplift_to_risk_at_20_truth']:.2f} [{m['uplift_to_risk_at_20_truth_low']:.2f}, "
        f"{m['uplift_to_risk_at_20_truth_high']:.2f}] (target >= 1.5, interval above 1)",
        f"- same by IPW: {m['uplift_to_risk_at_20_ipw']:.2f} [{m['uplift_to_risk_at_20_ipw_low']:.2f}, "
        f"{m['uplift_to_risk_at_20_ipw_high']:.2f}]",
        f"- risk ranking from: {result.params['risk_source']}",
        "",
        "| step | seconds |",
        "|---|---:|",
        *(f"| {name} | {seconds:.1f} |" for name, seconds in timings.items()),
        "",
        "Inside train_uplift:",
        "",
        "| step | seconds |",
        "|---|---:|",
        *(f"| {name} | {seconds:.1f} |" for name, seconds in result.step_seconds.items()),
        "",
        "One `/predict` contact decision in-process (`contact_decisions` on one user's online "
        f"columns, {args.decisions} calls over {DECISION_USERS} scoring users):",
        "",
        "| path | p50 ms | p99 ms |",
        "|---|---:|---:|",
        *(f"| {name} | {p50:.3f} | {p99:.3f} |" for name, p50, p99 in decisions),
        "",
        "Policies on the held-out campaign users:",
        "",
        result.policies.round(2).to_markdown(index=False),
        "",
    ]
    publish("\n".join(lines), "uplift.md", write=not args.no_write)


if __name__ == "__main__":
    main()
