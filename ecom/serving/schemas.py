"""The churn API's request and response bodies: typed, so `/docs.json` documents the API.

Every bad payload (malformed JSON, a wrong type, a missing or extra field, an empty or too
long `user_ids`) answers **400** with a JSON body: BentoML answers its own validation failures
with 400, and the service's own checks use the same code so a client has one rule.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

# users.id is a PostgreSQL bigint: an integer outside it names no user and cannot be encoded
# for the online read (it answered 500 until the schemathesis sweep found it), so it is a 400.
UserId = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]


class PredictRequest(BaseModel):
    """One user to score."""

    model_config = ConfigDict(extra="forbid")

    user_id: UserId = Field(description="TheLook users.id.", examples=[1042])


class PredictBatchRequest(BaseModel):
    """Users to score in one Feast read (at most `ECOM_SERVING_MAX_BATCH`, default 1000)."""

    model_config = ConfigDict(extra="forbid")

    user_ids: list[UserId] = Field(min_length=1, examples=[[1042, 1043]])


class Contribution(BaseModel):
    """A feature pushing the score up: its TreeSHAP value in the booster's log-odds."""

    feature: str
    contribution: float


class ChurnPrediction(BaseModel):
    """The answer for one user; the same numbers `ecom score` writes to analytics.churn_scores."""

    user_id: int
    churn_probability: float = Field(description="Calibrated P(no order in the next 30 days).")
    risk_band: str = Field(description="low < 0.4 <= medium < 0.7 <= high < 0.9 <= critical.")
    is_high_risk: bool = Field(description="churn_probability > 0.7.")
    recommended_action: str = Field(
        description="no_action under 0.5, coupon from 0.5, call above 0.8."
    )
    expected_value: float = Field(
        description="p * customer LTV * win-back rate - contact cost (ECOM_CUSTOMER_LTV, ...)."
    )
    model_name: str
    model_version: str
    features_as_of: date = Field(description="The scoring snapshot the features belong to.")
    risk_percentile: float | None = Field(
        description="Percentile (0-100) of churn_probability among everyone `ecom score` scored "
        "on this snapshot with this model (ties count half); null until that run exists."
    )
    population_band: str | None = Field(
        description="By risk_percentile: 'top 5%' from 95, 'top 5-20%' from 80, 'top 20-50%' "
        "from 50, else 'bottom 50%'; null with risk_percentile."
    )
    top_features: list[Contribution] = Field(
        description="Up to three features pushing the score up most, largest first."
    )
    list_basis: str = Field(
        description="How the contact decision was made: 'uplift' (the uplift champion's effect "
        "of a contact, learned from a randomized campaign) or 'churn_risk_fallback' (no "
        "campaign data: risk x value, not causal). The same as analytics.retention_targets."
    )
    estimated_effect: float | None = Field(
        description="Uplift: the estimated change a contact makes to P(order in the horizon); "
        "null in the fallback. Equals analytics.retention_targets.estimated_effect."
    )
    expected_incremental_value: float = Field(
        description="Uplift: effect x customer LTV - contact cost; fallback: expected_value."
    )
    contact_recommended: bool = Field(
        description="Whether this marginal contact pays (expected_incremental_value > 0, and a "
        "positive effect): the retention list's rule before its budget cuts it."
    )
    uplift_model_version: str | None = Field(
        description="The retention_uplift version behind estimated_effect; null in the fallback."
    )


class BatchPrediction(BaseModel):
    """Answers for the known users, in request order, and the users the store does not hold."""

    predictions: list[ChurnPrediction]
    unknown_user_ids: list[int] = Field(
        description="Users with no row in the current snapshot (unknown or inactive)."
    )


class ReloadResult(BaseModel):
    """The champion the service answers with after a reload."""

    model_name: str
    model_version: str
    changed: bool


class ErrorBody(BaseModel):
    """Every error: a short code and a sentence naming the problem (and the fix)."""

    error: str
    detail: str
