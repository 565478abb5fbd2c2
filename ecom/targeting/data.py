"""The campaign training set: each campaign user's outcome with features as of the contact.

Entity rows are the campaign mart's users with a complete horizon, stamped at `contacted_at`;
Feast joins each to the latest `churn_v1` feature row at or before that instant, exactly as
churn training joins its labels, so a campaign user's features never see the contact's effect.
"""

from __future__ import annotations

import logging
import time
import warnings

import pandas as pd

from ecom.config import Settings
from ecom.db import fetch_all, table_exists
from ecom.features.contract import FEATURE_SERVICE
from ecom.features.store import EVENT_TIMESTAMP, get_feature_store
from ecom.services import Endpoints

log = logging.getLogger(__name__)

OUTCOMES_TABLE = ("analytics", "mart_campaign_outcomes")
OUTCOME_COLUMNS = (
    "campaign_id",
    "is_treated",
    "treatment_share",
    "contact_cost",
    "converted",
    "revenue_in_horizon",
)
CAMPAIGN_ENTITY_SQL = (
    f"SELECT user_id, contacted_at AS {EVENT_TIMESTAMP}, {', '.join(OUTCOME_COLUMNS)} "
    f"FROM {OUTCOMES_TABLE[0]}.{OUTCOMES_TABLE[1]} WHERE has_complete_horizon"
)


class NoCampaignData(LookupError):
    """No randomized campaign with a complete horizon was loaded (real TheLook has none)."""


def campaign_users(database_url: str) -> int:
    """How many campaign users with a complete horizon the mart holds (0 without the mart)."""
    if not table_exists(database_url, *OUTCOMES_TABLE):
        return 0
    ((count,),) = fetch_all(
        database_url,
        f"select count(*) from {OUTCOMES_TABLE[0]}.{OUTCOMES_TABLE[1]} where has_complete_horizon",
    )
    return int(count)


def campaign_frame(settings: Settings, endpoints: Endpoints) -> pd.DataFrame:
    """Campaign outcomes with `churn_v1` features as of each contact (Feast point-in-time join).

    Raises `NoCampaignData` when there is nothing to learn from, naming the table."""
    users = campaign_users(endpoints.database_url)
    if users == 0:
        raise NoCampaignData(
            f"{OUTCOMES_TABLE[0]}.{OUTCOMES_TABLE[1]} has no campaign user with a complete "
            "horizon: load data with raw.campaign_contacts (`ecom generate` plants a campaign; "
            "real TheLook exports have none)"
        )
    store = get_feature_store(settings, endpoints)
    service = store.get_feature_service(FEATURE_SERVICE)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pandas only supports SQLAlchemy")
        frame = store.get_historical_features(
            entity_df=CAMPAIGN_ENTITY_SQL, features=service
        ).to_df()
    frame[EVENT_TIMESTAMP] = pd.to_datetime(frame[EVENT_TIMESTAMP], utc=True)
    frame = frame.sort_values(["campaign_id", "user_id"], kind="stable").reset_index(drop=True)
    log.info(
        "campaign frame: %d rows, %d campaigns in %.1f s",
        len(frame),
        frame["campaign_id"].nunique(),
        time.perf_counter() - started,
    )
    return frame
