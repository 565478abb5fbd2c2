"""The experiment's metrics, declared as data and bound to tea-tasting metric objects.

Each metric reads columns of `analytics.mart_experiment_results` and names its pre-exposure
twin, the CUPED covariate. One declaration gives both readings: the plain test and the
variance-reduced one, so the report can say how much CUPED narrowed the interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import tea_tasting as tt

MetricKind = Literal["proportion", "mean", "ratio"]
MetricRole = Literal["primary", "secondary", "guardrail"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric: what it means, how it is tested, and its pre-exposure covariate."""

    name: str
    role: MetricRole
    kind: MetricKind
    numer: str
    denom: str | None
    description: str

    @property
    def numer_covariate(self) -> str:
        return f"pre_{self.numer}"

    @property
    def denom_covariate(self) -> str | None:
        return f"pre_{self.denom}" if self.denom else None

    @property
    def columns(self) -> tuple[str, ...]:
        names = (self.numer, self.denom, self.numer_covariate, self.denom_covariate)
        return tuple(name for name in names if name)

    def test(self, *, cuped: bool) -> Any:
        """The tea-tasting metric: the plain test, or the CUPED one with the pre-period twin.

        Proportions use the unpooled normal (Wald) test without continuity correction, the
        form statsmodels' `test_proportions_2indep(method="wald")` computes; CUPED turns a
        proportion into a mean of 0/1 with a covariate (tea-tasting's Proportion has none).
        Means use Welch's t-test; ratios the delta method with a normal reference.
        """
        if self.kind == "proportion" and not cuped:
            return tt.Proportion(self.numer, method="norm", correction=False, equal_var=False)
        if self.kind in ("proportion", "mean"):
            covariate = self.numer_covariate if cuped else None
            return tt.Mean(self.numer, covariate, use_t=True, equal_var=False)
        return tt.RatioOfMeans(
            self.numer,
            self.denom,
            self.numer_covariate if cuped else None,
            self.denom_covariate if cuped else None,
            use_t=False,
        )


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "checkout_conversion",
        "primary",
        "ratio",
        "purchased_after_cart",
        "reached_cart",
        "users who purchased after a cart add / users who reached the cart",
    ),
    MetricSpec(
        "cart_to_purchase_rate",
        "secondary",
        "ratio",
        "purchase_sessions",
        "cart_sessions",
        "sessions with a purchase after the cart / sessions that reached the cart",
    ),
    MetricSpec(
        "add_to_cart_rate",
        "secondary",
        "proportion",
        "reached_cart",
        None,
        "users who reached the cart / exposed users",
    ),
    MetricSpec(
        "average_order_value",
        "guardrail",
        "ratio",
        "revenue",
        "orders",
        "revenue / orders (non-cancelled)",
    ),
    MetricSpec(
        "revenue_per_user",
        "guardrail",
        "mean",
        "revenue",
        None,
        "revenue / exposed users",
    ),
)

PRIMARY_METRIC = next(spec for spec in METRICS if spec.role == "primary")
METRICS_BY_NAME = {spec.name: spec for spec in METRICS}
SEGMENT_COLUMNS = ("traffic_source", "browser")


def experiment_definition(*, cuped: bool) -> tt.Experiment:
    """Every metric in one tea-tasting experiment: analysed in one call, on a DataFrame or on
    an Ibis table (then the database computes the per-variant aggregates)."""
    return tt.Experiment({spec.name: spec.test(cuped=cuped) for spec in METRICS}, variant="variant")


def metric_named(name: str) -> MetricSpec:
    """The metric called `name`, or an error listing the known ones."""
    try:
        return METRICS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS_BY_NAME)}") from None
