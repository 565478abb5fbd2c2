"""The planted retention campaign: randomized win-back contacts whose effect differs by user.

At a few Monday campaign dates (the churn marts' weekly cutoffs, so the features as of a contact
are a row of `mart_churn_features`), every registered user active in the 60 days before the
date is eligible (again if they were in an earlier campaign), except customers whose first
order, at sign-up, is under 30 days old. A fair-by-design coin (the campaign's treatment
share, its propensity) sends a contact to some and holds the rest out.

Each eligible user has two observable-driven probabilities, both scaled by `effect_scale`:
- `lift`: a user who would not order in the horizon does so because of the contact. Strong for
  recently lapsed users (no visit in the last two weeks, but one in the last 40 days), more so
  when engaged (many sessions) and coupon-responsive (carts left without buying); small for the
  long gone and the rest;
- `harm`: a user who would have ordered in the horizon does not, annoyed by the contact: the
  "sleeping dogs", visitors of the last week who never abandon a cart.
Loyal buyers (3+ orders, or 2+ in the window) have neither: they come back either way.

Both potential outcomes are drawn for every eligible user from the same world: Y0 is whether
the natural process places an order in [date, date + horizon); Y1 is Y0 unless a lift turns a
0 into a 1 or a harm turns a 1 into a 0. Only treated users see Y1: a lift adds a purchase
session (traffic source Email) inside the horizon, a harm turns the horizon's purchase sessions
into abandoned carts. The events, orders and items are then built from the sessions as usual,
so the data shows the consequence, never the effect. The true effect written to the truth is
lift * (1 - q) - harm * q, where q is the oracle's probability of a natural order in the
horizon: the conditional average effect given the user's full latent state.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ecom.synth.behaviour import BehaviourParameters, LatentUsers
from ecom.synth.calendar import DATA_START, Timeline, days_to_datetime64
from ecom.synth.experiment import ExperimentDesign
from ecom.synth.sessions import (
    DEPTH_CART,
    DEPTH_PURCHASE,
    KIND_REPEAT,
    KIND_SIGNUP,
    Sessions,
)
from ecom.synth.truth import TRUTH_DIR, Truth, true_churn_probability

CAMPAIGN_TRUTH_FILE = "campaign.parquet"
CAMPAIGN_PLAN_FILE = "campaign.json"
SEGMENTS = ("loyal", "sleeping_dog", "lapsed", "active")
VARIANTS = ("control", "treatment")


@dataclass(frozen=True)
class CampaignPlan:
    """The campaign's design; `effect_scale` 0 plants randomized contacts that change nothing."""

    effect_scale: float = 1.0
    # Campaign dates: Mondays this many weeks before the last Monday of the data. All fall among
    # the churn marts' 26 weekly cutoffs (the newest is the data's end, a Monday, one week after
    # that last Monday, so 24 weeks back is the oldest cutoff; 25 fell a week before it and its
    # users had no features as of the contact: the quality gate's coverage check found it), and
    # every horizon ends before the A/B test's window (which starts 70 days before the end), so
    # the two planted experiments never overlap. Five weeks apart, no horizon overlaps the next:
    # a user may be in several campaigns, but each campaign's natural outcomes are untouched by
    # an earlier one's contacts.
    weeks_before_end: tuple[int, ...] = (24, 19, 14)
    horizon_days: int = 30  # the churn label horizon: "returns" = places an order in it
    eligibility_window_days: int = 60  # the churn feature window: active = any session in it
    # Alternating shares, so an estimate that ignores the propensity is visibly biased.
    treatment_shares: tuple[float, ...] = (0.5, 0.7)
    contact_cost: float = 10.0
    channel: str = "email"
    lapsed_after_days: float = 14.0
    sleeping_within_days: float = 7.0
    long_gone_after_days: float = 40.0
    new_buyer_grace_days: float = 30.0
    mean_response_days: float = (
        6.0  # a won-back user orders this long after the contact, on average
    )

    def __post_init__(self) -> None:
        if self.effect_scale < 0 or self.effect_scale > 1.5:
            raise ValueError(f"effect_scale must be in [0, 1.5], got {self.effect_scale}")
        if not self.weeks_before_end:
            raise ValueError("a campaign plan needs at least one campaign date")


@dataclass(frozen=True)
class PlantedCampaign:
    """The world after the campaign, the contacts table and the per-user truth."""

    sessions: Sessions
    order_cap_days: np.ndarray
    contacts: pd.DataFrame  # the campaign_contacts CSV columns
    truth: pd.DataFrame  # one row per (campaign, user): effect, potential outcomes, segment
    plan: CampaignPlan


def campaign_dates(timeline: Timeline, plan: CampaignPlan) -> np.ndarray:
    """The campaign dates as days since DATA_START, oldest first (Mondays, midnight UTC)."""
    last_day = timeline.end_date - dt.timedelta(days=1)
    last_monday = last_day - dt.timedelta(days=last_day.weekday())
    dates = sorted(last_monday - dt.timedelta(weeks=weeks) for weeks in plan.weeks_before_end)
    days = np.array([(date - DATA_START.date()).days for date in dates], dtype=float)
    if days[0] < 0:
        raise ValueError(
            f"the data span ({timeline.span_days:.0f} days) is too short for a campaign "
            f"{max(plan.weeks_before_end)} weeks before its end"
        )
    return days


@dataclass(frozen=True)
class _Observed:
    """What the data shows about each user just before a campaign date (user-indexed)."""

    days_since_last_session: np.ndarray  # inf without a session before the date
    sessions_in_window: np.ndarray
    abandoned_carts_in_window: np.ndarray
    orders_in_window: np.ndarray
    orders_before: np.ndarray
    signed_up: np.ndarray


def _observe(sessions: Sessions, signup_days: np.ndarray, date: float, window: float) -> _Observed:
    n_users = len(signup_days)
    registered = sessions.owner >= 0
    before = registered & (sessions.anchor_days < date)
    in_window = before & (sessions.anchor_days >= date - window)
    last = np.full(n_users, -np.inf)
    np.maximum.at(last, sessions.owner[before], sessions.anchor_days[before])

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(sessions.owner[mask], minlength=n_users)

    return _Observed(
        days_since_last_session=date - last,
        sessions_in_window=count(in_window),
        abandoned_carts_in_window=count(in_window & (sessions.depth == DEPTH_CART)),
        orders_in_window=count(in_window & (sessions.depth == DEPTH_PURCHASE)),
        orders_before=count(before & (sessions.depth == DEPTH_PURCHASE)),
        signed_up=signup_days < date,
    )


def _segment_effects(
    seen: _Observed, plan: CampaignPlan, max_orders: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per user: segment index (into SEGMENTS), lift probability, harm probability."""
    recency = seen.days_since_last_session
    loyal = (seen.orders_before >= 3) | (seen.orders_in_window >= 2)
    if max_orders is not None:  # a capped buyer can place no more orders in this world
        loyal |= seen.orders_before >= max_orders
    sleeping = (
        ~loyal & (recency < plan.sleeping_within_days) & (seen.abandoned_carts_in_window == 0)
    )
    lapsed = ~loyal & ~sleeping & (recency >= plan.lapsed_after_days)
    segment = np.select([loyal, sleeping, lapsed], [0, 1, 2], 3)
    engagement = np.minimum(seen.sessions_in_window / 4.0, 1.0)
    coupon_responsive = (seen.abandoned_carts_in_window > 0).astype(float)
    # Long-gone users (no visit for `long_gone_after_days`) are the surest churners and barely
    # movable: a churn-risk ranking puts them first, an uplift ranking does not.
    recently = np.where(recency < plan.long_gone_after_days, 1.0, 0.2)
    lift = np.select(
        [loyal | sleeping, lapsed],
        [0.0, recently * (0.03 + 0.22 * engagement + 0.25 * coupon_responsive)],
        0.03 + 0.05 * coupon_responsive,
    )
    harm = np.where(sleeping, 0.5, 0.0)
    return segment, plan.effect_scale * lift, plan.effect_scale * harm


def _natural_return_probability(
    user_index: np.ndarray,
    date: float,
    horizon: float,
    latent: LatentUsers,
    signup_days: np.ndarray,
    signup_order_days: np.ndarray,
    cap_days: np.ndarray,
    timeline: Timeline,
    design: ExperimentDesign,
    params: BehaviourParameters,
    latent_treated: np.ndarray,
) -> np.ndarray:
    """q: the oracle's P(an order in [date, date + horizon)) without the campaign."""
    users = pd.DataFrame(
        {
            "user_id": user_index,
            "signup_days": signup_days[user_index],
            "lifetime_days": latent.lifetime_days[user_index],
            "purchase_rate": latent.purchase_rate[user_index],
            "signup_order_days": signup_order_days[user_index],
            "order_cap_days": cap_days[user_index],
            "latent_treated": latent_treated[user_index],
        }
    )
    truth = Truth(
        users=users,
        timeline=timeline,
        experiment={
            "start_days": design.start_days,
            "end_days": design.end_days,
            "relative_lift": design.relative_lift,
        },
        model={
            "first_session_gap_days": params.first_session_gap_days,
            "lapsed_activity": params.lapsed_activity,
        },
    )
    cutoff = days_to_datetime64(np.array([date]))[0]
    return 1.0 - true_churn_probability(truth, user_index, cutoff, horizon)


def _sessions_where(sessions: Sessions, keep: np.ndarray) -> Sessions:
    return Sessions(
        **{name: getattr(sessions, name)[keep] for name in Sessions.__dataclass_fields__}
    )


def _append_sessions(sessions: Sessions, extra: Sessions) -> Sessions:
    return Sessions(
        **{
            name: np.concatenate([getattr(sessions, name), getattr(extra, name)])
            for name in Sessions.__dataclass_fields__
        }
    )


def _won_back_sessions(
    rng: np.random.Generator,
    owners: np.ndarray,
    date: float,
    plan: CampaignPlan,
    latent: LatentUsers,
    email_source: int,
    design: ExperimentDesign,
    latent_treated: np.ndarray,
) -> Sessions:
    """One purchase session per won-back user, from the campaign's email, inside the horizon."""
    delay = rng.exponential(plan.mean_response_days, len(owners))
    anchor = date + np.minimum(delay, plan.horizon_days - 0.5) + 1.0 / 24.0
    return Sessions(
        owner=owners,
        kind=np.full(len(owners), KIND_REPEAT, np.int8),
        anchor_days=anchor,
        source=np.full(len(owners), email_source),
        browser=latent.browser[owners],
        depth=np.full(len(owners), DEPTH_PURCHASE, np.int8),
        treated=latent_treated[owners] & design.in_window(anchor),
        # The session (it grows backwards from the purchase) starts after the contact.
        purchase_lag_cap_days=np.maximum(anchor - date - 1.0 / 24.0, 0.0),
        anonymous_kind=np.full(len(owners), -1, dtype=np.int8),  # a registered user's session
    )


def _enforce_order_cap(
    sessions: Sessions, users: np.ndarray, max_orders: int | None, cap_days: np.ndarray
) -> tuple[Sessions, np.ndarray]:
    """A won-back order may make a user's `max_orders`-th: drop what follows it, as the
    generator does (TheLook has no buyer with more orders), and record the new cap time."""
    if max_orders is None or len(users) == 0:
        return sessions, cap_days
    touched = np.zeros(len(cap_days), dtype=bool)
    touched[users] = True
    mine = (sessions.owner >= 0) & touched[np.maximum(sessions.owner, 0)]
    index = np.flatnonzero(mine)
    index = index[np.lexsort((sessions.anchor_days[index], sessions.owner[index]))]
    owner = sessions.owner[index]
    bought = (sessions.depth[index] == DEPTH_PURCHASE).astype(np.int64)
    running = np.cumsum(bought)
    first = np.searchsorted(owner, owner, side="left")
    placed = running - np.where(first > 0, running[np.maximum(first - 1, 0)], 0)
    drop = np.zeros(len(sessions), dtype=bool)
    drop[index[(placed - bought) >= max_orders]] = True
    cap_days = cap_days.copy()
    reached = index[(placed == max_orders) & (bought == 1)]
    cap_days[sessions.owner[reached]] = sessions.anchor_days[reached]
    return _sessions_where(sessions, ~drop), cap_days


def _signup_order_days(sessions: Sessions, n_users: int) -> np.ndarray:
    """Each user's sign-up purchase day (NaN for users who did not buy at sign-up)."""
    days = np.full(n_users, np.nan)
    bought = (sessions.kind == KIND_SIGNUP) & (sessions.depth == DEPTH_PURCHASE)
    days[sessions.owner[bought]] = sessions.anchor_days[bought]
    return days


def _eligible_users(
    seen: _Observed, signup_order_days: np.ndarray, date: float, plan: CampaignPlan
) -> np.ndarray:
    """Users a campaign on `date` may contact: signed up, seen within the window, and not a
    new customer who bought at sign-up in the last weeks (their sign-up purchase can land days
    after the session starts, TheLook's cart -> purchase lag, so whether they "return" after
    the date is not yet settled by the sessions alone)."""
    new_buyer = (signup_order_days >= date - plan.new_buyer_grace_days) & (signup_order_days < date)
    return np.flatnonzero(
        seen.signed_up & (seen.days_since_last_session <= plan.eligibility_window_days) & ~new_buyer
    )


def _horizon_purchases(sessions: Sessions, date: float, horizon_days: float) -> np.ndarray:
    """Registered users' purchase sessions in [date, date + horizon)."""
    return (
        (sessions.owner >= 0)
        & (sessions.depth == DEPTH_PURCHASE)
        & (sessions.anchor_days >= date)
        & (sessions.anchor_days < date + horizon_days)
    )


def _potential_outcomes(
    rng: np.random.Generator,
    buyers: np.ndarray,
    eligible: np.ndarray,
    lift: np.ndarray,
    harm: np.ndarray,
    n_users: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(Y0, Y1) of the eligible users: Y0 is whether they buy in the horizon as simulated
    (`buyers` own a horizon purchase); Y1 turns a returner away with probability `harm` and
    wins back a non-returner with probability `lift`."""
    returns = np.zeros(n_users, dtype=bool)
    returns[buyers] = True
    y0 = returns[eligible]
    draws = rng.random((len(eligible), 2))
    y1 = np.where(y0, draws[:, 0] >= harm[eligible], draws[:, 1] < lift[eligible])
    return y0, y1


def _abandon_carts(
    sessions: Sessions, horizon_purchase: np.ndarray, harmed_users: np.ndarray, n_users: int
) -> Sessions:
    """Harmed users' horizon purchases end at the cart instead."""
    harmed = np.zeros(n_users, dtype=bool)
    harmed[harmed_users] = True
    suppress = horizon_purchase & harmed[np.maximum(sessions.owner, 0)]
    depth = sessions.depth.copy()
    depth[suppress] = DEPTH_CART
    return replace(sessions, depth=depth)


def _campaign_truth(
    date: float,
    user_ids: np.ndarray,
    treated: np.ndarray,
    propensity: float,
    segment: np.ndarray,
    lift: np.ndarray,
    harm: np.ndarray,
    q: np.ndarray,
    y0: np.ndarray,
    y1: np.ndarray,
) -> pd.DataFrame:
    """One campaign's truth: per contacted user, the arm, the planted effect and both outcomes
    (arrays are over the eligible users)."""
    contacted_at = days_to_datetime64(np.array([date]))[0]
    return pd.DataFrame(
        {
            "campaign_id": f"winback_{str(contacted_at.astype('datetime64[D]')).replace('-', '')}",
            "user_id": user_ids,
            "contacted_days": date,
            "contacted_at": contacted_at,
            "variant": np.asarray(VARIANTS)[treated.astype(int)],
            "propensity": propensity,
            "segment": np.asarray(SEGMENTS)[segment],
            "lift_probability": lift,
            "harm_probability": harm,
            "natural_return_probability": q,
            "true_effect": lift * (1.0 - q) - harm * q,
            "y0": y0,
            "y1": y1,
        }
    )


def _contacts_table(truth: pd.DataFrame, plan: CampaignPlan) -> pd.DataFrame:
    """The contact log a CRM would export: who, when, which arm, by which channel at what cost."""
    return pd.DataFrame(
        {
            "campaign_id": truth["campaign_id"],
            "user_id": truth["user_id"],
            "contacted_at": truth["contacted_at"],
            "variant": truth["variant"],
            "channel": plan.channel,
            "cost": np.where(truth["variant"] == "treatment", plan.contact_cost, 0.0),
            # The design's share, as a contact log records its allocation: what the gate's
            # sample-ratio check holds the observed split against.
            "planned_treatment_share": truth["propensity"],
        }
    )


def plant_campaign(
    rng: np.random.Generator,
    sessions: Sessions,
    latent: LatentUsers,
    signup_days: np.ndarray,
    cap_days: np.ndarray,
    timeline: Timeline,
    design: ExperimentDesign,
    params: BehaviourParameters,
    latent_treated: np.ndarray,
    user_ids: np.ndarray,
    plan: CampaignPlan,
) -> PlantedCampaign:
    """Run the campaigns on the simulated sessions; return the changed world and its truth.

    Pure: `sessions` and `cap_days` are not modified. Sessions must be ordered with the sign-up
    sessions first (as `build_registered_sessions` returns them); anonymous sessions pass through.
    """
    n_users = len(signup_days)
    signup_order_days = _signup_order_days(sessions, n_users)
    email_source = list(params.sources).index("Email")
    truth_parts: list[pd.DataFrame] = []
    for number, date in enumerate(campaign_dates(timeline, plan)):
        seen = _observe(sessions, signup_days, date, plan.eligibility_window_days)
        eligible = _eligible_users(seen, signup_order_days, date, plan)
        segment, lift, harm = _segment_effects(seen, plan, params.max_orders_per_user)
        propensity = plan.treatment_shares[number % len(plan.treatment_shares)]
        treated = rng.random(len(eligible)) < propensity
        horizon_purchase = _horizon_purchases(sessions, date, plan.horizon_days)
        y0, y1 = _potential_outcomes(
            rng, sessions.owner[horizon_purchase], eligible, lift, harm, n_users
        )
        q = _natural_return_probability(
            eligible,
            date,
            plan.horizon_days,
            latent,
            signup_days,
            signup_order_days,
            cap_days,
            timeline,
            design,
            params,
            latent_treated,
        )
        # Treated users live Y1: harmed ones abandon the horizon's carts, won-back ones buy.
        sessions = _abandon_carts(sessions, horizon_purchase, eligible[treated & y0 & ~y1], n_users)
        won_back = eligible[treated & ~y0 & y1]
        sessions = _append_sessions(
            sessions,
            _won_back_sessions(
                rng, won_back, date, plan, latent, email_source, design, latent_treated
            ),
        )
        sessions, cap_days = _enforce_order_cap(
            sessions, won_back, params.max_orders_per_user, cap_days
        )
        truth_parts.append(
            _campaign_truth(
                date,
                user_ids[eligible],
                treated,
                propensity,
                segment[eligible],
                lift[eligible],
                harm[eligible],
                q,
                y0,
                y1,
            )
        )
    truth = pd.concat(truth_parts, ignore_index=True)
    return PlantedCampaign(
        sessions=sessions,
        order_cap_days=cap_days,
        contacts=_contacts_table(truth, plan),
        truth=truth,
        plan=plan,
    )


def write_campaign_truth(out_dir: Path, campaign: PlantedCampaign) -> Path:
    """`_truth/campaign.parquet` (per user) and `_truth/campaign.json` (the plan, the true ATEs)."""
    truth_dir = Path(out_dir) / TRUTH_DIR
    truth_dir.mkdir(parents=True, exist_ok=True)
    campaign.truth.to_parquet(truth_dir / CAMPAIGN_TRUTH_FILE, index=False)
    by_campaign = campaign.truth.groupby("campaign_id")
    summary = {
        "plan": asdict(campaign.plan),
        "campaigns": {
            str(campaign_id): {
                "eligible_users": len(group),
                "propensity": float(group["propensity"].iloc[0]),
                "true_average_effect": float(group["true_effect"].mean()),
                "realised_average_effect": float((group["y1"].astype(int) - group["y0"]).mean()),
            }
            for campaign_id, group in by_campaign
        },
    }
    path = truth_dir / CAMPAIGN_PLAN_FILE
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path


def load_campaign_truth(data_dir: Path) -> pd.DataFrame:
    """The per-user campaign truth, or a FileNotFoundError naming the file when there is none."""
    path = Path(data_dir) / TRUTH_DIR / CAMPAIGN_TRUTH_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the campaign truth is written by `ecom generate --campaign`, "
            "so real TheLook data and worlds generated without a campaign have none"
        )
    return pd.read_parquet(path)
