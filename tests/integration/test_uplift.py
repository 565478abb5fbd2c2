"""The uplift stage end to end on generated campaigns: it finds whom a contact moves, beats the
churn-risk list on the planted truth, keeps its champion against a model no better, writes the
target list, and finds nothing when the campaign had no effect (the power check)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from ecom.config import Settings
from ecom.db import fetch_all
from ecom.features.store import apply_feature_repo
from ecom.services import Endpoints
from ecom.synth import generate_dataset
from ecom.synth.campaign import CampaignPlan
from ecom.targeting.targets import UPLIFT_BASIS, build_retention_targets
from ecom.targeting.training import UPLIFT_MODEL_NAME, UpliftTrainingResult, train_uplift
from ecom.transform import build_warehouse
from tests.integration.dbt_databases import load_directory, private_database

pytestmark = pytest.mark.integration

END_DATE = dt.date(2025, 6, 2)
USERS = 16_000  # about 2,500 campaign users, 600 of them held out for the test
# The campaign mart with its tests, and the feature marts Feast and targeting read.
MODELS = (
    "+mart_campaign_outcomes "
    "+mart_churn_features,resource_type:model +mart_churn_scoring,resource_type:model"
)


def _world(
    settings: Settings, tmp: Path, name: str, plan: CampaignPlan
) -> Iterator[tuple[Settings, Endpoints, Path]]:
    data_dir = tmp / name
    generate_dataset(USERS, 21, data_dir, END_DATE, progress=False, campaign=plan)
    with private_database(settings, f"uplift_{name}") as (db_settings, endpoints):
        db_settings = db_settings.with_overrides(
            mlflow_tracking_uri=f"sqlite:///{tmp / f'{name}_mlflow.db'}"
        )
        load_directory(endpoints, data_dir)
        summary = build_warehouse(db_settings, endpoints, select=MODELS)
        assert summary.success, summary.failed_nodes
        assert summary.node("mart_campaign_outcomes").rows
        apply_feature_repo(db_settings, endpoints)
        yield db_settings, endpoints, data_dir


@pytest.fixture(scope="module")
def campaign(ecom_settings, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uplift")
    yield from _world(ecom_settings, tmp, "campaign", CampaignPlan())


@pytest.fixture(scope="module")
def trained(campaign) -> UpliftTrainingResult:
    settings, endpoints, data_dir = campaign
    return train_uplift(settings, endpoints, truth_dir=data_dir, bag_size=4)


def test_the_uplift_policy_beats_random_and_churn_risk_on_the_truth(trained) -> None:
    at_20 = trained.policies[trained.policies["budget_share"] == 0.2].set_index("policy")
    truth = at_20["incremental_conversions_truth"]
    assert truth["uplift"] > truth["random"], at_20
    assert truth["uplift"] > truth["churn_risk"], at_20
    assert truth["oracle"] >= truth["uplift"], at_20
    metrics = trained.metrics
    assert metrics["test_qini_low"] > 0, metrics  # the ranking is better than random, by IPW
    assert 0 < metrics["test_qini"] <= metrics["test_qini_oracle_high"]
    assert metrics["uplift_to_risk_at_20_truth"] > 1
    assert metrics["balance_max_smd"] < 0.15  # randomized arms look alike


def test_the_run_is_in_mlflow_and_a_no_better_model_keeps_the_champion(campaign, trained) -> None:
    settings, endpoints, data_dir = campaign
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    assert (trained.model_version, trained.promoted) == ("1", True)
    run = client.get_run(client.get_model_version(UPLIFT_MODEL_NAME, "1").run_id)
    for name in ("test_qini", "test_qini_oracle", "test_auuc", "test_uplift_at_20"):
        assert name in run.data.metrics, name
    # The same data again: the Qini gain's interval straddles zero, so v1 stays champion.
    again = train_uplift(settings, endpoints, truth_dir=data_dir, bag_size=0, seed=0)
    assert (again.model_version, again.promoted) == ("2", False), again.gate_reason
    assert str(client.get_model_version_by_alias(UPLIFT_MODEL_NAME, "champion").version) == "1"


def test_targets_are_ranked_by_incremental_value(campaign, trained) -> None:
    settings, endpoints, _ = campaign
    summary = build_retention_targets(settings, endpoints, max_contacts=200)
    assert summary.list_basis == UPLIFT_BASIS and 0 < summary.targets <= 200
    assert "uplift" in summary.summary_line() and "FALLBACK" not in summary.summary_line()
    rows = fetch_all(
        endpoints.database_url,
        "select list_basis, estimated_effect, effect_low, effect_high, "
        "expected_incremental_value, uplift_model_version from "
        "analytics.retention_targets order by target_rank",
    )
    assert {row[0] for row in rows} == {UPLIFT_BASIS}
    assert {row[5] for row in rows} == {trained.model_version}
    assert all(effect > 0 and value > 0 for _, effect, _, _, value, _ in rows)
    assert all(low <= high for _, _, low, high, _, _ in rows)
    values = [row[4] for row in rows]
    assert values == sorted(values, reverse=True)
    # Uncapped, it stops at the first contact that loses money; by budget, at ten contacts.
    uncapped = build_retention_targets(settings, endpoints, max_contacts=10**9)
    assert uncapped.stopped_by == "the first contact that loses money", uncapped.stopped_by
    by_budget = build_retention_targets(settings, endpoints, budget=10 * settings.contact_cost)
    assert by_budget.targets == min(10, uncapped.targets)


@pytest.fixture(scope="module")
def no_effect(ecom_settings, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uplift_power")
    yield from _world(ecom_settings, tmp, "no_effect", CampaignPlan(effect_scale=0.0))


def test_without_an_effect_no_policy_beats_random(no_effect) -> None:
    """The power check: the same campaign with the effect removed from the generator."""
    settings, endpoints, data_dir = no_effect
    result = train_uplift(settings, endpoints, truth_dir=data_dir, bag_size=0, register=False)
    policies = result.policies
    assert (policies["incremental_conversions_truth"] == 0).all()
    for budget, rows in policies.groupby("budget_share"):
        random = rows.loc[rows["policy"] == "random", "incremental_conversions_ipw"].item()
        beaten = rows[rows["incremental_conversions_ipw_low"] > max(random, 0.0)]
        assert beaten.empty, (budget, beaten)
    assert result.metrics["test_qini_low"] <= 0 <= result.metrics["test_qini_high"]
