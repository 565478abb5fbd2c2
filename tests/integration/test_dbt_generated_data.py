"""dbt on a small generated TheLook world (2,000 users): everything builds and every test passes,
and the churn marts keep the shared contract on realistic data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecom.config import Settings
from ecom.db import fetch_all
from ecom.services import Endpoints
from ecom.synth import generate_dataset
from ecom.transform import DbtRunSummary, build_warehouse
from tests.integration.dbt_databases import load_directory, private_database

pytestmark = pytest.mark.integration

END_DATE = dt.date(2025, 6, 2)
MARTS = (
    "mart_funnel",
    "mart_retention",
    "mart_rfm",
    "mart_churn_features",
    "mart_churn_labels",
    "mart_churn_scoring",
    "mart_churn_seasonal_features",
)


@pytest.fixture(scope="module")
def generated_warehouse(
    ecom_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Endpoints, DbtRunSummary]]:
    data_dir = Path(tmp_path_factory.mktemp("thelook_2k"))
    generate_dataset(2_000, 11, data_dir, END_DATE, progress=False)
    with private_database(ecom_settings, "dbt_gen") as (settings, endpoints):
        load_directory(endpoints, data_dir)
        yield endpoints, build_warehouse(settings, endpoints)


def _one(endpoints: Endpoints, sql: str) -> tuple:
    (row,) = fetch_all(endpoints.database_url, sql)
    return row


def test_every_model_and_test_succeeds(generated_warehouse) -> None:
    _, summary = generated_warehouse
    assert summary.success and not summary.failed_nodes
    statuses = summary.counts()
    assert statuses.get("success", 0) >= 20 and statuses.get("pass", 0) >= 100
    for mart in MARTS:
        assert summary.node(mart).rows, f"{mart} built no rows"


def test_churn_cutoffs_follow_the_contract(generated_warehouse) -> None:
    endpoints, _ = generated_warehouse
    cutoffs, first, last, mondays = _one(
        endpoints,
        """select count(distinct cutoff_date), min(cutoff_date), max(cutoff_date),
                  bool_and(extract(isodow from cutoff_date) = 1)
           from analytics.mart_churn_features""",
    )
    assert cutoffs == 26 and mondays
    assert (last - first).days == 25 * 7
    # Every timestamp is before END_DATE, so the scoring date is END_DATE itself (a Monday).
    as_of, distinct_dates = _one(
        endpoints,
        "select min(cutoff_date), count(distinct cutoff_date) from analytics.mart_churn_scoring",
    )
    assert distinct_dates == 1 and as_of <= END_DATE and last <= as_of
    label_last, label_cutoffs = _one(
        endpoints,
        "select max(cutoff_date), count(distinct cutoff_date) from analytics.mart_churn_labels",
    )
    assert label_last + dt.timedelta(days=30) <= END_DATE
    assert label_cutoffs == 26 - 5  # the 4-5 newest weekly cutoffs lack a 30-day horizon


def test_seasonal_cutoffs_sit_a_year_back_apart_from_training(generated_warehouse) -> None:
    """The drift alarm's same-season history: in each of the three previous years, 18 Mondays
    ending two weeks after the scoring week's Monday that many years (52 weeks each) earlier,
    in their own mart, never among the training cutoffs or labels."""
    endpoints, _ = generated_warehouse
    cutoffs, first, last, mondays = _one(
        endpoints,
        """select count(distinct cutoff_date), min(cutoff_date), max(cutoff_date),
                  bool_and(extract(isodow from cutoff_date) = 1)
           from analytics.mart_churn_seasonal_features""",
    )
    (as_of,) = _one(endpoints, "select max(cutoff_date) from analytics.mart_churn_scoring")
    anchor = as_of - dt.timedelta(days=as_of.weekday())
    assert (cutoffs, mondays) == (3 * 18, True)
    assert last == anchor - dt.timedelta(days=364 - 14)
    assert first == anchor - dt.timedelta(days=3 * 364 - 14 + 17 * 7)
    shared = _one(
        endpoints,
        """select count(*) from analytics.mart_churn_seasonal_features s
           where exists (select 1 from analytics.mart_churn_features f
                         where f.cutoff_date = s.cutoff_date)
              or exists (select 1 from analytics.mart_churn_labels l
                         where l.cutoff_date = s.cutoff_date)""",
    )[0]
    assert shared == 0


def test_labels_cover_exactly_the_labelled_feature_rows(generated_warehouse) -> None:
    endpoints, _ = generated_warehouse
    missing, churn_rate = _one(
        endpoints,
        """select count(*) filter (where l.user_id is null), avg(l.churned)
           from analytics.mart_churn_features f
           left join analytics.mart_churn_labels l using (user_id, cutoff_date)
           where f.cutoff_date <= (select max(cutoff_date) from analytics.mart_churn_labels)""",
    )
    assert missing == 0
    assert 0.2 < float(churn_rate) < 0.98  # neither nobody nor everybody churns


def test_funnel_is_monotone_and_dimensions_add_up(generated_warehouse) -> None:
    endpoints, _ = generated_warehouse
    rows, not_monotone = _one(
        endpoints,
        """select count(*), count(*) filter (where not (viewed >= carted and carted >= purchased))
           from analytics.mart_funnel""",
    )
    assert rows > 0 and not_monotone == 0, (
        f"{not_monotone} of {rows} rows not viewed >= carted >= purchased"
    )
    mismatches = _one(
        endpoints,
        """with per_dimension as (
               select funnel_level, period_grain, period_start, dimension,
                      sum(viewed) as viewed, sum(carted) as carted, sum(purchased) as purchased
               from analytics.mart_funnel group by 1, 2, 3, 4)
           select count(*) from per_dimension a
           join per_dimension b using (funnel_level, period_grain, period_start)
           where a.dimension = 'all'
             and (a.viewed, a.carted, a.purchased) <> (b.viewed, b.carted, b.purchased)""",
    )[0]
    assert mismatches == 0
    session_rate, user_rate = _one(
        endpoints,
        """select sum(purchased) filter (where funnel_level = 'session')::float
                  / sum(viewed) filter (where funnel_level = 'session'),
                  sum(purchased) filter (where funnel_level = 'user')::float
                  / sum(viewed) filter (where funnel_level = 'user')
           from analytics.mart_funnel where dimension = 'all' and period_grain = 'week'""",
    )
    assert 0 < session_rate < 1 and 0 < user_rate < 1
