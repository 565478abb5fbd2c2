"""The marginals that make generated data look like TheLook, and the targets they are held to.

Pure functions of the generated tables (`orders` with TheLook's columns; timestamps as the export
writes them or already parsed): how many orders each buyer places, how orders grow over the
years, items per order, the status mix and the ship and delivery lags. `TARGETS` holds the figures
measured on the real export of TheLook's orders (125,957 orders, 80,201 buyers) and the
tolerance each is held to; `tests/unit/test_synth_marginals.py` generates a world and checks
every one, and data/README.md quotes them.

    python -m ecom.synth.marginals data/thelook     # the marginals of a folder, against the targets
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Target:
    value: float
    tolerance: float  # absolute, in the value's unit (shares in percentage points)
    label: str

    def holds(self, measured: float) -> bool:
        return bool(abs(measured - self.value) <= self.tolerance)


# Shares in percent. Orders per buyer, years and growth: the real export. Items, status mix and
# lags: the generator's published mix (TheLook's), which the order-count model must not move.
TARGETS: dict[str, Target] = {
    "buyers_1_order_pct": Target(62.3, 3.0, "buyers with 1 order, %"),
    "buyers_2_orders_pct": Target(24.8, 3.0, "buyers with 2 orders, %"),
    "buyers_3_orders_pct": Target(6.4, 3.0, "buyers with 3 orders, %"),
    "buyers_4plus_orders_pct": Target(6.5, 3.0, "buyers with 4+ orders, %"),
    "max_orders_per_buyer": Target(4.0, 0.0, "most orders of one buyer"),
    "orders_2020_pct": Target(100 * 3_674 / 125_957, 3.0, "orders in 2020, % of all"),
    "orders_2022_pct": Target(100 * 10_425 / 125_957, 3.0, "orders in 2022, % of all"),
    "orders_2024_pct": Target(100 * 21_651 / 125_957, 3.0, "orders in 2024, % of all"),
    "growth_2020_2024": Target(21_651 / 3_674, 0.2 * 21_651 / 3_674, "orders 2024 / 2020"),
    "items_1_pct": Target(70.0, 1.0, "orders with 1 item, %"),
    "items_2_pct": Target(20.0, 1.0, "orders with 2 items, %"),
    "items_3plus_pct": Target(10.0, 1.0, "orders with 3+ items, %"),
    "status_shipped_pct": Target(30.0, 1.0, "status Shipped, %"),
    "status_complete_pct": Target(25.0, 1.0, "status Complete, %"),
    "status_processing_pct": Target(20.0, 1.0, "status Processing, %"),
    "status_cancelled_pct": Target(15.0, 1.0, "status Cancelled, %"),
    "status_returned_pct": Target(10.0, 1.0, "status Returned, %"),
    "ship_lag_mean_days": Target(1.525, 0.1, "created -> shipped, mean days"),
    "delivery_lag_mean_days": Target(2.5, 0.1, "shipped -> delivered, mean days"),
}


def _timestamps(values: pd.Series) -> pd.Series:
    """Export timestamps ('2025-09-12 01:11:58.000000 UTC', empty for NULL) or datetimes, naive UTC."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize(None) if values.dt.tz is not None else values
    text = values.fillna("").astype(str).str.slice(0, 19)
    return pd.to_datetime(text.where(text != ""), format="%Y-%m-%d %H:%M:%S")


def marginals(
    orders: pd.DataFrame, years: tuple[int, ...] = (2020, 2022, 2024)
) -> dict[str, float]:
    """Every figure of `TARGETS`, from an orders table (user_id, status, created_at, shipped_at,
    delivered_at, num_of_item)."""
    created = _timestamps(orders["created_at"])
    per_buyer = orders.groupby("user_id").size()
    n_orders = len(orders)
    result: dict[str, float] = {}
    for count in (1, 2, 3):
        suffix = "order" if count == 1 else "orders"
        result[f"buyers_{count}_{suffix}_pct"] = 100 * float((per_buyer == count).mean())
    result["buyers_4plus_orders_pct"] = 100 * float((per_buyer >= 4).mean())
    result["max_orders_per_buyer"] = float(per_buyer.max())
    by_year = created.dt.year.value_counts()
    for year in years:
        result[f"orders_{year}_pct"] = 100 * float(by_year.get(year, 0)) / n_orders
    first, last = min(years), max(years)
    result[f"growth_{first}_{last}"] = float(by_year.get(last, 0)) / max(
        float(by_year.get(first, 0)), 1.0
    )
    items = orders["num_of_item"].astype(int)
    result["items_1_pct"] = 100 * float((items == 1).mean())
    result["items_2_pct"] = 100 * float((items == 2).mean())
    result["items_3plus_pct"] = 100 * float((items >= 3).mean())
    status = orders["status"].value_counts(normalize=True)
    for name in ("Shipped", "Complete", "Processing", "Cancelled", "Returned"):
        result[f"status_{name.lower()}_pct"] = 100 * float(status.get(name, 0.0))
    shipped = _timestamps(orders["shipped_at"])
    delivered = _timestamps(orders["delivered_at"])
    day = np.timedelta64(1, "D")
    result["ship_lag_mean_days"] = float(((shipped - created) / day).mean())
    result["delivery_lag_mean_days"] = float(((delivered - shipped) / day).mean())
    return result


def misses(measured: dict[str, float]) -> dict[str, tuple[float, Target]]:
    """The figures outside their target's tolerance."""
    return {
        name: (measured[name], target)
        for name, target in TARGETS.items()
        if not target.holds(measured[name])
    }


def read_orders(data_dir: Path) -> pd.DataFrame:
    columns = ["user_id", "status", "created_at", "shipped_at", "delivered_at", "num_of_item"]
    return pd.read_csv(Path(data_dir) / "orders.csv", usecols=columns, engine="pyarrow")


def format_table(
    measured: dict[str, float],
    targets: dict[str, Target] | None = None,
    reference: str = "TheLook target",
) -> str:
    """A markdown table of measured figures against their targets (these marginals' by
    default), misses marked."""
    lines = [f"| figure | generated | {reference} |", "|---|---:|---:|"]
    for name, target in (targets if targets is not None else TARGETS).items():
        value = measured[name]
        mark = "" if target.holds(value) else " (miss)"
        lines.append(
            f"| {target.label} | {value:.2f}{mark} | {target.value:.2f} +- {target.tolerance:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Marginals of a generated folder vs TheLook.")
    parser.add_argument("data_dir", type=Path)
    args = parser.parse_args(argv)
    measured = marginals(read_orders(args.data_dir))
    print(format_table(measured))
    return 1 if misses(measured) else 0


if __name__ == "__main__":
    raise SystemExit(main())
