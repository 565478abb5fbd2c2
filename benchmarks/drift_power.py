"""The drift alarm in both directions, on worlds of any size: what `ecom drift` would say.

    python benchmarks/drift_power.py --users 20000 --drift-weeks 8 [--seed 5]
        [--end-date 2025-06-02] [--profile default|thelook] [--campaign] [--database NAME]

Generates a world (planted drift in its last `--drift-weeks` weeks, or none), loads it into a
database of its own (`--database`, default `ecom_drift_power`, recreated each run), builds the churn marts with dbt,
and compares the scoring snapshot with the rows of the latest cutoffs a champion would be
tested on (the cutoff split the training stage plans) through `check_snapshot`, the function
`ecom drift` calls, with the threshold calibrated on the world's own history. Prints the
verdict line and each feature's distance and p-value. The figures in `ecom/config.py`'s drift
comment and in `tests/integration/test_drift_generated.py` come from this command.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ecom.churn.split import apply_cutoff_split, plan_cutoff_split  # noqa: E402
from ecom.config import Settings  # noqa: E402
from ecom.db import create_database, read_query_frame  # noqa: E402
from ecom.features.contract import FEATURE_NAMES  # noqa: E402
from ecom.ingest.load import load_raw_tables  # noqa: E402
from ecom.monitoring.drift import check_snapshot  # noqa: E402
from ecom.services import Endpoints, ensure_services  # noqa: E402
from ecom.synth import generate_dataset  # noqa: E402
from ecom.synth.campaign import CampaignPlan  # noqa: E402
from ecom.synth.drift import DriftPlan  # noqa: E402
from ecom.transform import build_warehouse  # noqa: E402

DATABASE = "ecom_drift_power"
MODELS_ONLY = (
    "+mart_churn_labels,resource_type:model +mart_churn_scoring,resource_type:model "
    "+mart_churn_seasonal_features,resource_type:model"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--drift-weeks", type=int, default=0, help="0: no planted drift")
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=dt.date(2025, 6, 2))
    parser.add_argument("--profile", choices=["default", "thelook"], default="default")
    parser.add_argument(
        "--database", default=DATABASE, help="the database to (re)create for the world"
    )
    parser.add_argument("--campaign", action="store_true", help="plant the retention campaign")
    args = parser.parse_args()

    settings = Settings().with_overrides(drift_share_threshold=None)
    endpoints = ensure_services(settings)
    url = create_database(endpoints.database_url, args.database, replace=True)
    world = settings.with_overrides(database_url=url)
    world_endpoints = Endpoints(url, endpoints.redis_url, embedded=endpoints.embedded)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        drift = DriftPlan(weeks=args.drift_weeks) if args.drift_weeks else None
        generate_dataset(
            args.users, args.seed, data_dir, args.end_date, drift=drift, profile=args.profile,
            campaign=CampaignPlan() if args.campaign else None,
        )  # fmt: skip
        load_raw_tables(url, data_dir, progress=False)
    built = build_warehouse(world, world_endpoints, select=MODELS_ONLY)
    if not built.success:
        raise SystemExit(f"dbt failed: {built.failed_nodes}")
    history = read_query_frame(
        url,
        "select f.* from analytics.mart_churn_features f "
        "join analytics.mart_churn_labels l using (user_id, cutoff_date)",
    )
    scoring = read_query_frame(url, "select * from analytics.mart_churn_scoring")
    split = plan_cutoff_split(history["feature_timestamp"], embargo=timedelta(days=30))
    latest = apply_cutoff_split(history, split, "feature_timestamp")["test"]
    latest = latest.assign(event_timestamp=latest["feature_timestamp"])
    features = list(FEATURE_NAMES)
    summary = check_snapshot(world, url, latest, scoring, features)
    print(
        f"{args.profile} world, {args.users:,} users, seed {args.seed}, last day "
        f"{args.end_date}, planted drift weeks {args.drift_weeks}"
        + (", planted campaign" if args.campaign else "")
    )
    print(summary.summary_line())
    for column in summary.features:
        print(
            f"  {column.column:<26} {column.method:<14} {column.score:7.3f} "
            f"(its threshold {column.threshold:.3f})  p {column.p_value:.1e}  "
            f"{'DRIFTED' if column.drifted else ''}"
        )


if __name__ == "__main__":
    main()
