"""Benchmark `ecom generate` at TheLook scale and check the realism and learnability targets.

    python benchmarks/bench_generate.py --users 100000 --out /tmp/bench-generate [--skip-check]
    python benchmarks/bench_generate.py --users 100000 --profile thelook --end-date 2026-12-06

Prints wall time, peak RSS of this process, rows per table, the realism figures (orders per buyer,
items per order, status mix), the churn learnability report (model vs oracle AUC) and the table of
`ecom.synth.marginals` against TheLook's targets (the shares of orders per year depend on where the
data ends: the targets are for a world ending like the real export, `--end-date 2026-12-01`),
and issue 19's table of TheLook's generator process (`ecom.synth.figures`: every row for
`--profile thelook`, the rows the default profile shares with it otherwise). The thelook profile
has no truth, so no learnability check.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from ecom.synth import generate_dataset
from ecom.synth.calibration import learnability_check
from ecom.synth.figures import DEFAULT_PROFILE_FIGURES, process_figures
from ecom.synth.figures import format_table as format_process_table
from ecom.synth.figures import misses as process_misses
from ecom.synth.marginals import format_table, marginals, misses, read_orders


def realism_figures(data_dir: Path, n_users: int) -> dict[str, object]:
    orders = pd.read_csv(data_dir / "orders.csv", usecols=["user_id", "status", "num_of_item"])
    per_buyer = orders.groupby("user_id").size()
    return {
        "users_with_order_share": round(len(per_buyer) / n_users, 3),
        "orders_per_buyer": round(float(per_buyer.mean()), 3),
        "orders_per_buyer_p99": float(per_buyer.quantile(0.99)),
        "orders_per_buyer_max": int(per_buyer.max()),
        "items_per_order_share": orders["num_of_item"]
        .value_counts(normalize=True)
        .sort_index()
        .round(3)
        .to_dict(),
        "status_share": orders["status"].value_counts(normalize=True).round(3).to_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=dt.date(2025, 11, 24))
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-generate"))
    parser.add_argument("--skip-check", action="store_true", help="only time the generator")
    parser.add_argument("--profile", choices=("default", "thelook"), default="default")
    args = parser.parse_args()

    began = time.perf_counter()
    summary = generate_dataset(
        args.users, args.seed, args.out, args.end_date, progress=True, profile=args.profile
    )
    wall = time.perf_counter() - began
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result: dict[str, object] = {
        "users": args.users,
        "seconds": round(wall, 1),
        "peak_rss_mib": round(peak_mib),
        "rows": summary.rows,
        **realism_figures(args.out, args.users),
    }
    if not args.skip_check and args.profile == "default":
        report = learnability_check(args.out)
        result["learnability"] = {k: v for k, v in asdict(report).items() if k != "cutoffs"}
    measured = marginals(read_orders(args.out))
    result["marginals_missed"] = sorted(misses(measured))
    process = process_figures(args.out)
    rows = None if args.profile == "thelook" else DEFAULT_PROFILE_FIGURES
    result["process_figures_missed"] = sorted(process_misses(process, rows))
    print(json.dumps(result, indent=2, default=str))
    print(format_table(measured))
    print(format_process_table(process))


if __name__ == "__main__":
    main()
