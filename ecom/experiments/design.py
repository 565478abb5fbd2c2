"""Design: sample size, power and minimum detectable effect from the marts' real baselines.

The power arithmetic is tea-tasting's (a normal-reference test on a mean; a conversion is the
mean of a 0/1 outcome with variance p(1 - p)); this module only picks the baselines:

- checkout conversion and add-to-cart rate from mart_funnel's user-level totals (the data's
  whole history, experiment or not);
- revenue per user from mart_experiment_results' control arm (untreated users over the same
  analysis window a new test would use), so it needs an experiment in the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import tea_tasting as tt
from tea_tasting.aggr import Aggregates

from ecom.experiments.data import FunnelRates

DESIGN_METRICS = ("checkout_conversion", "add_to_cart_rate", "revenue_per_user")
ALPHA = 0.05
POWER = 0.80


@dataclass(frozen=True)
class Baseline:
    """A metric's current level and per-unit variance, and where they were read."""

    metric: str
    kind: str  # proportion or mean
    mean: float
    variance: float
    observations: int
    unit: str
    source: str


@dataclass(frozen=True)
class PowerPlan:
    metric: str
    baseline: float
    relative_mde: float
    alpha: float
    power: float
    units_per_arm: int
    units_total: int
    unit: str


def funnel_baselines(rates: FunnelRates) -> dict[str, Baseline]:
    """The conversion baselines from mart_funnel (user level, all weeks, dimension 'all')."""
    checkout = rates.cart_to_purchase_rate
    add_to_cart = rates.view_to_cart_rate
    source = "analytics.mart_funnel, funnel_level 'user', period_grain 'week', dimension 'all'"
    return {
        "checkout_conversion": Baseline(
            "checkout_conversion",
            "proportion",
            checkout,
            checkout * (1 - checkout),
            rates.carted,
            "users who reached the cart",
            f"{source}: purchased / carted",
        ),
        "add_to_cart_rate": Baseline(
            "add_to_cart_rate",
            "proportion",
            add_to_cart,
            add_to_cart * (1 - add_to_cart),
            rates.viewed,
            "users who viewed a product",
            f"{source}: carted / viewed",
        ),
    }


def revenue_baseline(frame: pd.DataFrame, control: str, experiment_id: str) -> Baseline:
    """Revenue per user of the control arm of `experiment_id` in mart_experiment_results."""
    revenue = frame.loc[frame["variant"] == control, "revenue"].astype(float)
    if len(revenue) < 2:
        raise ValueError(f"experiment {experiment_id!r} has fewer than 2 control users")
    return Baseline(
        "revenue_per_user",
        "mean",
        float(revenue.mean()),
        float(revenue.var(ddof=1)),
        len(revenue),
        "exposed users",
        f"analytics.mart_experiment_results, experiment {experiment_id}, {control} arm",
    )


def _power_metric(**parameters: float) -> tt.Mean:
    return tt.Mean("value", use_t=False, equal_var=True, **parameters)


def _aggregates(baseline: Baseline) -> Aggregates:
    if not baseline.variance > 0:
        raise ValueError(
            f"{baseline.metric}: the baseline ({baseline.mean:.4g} from {baseline.source}) has "
            "no variance, so no sample size can be computed from it"
        )
    return Aggregates(
        count_=baseline.observations,
        mean_={"value": baseline.mean},
        var_={"value": baseline.variance},
    )


def sample_size(
    baseline: Baseline, relative_mde: float, *, alpha: float = ALPHA, power: float = POWER
) -> PowerPlan:
    """Units per arm (50/50) for a two-sided test to detect `relative_mde` with `power`."""
    metric = _power_metric(alpha=alpha, power=power, rel_effect_size=relative_mde)
    (result,) = metric.solve_power_from_aggregates(_aggregates(baseline), "n_obs")
    total = int(result.n_obs)
    per_arm = -(-total // 2)
    return PowerPlan(
        baseline.metric,
        baseline.mean,
        relative_mde,
        alpha,
        power,
        per_arm,
        2 * per_arm,
        baseline.unit,
    )


def minimum_detectable_effect(
    baseline: Baseline, units_total: int, *, alpha: float = ALPHA, power: float = POWER
) -> float:
    """The smallest relative lift detectable with `power` by `units_total` units (50/50)."""
    metric = _power_metric(alpha=alpha, power=power, n_obs=units_total)
    (result,) = metric.solve_power_from_aggregates(_aggregates(baseline), "rel_effect_size")
    return float(result.rel_effect_size)


def achieved_power(
    baseline: Baseline, relative_mde: float, units_total: int, *, alpha: float = ALPHA
) -> float:
    """The power `units_total` units (50/50) have against a `relative_mde` lift."""
    metric = _power_metric(alpha=alpha, rel_effect_size=relative_mde, n_obs=units_total)
    (result,) = metric.solve_power_from_aggregates(_aggregates(baseline), "power")
    return float(result.power)
