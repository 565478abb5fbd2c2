"""The one retention list, `analytics.retention_targets`: whom to contact, and where to stop.

Each user in today's scoring snapshot gets the champion uplift model's estimated effect of a
contact on ordering in the horizon (with the bag's interval). Their incremental value is
effect x customer value - contact cost. The list keeps users with a positive effect, ranks by
that value, and stops at the first contact that loses money, at `max_contacts`, or when the
contacts' cost would pass `budget`. Users a contact would hurt are never on it.

Without an uplift champion (no campaign data, as in real TheLook) the list falls back to the
churn-risk expected value p(churn) x LTV x win-back - cost, and every row says so in
`list_basis` and `reason`: a risk list is not evidence that a contact changes anything.

`ecom score`, `ecom uplift targets`, the pipeline and both flows write the list through
`build_retention_targets`; churn probabilities come from `analytics.churn_scores` of the same
snapshot date, so the list and the scores it cites can never disagree. Ties (a tree ensemble
gives whole blocks of users one value) go to the more recent buyer, then the lower user_id,
so a re-run picks the same users.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from ecom.churn.predict import Economics
from ecom.config import Settings
from ecom.db import copy_frame, transaction
from ecom.services import Endpoints

log = logging.getLogger(__name__)

TARGETS_TABLE = "analytics.retention_targets"
# The risk-only table `ecom score` wrote before this list existed is kept under this name.
LEGACY_TABLE = "retention_targets_risk_only"
UPLIFT_BASIS = "uplift"
FALLBACK_BASIS = "churn_risk_fallback"
TARGETS_DDL = f"""
create table if not exists {TARGETS_TABLE} (
    scoring_date date not null,
    target_rank integer not null,
    user_id bigint not null,
    list_basis text not null,
    estimated_effect double precision,
    effect_low double precision,
    effect_high double precision,
    churn_probability double precision,
    expected_incremental_value double precision not null,
    cumulative_value double precision not null,
    reason text not null,
    risk_percentile double precision,
    population_band text,
    recency_days double precision,
    churn_model_version text,
    uplift_model_version text,
    scored_at timestamptz,
    built_at timestamptz not null,
    primary key (scoring_date, user_id)
)
"""
COLUMNS = (
    "scoring_date",
    "target_rank",
    "user_id",
    "list_basis",
    "estimated_effect",
    "effect_low",
    "effect_high",
    "churn_probability",
    "expected_incremental_value",
    "cumulative_value",
    "reason",
    "risk_percentile",
    "population_band",
    "recency_days",
    "churn_model_version",
    "uplift_model_version",
    "scored_at",
    "built_at",
)
FALLBACK_LABEL = "FALLBACK: churn risk x value, not causal"
TOP_ROWS_SHOWN = 10


@dataclass(frozen=True)
class TargetsSummary:
    scoring_date: date
    list_basis: str
    targets: int
    scored_users: int
    expected_value: float
    excluded_harmed: int
    stopped_by: str
    fallback_reason: str | None = None  # why there is no uplift list, when there is none
    # (rank, user_id, estimated effect or NaN, churn probability or NaN, incremental value)
    top: list[tuple[int, int, float, float, float]] = field(default_factory=list)

    def basis_text(self) -> str:
        if self.list_basis == UPLIFT_BASIS:
            return "by estimated incremental value (uplift)"
        return f"{FALLBACK_LABEL} ({self.fallback_reason})"

    def summary_line(self) -> str:
        return (
            f"{self.targets:,} of {self.scored_users:,} users to contact on {self.scoring_date} "
            f"{self.basis_text()}; expected incremental value ${self.expected_value:,.0f}; "
            f"{self.excluded_harmed:,} excluded as harmed by a contact; stopped by {self.stopped_by}"
        )

    def as_rich_table(self):
        from rich.table import Table

        table = Table(
            title=f"{TARGETS_TABLE} on {self.scoring_date}: {self.targets:,} users "
            f"{self.basis_text()}",
            caption=f"expected incremental value ${self.expected_value:,.0f}; stopped by "
            f"{self.stopped_by}",
        )
        for column in ("rank", "user_id", "effect", "churn probability", "incremental value"):
            table.add_column(column, justify="right")
        for rank, user_id, effect, probability, value in self.top:
            table.add_row(
                str(rank),
                str(user_id),
                "-" if np.isnan(effect) else f"{effect:+.3f}",
                "-" if np.isnan(probability) else f"{probability:.3f}",
                f"{value:,.2f}",
            )
        return table


# --------------------------------------------------------------------------- pure logic


@dataclass(frozen=True)
class ContactDecisions:
    """Per user (arrays in input order): the basis, effect and interval (NaN in the fallback),
    the incremental value and whether the contact pays. Plain arrays: the service builds one
    per request and a frame would cost more than the decision."""

    list_basis: str
    estimated_effect: np.ndarray
    effect_low: np.ndarray
    effect_high: np.ndarray
    expected_incremental_value: np.ndarray
    contact_recommended: np.ndarray

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "estimated_effect": self.estimated_effect,
                "effect_low": self.effect_low,
                "effect_high": self.effect_high,
                "expected_incremental_value": self.expected_incremental_value,
            }
        )


def contact_decisions(
    features: pd.DataFrame | Mapping[str, Sequence] | None,
    churn_probability: np.ndarray,
    economics: Economics,
    model=None,
    *,
    intervals: bool = True,
) -> ContactDecisions:
    """Per user, the decision both the list and `/predict` give, from one function: with an
    uplift `model`, its effect of a contact on `features` (and the bag's 80% interval) and the
    incremental value effect x LTV - cost; without one, the churn-risk fallback
    p x LTV x win-back - cost, labelled. `contact_recommended` is whether that marginal contact
    pays (value > 0, and for uplift a positive effect); the list then ranks and cuts by budget.
    `intervals=False` skips the bag (five learners instead of one): the service answers with
    the point effect only. `model` is an `UpliftModel` (the list: econml itself) or a
    `targeting.fast_effect.FastEffect` (the service: its boosters, proved equal at load), and
    `features` a frame or the online read's columns of plain lists."""
    churn = np.asarray(churn_probability, dtype=float)
    if model is None:
        value = churn * economics.customer_ltv * economics.win_back_rate - economics.contact_cost
        nothing = np.full(len(churn), np.nan)
        return ContactDecisions(FALLBACK_BASIS, nothing, nothing, nothing, value, value > 0)
    effect = model.effect(features)
    low = high = np.full(len(effect), np.nan)
    if intervals:
        low, high = model.effect_interval(features)
    value = effect * economics.customer_ltv - economics.contact_cost
    return ContactDecisions(UPLIFT_BASIS, effect, low, high, value, (effect > 0) & (value > 0))


def _best_first(
    valued: pd.DataFrame, economics: Economics, budget: float | None, max_contacts: int | None
) -> tuple[pd.DataFrame, str]:
    """Rows by expected_incremental_value (ties: the more recent buyer, unknown recency last,
    then the lower user_id), cut at the first contact that loses money, at `max_contacts` or
    where the contacts' cost passes `budget`; and what stopped the list."""
    if budget is not None and budget < 0:
        raise ValueError(f"--budget must be >= 0, got {budget}")
    if max_contacts is not None and max_contacts < 0:
        raise ValueError(f"--max-contacts must be >= 0, got {max_contacts}")
    missing = [name for name in ("user_id", "recency_days") if name not in valued]
    if missing:
        raise ValueError(f"the retention list needs column(s) {', '.join(missing)}")
    ranked = valued.sort_values(
        ["expected_incremental_value", "recency_days", "user_id"],
        ascending=[False, True, True],
        na_position="last",
        kind="mergesort",
    )
    count = int((ranked["expected_incremental_value"] > 0).sum())
    stopped_by = "the first contact that loses money"
    if max_contacts is not None and max_contacts < count:
        count, stopped_by = max_contacts, f"--max-contacts {max_contacts}"
    if budget is not None and economics.contact_cost > 0:
        affordable = int(budget // economics.contact_cost)
        if affordable < count:
            count, stopped_by = affordable, f"--budget ${budget:,.0f}"
    return ranked.head(count).reset_index(drop=True), stopped_by


def rank_by_incremental_value(
    users: pd.DataFrame,
    economics: Economics,
    *,
    budget: float | None = None,
    max_contacts: int | None = None,
) -> tuple[pd.DataFrame, str]:
    """Rank users (user_id, recency_days, churn_probability and `contact_decisions`' uplift
    columns) by effect x LTV - cost; drop non-positive effects; stop at a loss, the budget or
    the cap."""
    helped = users[users["estimated_effect"] > 0].copy()
    targets, stopped_by = _best_first(helped, economics, budget, max_contacts)
    targets["reason"] = [
        f"a contact adds {effect:.0%} to the chance of ordering in the horizon (80% interval "
        f"{low:.0%} to {high:.0%}): ${value:,.2f} after the ${economics.contact_cost:,.0f} contact"
        for effect, low, high, value in targets[
            ["estimated_effect", "effect_low", "effect_high", "expected_incremental_value"]
        ].itertuples(index=False)
    ]
    targets["list_basis"] = UPLIFT_BASIS
    return _finish(targets), stopped_by


def rank_by_churn_risk(
    users: pd.DataFrame,
    economics: Economics,
    *,
    why: str = "no campaign data",
    budget: float | None = None,
    max_contacts: int | None = None,
) -> tuple[pd.DataFrame, str]:
    """The fallback without an uplift model: p(churn) x LTV x win-back - cost (users with
    `contact_decisions`' fallback columns), labelled on every row with `why` there is no uplift
    model."""
    targets, stopped_by = _best_first(users, economics, budget, max_contacts)
    targets["reason"] = [
        f"{FALLBACK_LABEL} ({why}): churn probability {p:.2f} x "
        f"${economics.customer_ltv:,.0f} x {economics.win_back_rate:.0%} win-back assumed for everyone"
        for p in targets["churn_probability"]
    ]
    targets["list_basis"] = FALLBACK_BASIS
    return _finish(targets), stopped_by


def _finish(targets: pd.DataFrame) -> pd.DataFrame:
    targets.insert(0, "target_rank", np.arange(1, len(targets) + 1))
    targets["cumulative_value"] = targets["expected_incremental_value"].cumsum()
    return targets


# --------------------------------------------------------------------------- I/O


def _set_aside_legacy_table(cursor) -> None:
    """The risk-only table of earlier versions (no `list_basis`) is renamed, not overwritten:
    its dates cannot be rebuilt, and its columns are not this list's."""
    cursor.execute(
        "select 1 from information_schema.tables where table_schema = 'analytics' "
        "and table_name = 'retention_targets'"
    )
    if cursor.fetchone() is None:
        return
    cursor.execute(
        "select 1 from information_schema.columns where table_schema = 'analytics' "
        "and table_name = 'retention_targets' and column_name = 'list_basis'"
    )
    if cursor.fetchone() is not None:
        return
    cursor.execute(
        "select 1 from information_schema.tables where table_schema = 'analytics' "
        "and table_name = %s",
        (LEGACY_TABLE,),
    )
    if cursor.fetchone() is None:
        log.warning(
            "kept the risk-only retention list of an earlier version as analytics.%s", LEGACY_TABLE
        )
        cursor.execute(f"alter table {TARGETS_TABLE} rename to {LEGACY_TABLE}")
    else:
        cursor.execute(f"drop table {TARGETS_TABLE}")


def write_targets(database_url: str, scoring_date: date, targets: pd.DataFrame) -> None:
    """Replace one scoring date's list atomically (other dates stay). The advisory lock makes
    two runs for one date queue up rather than collide on the key."""
    frame = targets.assign(scoring_date=scoring_date)[list(COLUMNS)]
    with transaction(database_url) as cursor:
        cursor.execute(
            "select pg_advisory_xact_lock(hashtext('retention_targets'), %s)",
            (scoring_date.toordinal(),),
        )
        cursor.execute("create schema if not exists analytics")
        _set_aside_legacy_table(cursor)
        cursor.execute(TARGETS_DDL)
        cursor.execute(f"delete from {TARGETS_TABLE} where scoring_date = %s", (scoring_date,))
        copy_frame(cursor, TARGETS_TABLE, frame)


def _uplift_champion(settings: Settings, database_url: str):
    """(model, version, None), or (None, None, why there is no uplift list)."""
    from ecom.targeting.data import OUTCOMES_TABLE, campaign_users
    from ecom.targeting.registry import load_uplift_champion

    if campaign_users(database_url) == 0:
        return None, None, f"no campaign data in {'.'.join(OUTCOMES_TABLE)}"
    model, version = load_uplift_champion(settings)
    if model is None:
        return None, None, "no uplift champion: run `ecom uplift train`"
    return model, version, None


def _users_with_scores(features: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Every scored user's id and recency, with the day's churn score where there is one."""
    return pd.DataFrame(
        {
            "user_id": features["user_id"].to_numpy(),
            "recency_days": pd.to_numeric(features["recency_days"], errors="coerce").to_numpy(),
        }
    ).merge(scores, on="user_id", how="left", validate="one_to_one")


def _top_rows(targets: pd.DataFrame) -> list[tuple[int, int, float, float, float]]:
    """The first rows of the list as (rank, user, effect, churn probability, value), for the
    summary the CLI prints."""
    return [
        (int(row[0]), int(row[1]), float(row[2]), float(row[3]), float(row[4]))
        for row in targets[
            [
                "target_rank",
                "user_id",
                "estimated_effect",
                "churn_probability",
                "expected_incremental_value",
            ]
        ]
        .head(TOP_ROWS_SHOWN)
        .itertuples(index=False)
    ]


def build_retention_targets(
    settings: Settings,
    endpoints: Endpoints,
    *,
    budget: float | None = None,
    max_contacts: int | None = None,
    features: pd.DataFrame | None = None,
    without_uplift: str | None = None,
) -> TargetsSummary:
    """Write today's `analytics.retention_targets`: by uplift when an uplift champion exists for
    the loaded campaign data, else the labelled churn-risk fallback.

    Without `budget` or `max_contacts` the list is capped at `settings.retention_target_count`
    (ECOM_RETENTION_TARGETS, the original platform's 500): the size of a campaign a team runs.
    `features` is the scoring snapshot when it does not come from PostgreSQL's mart (Spark's:
    user_id, recency_days and cutoff_date suffice for the fallback); `without_uplift` says why
    the list must be the fallback whatever PostgreSQL holds (on Spark its campaign marts are
    not this run's)."""
    from ecom.churn.scoring import (
        NoChampionModel,
        read_scores,
        read_scoring_features,
        snapshot_date,
    )

    url = endpoints.database_url
    if features is None:
        features = read_scoring_features(url)
    scoring_date = snapshot_date(features)
    economics = Economics(settings.customer_ltv, settings.win_back_rate, settings.contact_cost)
    if budget is None and max_contacts is None:
        max_contacts = settings.retention_target_count
    scores = read_scores(url, scoring_date)
    users = _users_with_scores(features, scores)
    if without_uplift:
        model, version, why = None, None, without_uplift
    else:
        model, version, why = _uplift_champion(settings, url)
    if model is None:
        log.warning("the retention list falls back to churn risk and says so on every row: %s", why)
        if users["churn_probability"].isna().all():
            raise NoChampionModel(
                f"no retention list for {scoring_date}: {why}, and analytics.churn_scores has "
                "no scores for that date (run `ecom train` and `ecom score`)"
            )
    decisions = contact_decisions(features, users["churn_probability"].to_numpy(), economics, model)
    users = pd.concat([users, decisions.frame()], axis=1)
    if model is None:
        targets, stopped_by = rank_by_churn_risk(
            users, economics, why=why, budget=budget, max_contacts=max_contacts
        )
        excluded = 0
    else:
        targets, stopped_by = rank_by_incremental_value(
            users, economics, budget=budget, max_contacts=max_contacts
        )
        excluded = int((users["estimated_effect"] <= 0).sum())
    targets["uplift_model_version"] = version
    targets["built_at"] = datetime.now(UTC).isoformat()
    write_targets(url, scoring_date, targets)
    summary = TargetsSummary(
        scoring_date=scoring_date,
        list_basis=UPLIFT_BASIS if model is not None else FALLBACK_BASIS,
        targets=len(targets),
        scored_users=len(users),
        expected_value=float(targets["expected_incremental_value"].sum()),
        excluded_harmed=excluded,
        stopped_by=stopped_by,
        fallback_reason=why,
        top=_top_rows(targets),
    )
    log.info("%s", summary.summary_line())
    return summary
