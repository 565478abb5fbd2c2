"""The retention list by incremental value: whom to contact, and where to stop.

Each user in today's scoring snapshot gets the champion uplift model's estimated effect of a
contact on ordering in the horizon (with the bag's interval). Their incremental value is
effect x customer value - contact cost. The list keeps users with a positive effect, ranks by
that value, and stops at the first contact that loses money, at `max_contacts`, or when the
contacts' cost would pass `budget`. Users a contact would hurt are never on it.

Without an uplift champion (no campaign data, as in real TheLook) the list falls back to the
churn-risk expected value p(churn) x LTV x win-back - cost, and every row says so in
`list_basis` and `reason`: a risk list is not evidence that a contact changes anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from ecom.churn.predict import Economics
from ecom.config import Settings
from ecom.db import transaction
from ecom.services import Endpoints

log = logging.getLogger(__name__)

TARGETS_TABLE = "analytics.uplift_targets"
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
    model_version text,
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
    "model_version",
)


@dataclass(frozen=True)
class TargetsSummary:
    scoring_date: date
    list_basis: str
    targets: int
    scored_users: int
    expected_value: float
    excluded_harmed: int
    stopped_by: str

    def summary_line(self) -> str:
        basis = (
            "by estimated incremental value (uplift)"
            if self.list_basis == UPLIFT_BASIS
            else "by churn risk x value: FALLBACK, no campaign data, not causal"
        )
        return (
            f"{self.targets:,} of {self.scored_users:,} users to contact on {self.scoring_date} "
            f"{basis}; expected incremental value ${self.expected_value:,.0f}; "
            f"{self.excluded_harmed:,} excluded as harmed by a contact; stopped by {self.stopped_by}"
        )


def _best_first(
    valued: pd.DataFrame, economics: Economics, budget: float | None, max_contacts: int | None
) -> tuple[pd.DataFrame, str]:
    """Rows by expected_incremental_value (ties: lower user_id first), cut at the first
    contact that loses money, at `max_contacts` or where the contacts' cost passes `budget`;
    and what stopped the list."""
    if budget is not None and budget < 0:
        raise ValueError(f"--budget must be >= 0, got {budget}")
    if max_contacts is not None and max_contacts < 0:
        raise ValueError(f"--max-contacts must be >= 0, got {max_contacts}")
    ranked = valued.sort_values(
        ["expected_incremental_value", "user_id"], ascending=[False, True], kind="stable"
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
    """Rank users (user_id, estimated_effect, effect_low, effect_high, churn_probability) by
    effect x LTV - cost; drop non-positive effects; stop at a loss, the budget or the cap."""
    helped = users[users["estimated_effect"] > 0].copy()
    helped["expected_incremental_value"] = (
        helped["estimated_effect"] * economics.customer_ltv - economics.contact_cost
    )
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
    budget: float | None = None,
    max_contacts: int | None = None,
) -> tuple[pd.DataFrame, str]:
    """The fallback without campaign data: p(churn) x LTV x win-back - cost, labelled as such."""
    valued = users.assign(
        expected_incremental_value=users["churn_probability"]
        * economics.customer_ltv
        * economics.win_back_rate
        - economics.contact_cost,
        estimated_effect=np.nan,
        effect_low=np.nan,
        effect_high=np.nan,
    )
    targets, stopped_by = _best_first(valued, economics, budget, max_contacts)
    targets["reason"] = [
        f"FALLBACK (no campaign data, not causal): churn probability {p:.2f} x "
        f"${economics.customer_ltv:,.0f} x {economics.win_back_rate:.0%} win-back assumed for everyone"
        for p in targets["churn_probability"]
    ]
    targets["list_basis"] = FALLBACK_BASIS
    return _finish(targets), stopped_by


def _finish(targets: pd.DataFrame) -> pd.DataFrame:
    targets.insert(0, "target_rank", np.arange(1, len(targets) + 1))
    targets["cumulative_value"] = targets["expected_incremental_value"].cumsum()
    return targets


def write_targets(database_url: str, scoring_date: date, targets: pd.DataFrame) -> None:
    """Replace one scoring date's list atomically (other dates stay)."""
    import io

    frame = targets.assign(scoring_date=scoring_date)[list(COLUMNS)]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False)
    buffer.seek(0)
    with transaction(database_url) as cursor:
        cursor.execute("select pg_advisory_xact_lock(hashtext('uplift_targets'))")
        cursor.execute("create schema if not exists analytics")
        cursor.execute(TARGETS_DDL)
        cursor.execute(f"delete from {TARGETS_TABLE} where scoring_date = %s", (scoring_date,))
        cursor.copy_expert(
            f"COPY {TARGETS_TABLE} ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv)", buffer
        )


def build_uplift_targets(
    settings: Settings,
    endpoints: Endpoints,
    *,
    budget: float | None = None,
    max_contacts: int | None = None,
) -> TargetsSummary:
    """Score today's snapshot with the uplift and churn champions; write analytics.uplift_targets."""
    from ecom.churn.scoring import (
        NoChampionModel,
        champion_predictor,
        read_scoring_features,
        snapshot_date,
    )
    from ecom.targeting.data import campaign_users
    from ecom.targeting.registry import load_uplift_champion

    features = read_scoring_features(endpoints.database_url)
    scoring_date = snapshot_date(features)
    economics = Economics(settings.customer_ltv, settings.win_back_rate, settings.contact_cost)
    users = features[["user_id"]].copy()
    try:
        users["churn_probability"] = (
            champion_predictor(settings).predict(features, explain=False).churn_probability
        )
    except NoChampionModel:
        users["churn_probability"] = np.nan
    model, version = (None, None)
    if campaign_users(endpoints.database_url) > 0:
        model, version = load_uplift_champion(settings)
    if model is None:
        log.warning(
            "no uplift champion (no campaign data, or `ecom uplift train` not run): the "
            "retention list falls back to churn risk and says so on every row"
        )
        if users["churn_probability"].isna().all():
            raise NoChampionModel(
                "neither an uplift nor a churn champion is registered: run `ecom uplift train` "
                "on campaign data or `ecom train`"
            )
        targets, stopped_by = rank_by_churn_risk(
            users, economics, budget=budget, max_contacts=max_contacts
        )
        excluded = 0
    else:
        low, high = model.effect_interval(features)
        users = users.assign(
            estimated_effect=model.effect(features), effect_low=low, effect_high=high
        )
        targets, stopped_by = rank_by_incremental_value(
            users, economics, budget=budget, max_contacts=max_contacts
        )
        excluded = int((users["estimated_effect"] <= 0).sum())
    targets["model_version"] = version
    write_targets(endpoints.database_url, scoring_date, targets)
    summary = TargetsSummary(
        scoring_date=scoring_date,
        list_basis=UPLIFT_BASIS if model is not None else FALLBACK_BASIS,
        targets=len(targets),
        scored_users=len(users),
        expected_value=float(targets["expected_incremental_value"].sum()),
        excluded_harmed=excluded,
        stopped_by=stopped_by,
    )
    log.info("%s", summary.summary_line())
    return summary
