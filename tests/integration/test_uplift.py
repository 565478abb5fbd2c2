"""The uplift stage end to end on generated campaigns: it finds whom a contact moves, beats the
churn-risk list on the planted truth, keeps its champion against a model no better, writes the
target list, and finds nothing when the campaign had no effect (the power check)."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from ecom.config import Settings, connection_env
from ecom.db import fetch_all, transaction
from ecom.features.contract import Kind, features_of_kind
from ecom.features.store import apply_feature_repo
from ecom.quality.campaign import SUITE_NAME, campaign_checks
from ecom.quality.gate import run_quality_gate
from ecom.reports.dashboards import load_dashboards, run_card
from ecom.reports.page import _Page
from ecom.services import Endpoints
from ecom.synth import generate_dataset
from ecom.synth.campaign import CampaignPlan
from ecom.targeting.curves import qini_curves
from ecom.targeting.evaluation_tables import POLICY_TABLE, QINI_TABLE
from ecom.targeting.fast_effect import BOOSTERS
from ecom.targeting.targets import UPLIFT_BASIS, build_retention_targets, contact_decisions
from ecom.targeting.training import UPLIFT_MODEL_NAME, UpliftTrainingResult, train_uplift
from ecom.transform import build_warehouse
from tests.integration.churn_api_server import start_churn_api, wait_for
from tests.integration.dbt_databases import load_directory, private_database

pytestmark = pytest.mark.integration

END_DATE = dt.date(2025, 6, 2)
USERS = 16_000  # about 2,500 campaign users, 600 of them held out for the test
# The campaign mart with its tests, the feature marts Feast and targeting read, and the labels
# the churn champion of the serving test trains on.
MODELS = (
    "+mart_campaign_outcomes +mart_churn_features,resource_type:model "
    "+mart_churn_scoring,resource_type:model +mart_churn_labels,resource_type:model"
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
    # v1 wrote the charts' tables when it became champion; drop them as if v1 predated them.
    assert fetch_all(
        endpoints.database_url, f"select distinct model_version from {QINI_TABLE}"
    ) == [("1",)]
    with transaction(endpoints.database_url) as cursor:
        cursor.execute(f"drop table {QINI_TABLE}, {POLICY_TABLE}")
    # The same data again: the Qini gain's interval straddles zero, so v1 stays champion.
    again = train_uplift(settings, endpoints, truth_dir=data_dir, bag_size=0, seed=0)
    assert (again.model_version, again.promoted) == ("2", False), again.gate_reason
    assert str(client.get_model_version_by_alias(UPLIFT_MODEL_NAME, "champion").version) == "1"
    # The rerun refilled the tables with the champion's evaluation, not the kept-out
    # challenger's: v1's ranking of the same test users draws v1's curve.
    for table in (QINI_TABLE, POLICY_TABLE):
        versions = fetch_all(endpoints.database_url, f"select distinct model_version from {table}")
        assert versions == [("1",)], (table, versions)
    stored = fetch_all(
        endpoints.database_url,
        f"select incremental_conversions_ipw from {QINI_TABLE} "
        "where ranking = 'uplift' order by share_contacted",
    )
    expected = qini_curves(trained.test)
    expected = expected[expected["ranking"] == "uplift"]["incremental_conversions_ipw"]
    assert [row[0] for row in stored] == pytest.approx(expected.tolist(), abs=1e-9)


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


def test_the_targeting_dashboard_draws_the_champions_evaluation(
    campaign, trained, tmp_path
) -> None:
    """The report's cards read what training wrote: the Qini curve and policy values of the
    test users, drawn as charts with a PNG each (after the retention list above exists)."""
    _, endpoints, _ = campaign
    database_url = endpoints.database_url
    (dashboard,) = [board for board in load_dashboards() if board.slug == "targeting"]
    cards = {card.key: card for card in dashboard.cards}
    curve = run_card(database_url, cards["uplift_qini_curve"])
    expected = qini_curves(trained.test)
    assert len(curve) == len(expected) == 4 * 101  # uplift, churn risk, random, oracle
    uplift = curve[curve["ranking"] == f"uplift model v{trained.model_version}"]
    mine = expected[expected["ranking"] == "uplift"]
    assert uplift["share_contacted"].tolist() == mine["share_contacted"].tolist()
    assert uplift["incremental_conversions_ipw"].tolist() == pytest.approx(
        mine["incremental_conversions_ipw"].tolist(), abs=1e-9
    )
    values = run_card(database_url, cards["uplift_policy_value"])
    at_20 = values[values["budget"] == "20%"].set_index("policy")
    policies = trained.policies[trained.policies["budget_share"] == 0.2].set_index("policy")
    policies = policies.rename(index={"uplift": f"uplift model v{trained.model_version}"})
    assert set(at_20.index) - set(policies.index) == {
        "churn risk",
        "churn risk x value, if above cost",
        "oracle (planted)",
    }
    at_20 = at_20.rename(
        index={
            "churn risk": "churn_risk",
            "churn risk x value, if above cost": "ev_formula",
            "oracle (planted)": "oracle",
        }
    )
    assert set(at_20.index) == set(policies.index)
    for column in ("incremental_conversions_ipw", "incremental_conversions_ipw_low"):
        assert at_20[column].to_dict() == pytest.approx(policies[column].to_dict()), column
    assert at_20["incremental_conversions_truth"].notna().all()  # generated: the truth is there
    basis = run_card(database_url, cards["retention_list_basis"])
    assert basis["list_basis"].tolist() == [UPLIFT_BASIS] and basis["users"].iloc[0] > 0

    page = _Page(tmp_path / "img")
    panels = "".join(page.card(database_url, card) for card in dashboard.cards)
    assert page.missing == [] and "Not available" not in panels
    assert {path.name for path in page.summary_images} == {f"{key}.png" for key in cards}
    assert all(path.stat().st_size > 10_000 for path in page.summary_images)


def test_the_gate_finds_the_generated_campaign_randomized(campaign) -> None:
    """Every campaign's split matches its planned share, every user has features as of the
    contact, and none is imbalanced beyond chance; the gate reports the check by name."""
    settings, endpoints, _ = campaign
    outcome, failures = campaign_checks(endpoints.database_url)
    campaigns = fetch_all(
        endpoints.database_url,
        "select count(distinct campaign_id) from analytics.mart_campaign_outcomes",
    )[0][0]
    assert campaigns >= 2
    numeric = len(features_of_kind(Kind.NUMERIC))
    # Per campaign: its sample ratio, its feature coverage and each numeric feature's balance.
    assert outcome.evaluated == campaigns * (2 + numeric), outcome
    assert (outcome.failed, outcome.warned, failures) == (0, 0, []), failures
    report = run_quality_gate(settings, endpoints, include_marts=True)
    named = {suite.table: suite for suite in report.suites}
    assert named[SUITE_NAME].evaluated == outcome.evaluated and named[SUITE_NAME].passed
    checked = [*report.failures, *report.warnings]
    assert not [f for f in checked if f.expectation_type.startswith("campaign_")], checked


def test_a_campaign_that_lost_held_out_users_fails_the_gate_on_sample_ratio(campaign) -> None:
    """A broken assignment planted in the raw contacts: a third of one campaign's held-out
    users lost (as a one-sided export filter would). The marts build; the gate blocks on SRM,
    naming the campaign, and only that campaign."""
    settings, endpoints, _ = campaign
    url = endpoints.database_url
    first = fetch_all(url, "select min(campaign_id) from raw.campaign_contacts")[0][0]
    lost = "campaign_id = %s and variant = 'control' and user_id %% 3 = 0"
    rebuild = "stg_thelook__campaign_contacts mart_campaign_outcomes"
    with transaction(url) as cursor:
        cursor.execute(
            f"create table raw.lost_controls as select * from raw.campaign_contacts where {lost}",
            (first,),
        )
        cursor.execute(f"delete from raw.campaign_contacts where {lost}", (first,))
    try:
        assert build_warehouse(settings, endpoints, select=rebuild).success
        report = run_quality_gate(settings, endpoints, include_marts=True)
        srm = [f for f in report.failures if f.expectation_type == "campaign_sample_ratio"]
        assert len(srm) == 1 and f"campaign {first}:" in srm[0].message, srm
        assert not report.passed and SUITE_NAME in report.failed_tables
    finally:
        with transaction(url) as cursor:
            cursor.execute("insert into raw.campaign_contacts select * from raw.lost_controls")
            cursor.execute("drop table raw.lost_controls")
        assert build_warehouse(settings, endpoints, select=rebuild).success


@pytest.fixture(scope="module")
def served(campaign, trained, tmp_path_factory):
    """The campaign world served: a churn champion, `ecom score` (scores and the uplift list,
    uncapped), the snapshot materialized to a Redis of this module's own (another module's
    newer snapshot in a shared Redis would refuse it), the BentoML service over HTTP (as
    `ecom serve` runs it) and, in-process, the service's request logic to inspect."""
    from ecom.churn import models as churn_models
    from ecom.churn import training
    from ecom.features import store as features
    from ecom.services import ensure_services, stop_services
    from ecom.serving.predictions import ChurnServing
    from ecom.stages import score_stage

    settings, endpoints, _ = campaign
    frame = features.training_frame(settings, endpoints)
    columns = features.feature_service_columns(settings, endpoints)
    churn = training.train_on_frame(settings, frame, columns, candidates=(churn_models.XGB_PLAIN,))
    assert churn.promoted, churn.decision.reason
    redis_home = Settings(_env_file=None).with_overrides(
        home=tmp_path_factory.mktemp("uplift_redis"),
        database_url=endpoints.database_url,
        redis_url=None,
    )
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(stop_services, redis_home, purge=True)
        redis_url = ensure_services(redis_home).redis_url
        settings = settings.with_overrides(redis_url=redis_url)
        endpoints = Endpoints(endpoints.database_url, redis_url, embedded=False)
        env = {**os.environ, **connection_env(endpoints.database_url, redis_url, settings)}
        env.pop("ECOM_API_KEY", None)
        # Starting takes as long as scoring and materializing: do them meanwhile (the service
        # re-reads the snapshot every second).
        client = start_churn_api(cleanup, {**env, "ECOM_SERVING_REFRESH_SECONDS": "1"})
        scored = score_stage(settings, endpoints, max_contacts=10**9)
        features.materialize_features(settings, endpoints)
        gc.unfreeze()  # what the service freezes is then its own doing
        serving = ChurnServing(settings, endpoints, watch=False)
        cleanup.callback(serving.close)
        wait_for(client, "/readyz", 300)
        yield settings, endpoints, scored, serving, client


def _batch_decisions(settings: Settings, endpoints: Endpoints, users: list[int]):
    """What the retention list computed for `users`: `contact_decisions` through econml (the
    uplift champion as logged) on their scoring rows and the churn scores batch stored."""
    from ecom.churn.predict import Economics
    from ecom.churn.scoring import read_scores, read_scoring_features, snapshot_date
    from ecom.targeting.registry import load_uplift_champion

    features = read_scoring_features(endpoints.database_url)
    scores = read_scores(endpoints.database_url, snapshot_date(features))
    chosen = features[features["user_id"].isin(users)].reset_index(drop=True)
    churn = chosen[["user_id"]].merge(scores, on="user_id", how="left")["churn_probability"]
    model, _ = load_uplift_champion(settings)
    economics = Economics(settings.customer_ltv, settings.win_back_rate, settings.contact_cost)
    decisions = contact_decisions(chosen, churn.to_numpy(), economics, model, intervals=False)
    return {
        int(user): (effect, value, bool(contact))
        for user, effect, value, contact in zip(
            chosen["user_id"],
            decisions.estimated_effect,
            decisions.expected_incremental_value,
            decisions.contact_recommended,
            strict=True,
        )
    }


def test_the_service_freezes_its_heap_so_no_full_collection_stalls_requests(served) -> None:
    """A full garbage collection of the served process walked ~470k long-lived objects (about
    240 ms) while every request waited: p99 near 200 ms in wrk windows that met one. The
    service freezes what it loaded at start-up, so collections walk only what requests make."""
    assert gc.get_freeze_count() > 100_000
    gc.collect()
    assert gc.get_freeze_count() > 100_000  # a full pass leaves the frozen heap alone


def test_predict_over_http_gives_the_retention_lists_effect_and_decision(served, trained) -> None:
    """Online equals batch, over HTTP: for users on the list and off it, `/predict` (the uplift
    fast path) returns the list's row (econml's effect, incremental value, basis and version)
    and batch `contact_decisions`' effect, value and decision, to 1e-9; and recommends exactly
    the listed users."""
    settings, endpoints, scored, serving, client = served
    assert scored.targets.list_basis == UPLIFT_BASIS
    # Online answers through the boosters (proved at load); the list through econml.
    assert serving.uplift.model.engine == BOOSTERS, serving.uplift.model.failures
    assert serving.uplift.model.rows_checked > 2  # real scoring rows too, not only blanks
    listed = fetch_all(
        endpoints.database_url,
        "select user_id, list_basis, estimated_effect, expected_incremental_value, "
        "uplift_model_version from analytics.retention_targets where scoring_date = %s "
        "order by target_rank",
        (scored.targets.scoring_date,),
    )
    assert len(listed) > 10, scored.targets.summary_line()
    off_list = fetch_all(
        endpoints.database_url,
        "select user_id from analytics.mart_churn_scoring where user_id not in "
        "(select user_id from analytics.retention_targets) order by user_id limit 3",
    )
    rows = {row[0]: row[1:] for row in [*listed[:3], *listed[-2:]]}
    users = [*rows, *(user for (user,) in off_list)]
    batch = _batch_decisions(settings, endpoints, users)
    assert set(batch) == set(users)
    answers = {}
    for user in users:
        response = client.post("/predict", json={"user_id": user})
        assert response.status_code == 200, response.text
        answers[user] = response.json()
    for user, (basis, effect, value, version) in rows.items():
        answer = answers[user]
        assert (answer["list_basis"], answer["uplift_model_version"]) == (basis, version), answer
        assert abs(answer["estimated_effect"] - effect) <= 1e-9, (user, answer, effect)
        assert abs(answer["expected_incremental_value"] - value) <= 1e-9, (user, answer, value)
        assert answer["contact_recommended"], answer
    assert {version for *_, version in rows.values()} == {trained.model_version}
    for user in users:
        answer, (effect, value, contact) = answers[user], batch[user]
        assert answer["list_basis"] == UPLIFT_BASIS, answer
        assert abs(answer["estimated_effect"] - effect) <= 1e-9, (user, answer, effect)
        assert abs(answer["expected_incremental_value"] - value) <= 1e-9, (user, answer, value)
        assert answer["contact_recommended"] is contact is (user in rows), (user, answer)


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


def test_the_pipeline_plants_a_campaign_only_when_asked(ecom_settings, tmp_path) -> None:
    """`ecom pipeline --campaign` (what `make demo` passes) generates its world with a
    campaign, and says so before it does; without the flag the world has none."""
    from ecom.stages import Generation, generation_notice, load_stage

    with private_database(ecom_settings, "uplift_demo") as (settings, endpoints):
        for campaign in (True, False):
            folder = tmp_path / f"campaign_{campaign}"
            generation = Generation(1500, 3, generate=True, campaign=campaign)
            notice = generation_notice(folder, generation)
            assert ("planted retention campaign" in notice) is campaign, notice
            load_stage(settings, endpoints, folder, generation)
            assert (folder / "campaign_contacts.csv").exists() is campaign
