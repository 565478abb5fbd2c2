"""Reading the experiment marts (and the funnel mart's baselines) from PostgreSQL.

A warehouse without assignments has empty experiment marts; every reader here returns an empty
answer or raises `NoExperimentError`, never a database error, so callers can say "no
experiment" instead of failing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from ecom.db import fetch_all, table_exists, transaction

SCHEMA = "analytics"
EXPOSURES = "mart_experiment_exposures"
RESULTS = "mart_experiment_results"
FUNNEL = "mart_funnel"


class NoExperimentError(LookupError):
    """The warehouse holds no experiment (or not the one asked for)."""


@dataclass(frozen=True)
class ExperimentSummary:
    experiment_id: str
    users: int
    variants: dict[str, int]
    started_at: dt.datetime
    ended_at: dt.datetime


def list_experiments(database_url: str) -> list[ExperimentSummary]:
    """Every experiment in mart_experiment_exposures, newest first; [] when there is none."""
    if not table_exists(database_url, SCHEMA, EXPOSURES):
        return []
    rows = fetch_all(
        database_url,
        f"""select experiment_id, variant, count(*), min(experiment_started_at),
                   max(experiment_ended_at)
            from {SCHEMA}.{EXPOSURES}
            group by experiment_id, variant
            order by experiment_id, variant""",
    )
    summaries: dict[str, ExperimentSummary] = {}
    for experiment_id, variant, users, started_at, ended_at in rows:
        known = summaries.get(experiment_id)
        variants = {**(known.variants if known else {}), variant: int(users)}
        summaries[experiment_id] = ExperimentSummary(
            experiment_id=experiment_id,
            users=sum(variants.values()),
            variants=variants,
            started_at=started_at,
            ended_at=ended_at,
        )
    return sorted(summaries.values(), key=lambda summary: summary.started_at, reverse=True)


def resolve_experiment_id(database_url: str, experiment_id: str | None) -> str:
    """`experiment_id` if the marts hold it, else the newest experiment when none was named."""
    experiments = list_experiments(database_url)
    if not experiments:
        raise NoExperimentError(
            "no experiment: analytics.mart_experiment_exposures is empty "
            "(raw.experiment_assignments has no rows)"
        )
    if experiment_id is None:
        return experiments[0].experiment_id
    known = [summary.experiment_id for summary in experiments]
    if experiment_id not in known:
        raise NoExperimentError(
            f"no experiment {experiment_id!r} in analytics.{EXPOSURES}; known: {', '.join(known)}"
        )
    return experiment_id


def load_results(database_url: str, experiment_id: str) -> pd.DataFrame:
    """The per-user rows of one experiment from mart_experiment_results."""
    with transaction(database_url) as cursor:
        cursor.execute(
            f"select * from {SCHEMA}.{RESULTS} where experiment_id = %s order by user_id",
            (experiment_id,),
        )
        columns = [column.name for column in cursor.description]
        frame = pd.DataFrame(cursor.fetchall(), columns=columns)
    if frame.empty:
        raise NoExperimentError(f"no rows for experiment {experiment_id!r} in analytics.{RESULTS}")
    for column in ("revenue", "pre_revenue"):
        frame[column] = frame[column].astype(float)
    return frame


@dataclass(frozen=True)
class FunnelRates:
    """User-level funnel totals over the whole data (mart_funnel, weekly, dimension 'all')."""

    viewed: int
    carted: int
    purchased: int
    weeks: int

    @property
    def cart_to_purchase_rate(self) -> float:
        return self.purchased / self.carted

    @property
    def view_to_cart_rate(self) -> float:
        return self.carted / self.viewed


def funnel_rates(database_url: str) -> FunnelRates:
    """The user-level funnel's totals, the design's baseline for the conversion metrics."""
    if not table_exists(database_url, SCHEMA, FUNNEL):
        raise LookupError(f"analytics.{FUNNEL} does not exist: run `ecom transform` first")
    ((viewed, carted, purchased, weeks),) = fetch_all(
        database_url,
        f"""select coalesce(sum(viewed), 0), coalesce(sum(carted), 0),
                   coalesce(sum(purchased), 0), count(*)
            from {SCHEMA}.{FUNNEL}
            where funnel_level = 'user' and period_grain = 'week' and dimension = 'all'""",
    )
    if not carted:
        raise LookupError(f"analytics.{FUNNEL} has no user-level cart adds to take a baseline from")
    return FunnelRates(int(viewed), int(carted), int(purchased), int(weeks))
