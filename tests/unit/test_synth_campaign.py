"""The planted retention campaign: randomized, consistent with the data, effects as designed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecom.synth import generate_dataset
from ecom.synth.campaign import CampaignPlan, load_campaign_truth
from ecom.thelook import CAMPAIGN_CONTACTS
from tests.synth_worlds import generated_world

END_DATE = dt.date(2025, 11, 24)
USERS = 4_000


@pytest.fixture(scope="module")
def campaign_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_world(
        tmp_path_factory, "campaign", USERS, 5, END_DATE, campaign=CampaignPlan()
    )


def _orders(data_dir: Path) -> pd.DataFrame:
    orders = pd.read_csv(data_dir / "orders.csv", usecols=["user_id", "created_at"])
    orders["created_at"] = pd.to_datetime(orders["created_at"].str.slice(0, 26))
    return orders


def test_contacts_are_a_randomized_campaign(campaign_dir: Path) -> None:
    contacts = pd.read_csv(campaign_dir / CAMPAIGN_CONTACTS.csv_name)
    assert contacts.columns.tolist() == CAMPAIGN_CONTACTS.column_names
    assert not contacts.duplicated(["campaign_id", "user_id"]).any()
    assert contacts["user_id"].between(1, USERS).all()
    assert set(contacts["variant"]) == {"control", "treatment"}
    assert (contacts.loc[contacts["variant"] == "control", "cost"] == 0).all()
    truth = load_campaign_truth(campaign_dir)
    assert len(truth) == len(contacts) and truth["campaign_id"].nunique() == 3
    for _, campaign in truth.groupby("campaign_id"):
        share = float(campaign["propensity"].iloc[0])
        treated = (campaign["variant"] == "treatment").mean()
        assert abs(treated - share) < 4 * np.sqrt(share * (1 - share) / len(campaign))
        # Contacts go out at midnight UTC on a Monday (a churn cutoff).
        assert campaign["contacted_at"].iloc[0].weekday() == 0


def test_the_data_shows_each_users_own_potential_outcome(campaign_dir: Path) -> None:
    truth = load_campaign_truth(campaign_dir)
    orders = _orders(campaign_dir)
    joined = truth.merge(orders, on="user_id", how="left")
    in_horizon = (joined["created_at"] >= joined["contacted_at"]) & (
        joined["created_at"] < joined["contacted_at"] + pd.Timedelta(days=30)
    )
    observed = in_horizon.groupby([joined["campaign_id"], joined["user_id"]]).any()
    truth = truth.set_index(["campaign_id", "user_id"])
    expected = np.where(truth["variant"] == "treatment", truth["y1"], truth["y0"])
    assert (observed.loc[truth.index].to_numpy() == expected).all()
    assert orders.groupby("user_id").size().max() <= 4  # TheLook's cap holds after win-backs


def test_effects_follow_the_segments(campaign_dir: Path) -> None:
    truth = load_campaign_truth(campaign_dir)
    by_segment = truth.groupby("segment")["true_effect"]
    assert (by_segment.max()["loyal"], by_segment.min()["loyal"]) == (0.0, 0.0)
    assert by_segment.max()["sleeping_dog"] <= 0 and by_segment.mean()["sleeping_dog"] < -0.05
    assert by_segment.mean()["lapsed"] > 0.1
    realised = truth["y1"].astype(int) - truth["y0"].astype(int)
    assert realised.mean() == pytest.approx(truth["true_effect"].mean(), abs=0.04)


def test_without_effect_the_world_is_the_one_without_a_campaign(tmp_path: Path) -> None:
    """The power check's world: contacts are randomized but change nothing."""
    none, zero = tmp_path / "none", tmp_path / "zero"
    generate_dataset(1_500, 9, none, END_DATE, progress=False)
    generate_dataset(1_500, 9, zero, END_DATE, progress=False, campaign=CampaignPlan(0.0))
    for name in ("orders.csv", "order_items.csv", "events.csv"):
        assert (none / name).read_bytes() == (zero / name).read_bytes(), name
    truth = load_campaign_truth(zero)
    assert (truth["y1"] == truth["y0"]).all() and (truth["true_effect"] == 0).all()
    assert not (none / CAMPAIGN_CONTACTS.csv_name).exists()


def test_ecom_generate_plants_a_campaign_only_when_asked(tmp_path: Path) -> None:
    """The churn oracle does not model the campaign's effect, so `ecom generate` without a
    campaign flag must write the pipeline's world; a later run without one drops the earlier
    run's contacts and campaign truth rather than leave them beside another world."""
    import json

    from typer.testing import CliRunner

    from ecom.cli.main import app
    from ecom.synth.campaign import CAMPAIGN_PLAN_FILE, CAMPAIGN_TRUTH_FILE
    from ecom.synth.truth import TRUTH_DIR

    runner = CliRunner()
    out = tmp_path / "world"
    base = ["generate", "--users", "400", "--seed", "3", "--end-date", "2025-11-24"]
    contacts, truth = out / CAMPAIGN_CONTACTS.csv_name, out / TRUTH_DIR / CAMPAIGN_TRUTH_FILE

    done = runner.invoke(app, [*base, "--out", str(tmp_path / "plain")])
    assert done.exit_code == 0, done.output
    assert not (tmp_path / "plain" / CAMPAIGN_CONTACTS.csv_name).exists()

    done = runner.invoke(app, [*base, "--out", str(out), "--campaign-effect", "0.5"])
    assert done.exit_code == 0, done.output
    assert contacts.is_file() and truth.is_file()
    plan = json.loads((out / TRUTH_DIR / CAMPAIGN_PLAN_FILE).read_text())["plan"]
    assert plan["effect_scale"] == 0.5

    done = runner.invoke(app, [*base, "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert not contacts.exists() and not truth.exists()
    for name in ("orders.csv", "events.csv"):
        assert (out / name).read_bytes() == (tmp_path / "plain" / name).read_bytes(), name

    done = runner.invoke(app, [*base, "--out", str(out), "--campaign"])
    assert done.exit_code == 0, done.output
    assert (
        json.loads((out / TRUTH_DIR / CAMPAIGN_PLAN_FILE).read_text())["plan"]["effect_scale"]
        == 1.0
    )

    refused = runner.invoke(
        app, [*base, "--out", str(tmp_path / "tl"), "--profile", "thelook", "--campaign"]
    )
    assert refused.exit_code != 0 and "campaign" in refused.output, refused.output
