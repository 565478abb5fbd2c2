"""The dashboards' SQL, the rendered report and Metabase provisioning, on the tiny fixture.

The cards run against marts dbt built from tests/fixtures/thelook_tiny (see
test_dbt_tiny_fixture.py for the fixture's story), so their figures are checked by hand. No
churn scores exist here: the report must say so instead of drawing empty charts. The page is
opened in real headless Chromium; provisioning runs against FakeMetabase, a fake of
Metabase's API (Metabase itself cannot run on these machines).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import numpy as np
import pytest
from plotly.offline import get_plotlyjs

from ecom.config import Settings
from ecom.db import fetch_all, read_query_frame
from ecom.reports import analytics
from ecom.reports.browser import check_page
from ecom.reports.dashboards import load_dashboards, run_card
from ecom.reports.metabase import AdminAccount, MetabaseClient, MetabaseError, provision
from ecom.reports.page import write_report
from ecom.services import Endpoints
from ecom.transform import dbt_paths
from tests.experiment_files import analysed, lift_reading
from tests.integration.dbt_databases import TINY_FIXTURE, load_directory, private_database
from tests.integration.fake_metabase import FakeMetabase

pytestmark = pytest.mark.integration

D = dt.date
REPORT_MARTS = (
    "+mart_funnel +mart_retention +mart_rfm +stg_thelook__experiment_assignments"
    " +mart_experiment_results +int_events_sequenced +int_events_sequenced_patterns"
)
# Cards that need scores or an uplift champion, which the tiny fixture has not: the e2e test
# draws the score cards, tests/integration/test_uplift.py the targeting ones.
SCORE_CARDS = {
    "risk_distribution",
    "risk_by_traffic_source",
    "retention_targets",
    "uplift_qini_curve",
    "uplift_policy_value",
    "retention_list_basis",
}
ADMIN = AdminAccount("analyst@example.com", "not-a-real-secret-1")
# How Metabase in docker compose reaches the warehouse; only handed to (fake) Metabase.
WAREHOUSE_URL = "postgresql://ecom:compose-password@postgres:5432/ecom"


@pytest.fixture(scope="module")
def report_warehouse(ecom_settings: Settings) -> Iterator[tuple[Settings, Endpoints]]:
    with private_database(ecom_settings, "reports") as (settings, endpoints):
        load_directory(endpoints, TINY_FIXTURE)
        from ecom.transform import build_warehouse

        summary = build_warehouse(settings, endpoints, select=REPORT_MARTS)
        assert summary.success, summary.failed_nodes
        yield settings, endpoints


def _cards() -> dict:
    return {card.key: card for dashboard in load_dashboards() for card in dashboard.cards}


def _records(endpoints: Endpoints, key: str) -> list[tuple]:
    frame = run_card(endpoints.database_url, _cards()[key])
    return [tuple(row) for row in frame.itertuples(index=False)]


def test_every_card_reads_the_columns_its_chart_draws(report_warehouse) -> None:
    _, endpoints = report_warehouse
    cards = _cards()
    assert len(cards) == 17
    for key, card in cards.items():
        if key in SCORE_CARDS:
            continue  # no scores or uplift champion on the tiny fixture
        frame = run_card(endpoints.database_url, card)
        chart = card.chart
        wanted = {
            c for c in (chart.x, chart.z, chart.color, chart.low, chart.high, *chart.y_columns) if c
        }
        assert wanted <= set(frame.columns), f"{key} lacks {wanted - set(frame.columns)}"
        assert not frame.empty, key


def test_funnel_cards_match_hand_count(report_warehouse) -> None:
    _, endpoints = report_warehouse
    # Session funnel over the three weeks: 7 sessions viewed, 5 carted, 3 purchased.
    assert _records(endpoints, "funnel_steps") == [
        (1, "Product view", 7),
        (2, "Add to cart", 5),
        (3, "Purchase", 3),
    ]
    by_source = {row[0]: row[1:] for row in _records(endpoints, "conversion_by_traffic_source")}
    assert by_source == {
        "Email": (2, 1, 0.5),  # s1 converts, s7 only views
        "Organic": (2, 1, 0.5),  # s2 carts only, s3 converts
        "Facebook": (1, 1, 1.0),
        "YouTube": (1, 0, 0.0),
        "Adwords": (1, 0, 0.0),
    }
    weekly = _records(endpoints, "conversion_over_time")
    assert [(row[0], row[3]) for row in weekly] == [
        (D(2024, 1, 1), 4),
        (D(2024, 1, 8), 2),
        (D(2024, 1, 15), 1),
    ]


def test_the_ad_hoc_funnel_card_is_drawn_from_the_report_funnel_unchanged(report_warehouse) -> None:
    """The page counts the funnel over every event once and draws the ad-hoc funnel card from
    that count: the rows must be the card's own SQL's, value for value and type for type."""
    _, endpoints = report_warehouse
    card = _cards()["ad_hoc_funnel"]
    profile = analytics.report_profile(endpoints.database_url)
    answered = analytics.answered_cards(profile, [card])[card.key]
    from_sql = run_card(endpoints.database_url, card)
    assert answered.to_dict("list") == from_sql.to_dict("list")
    assert from_sql["sessions"].tolist()[0] > 0
    # Another window is another question: the card then runs its own SQL.
    wider = card.model_copy(
        update={
            "parameters": [
                p.model_copy(update={"default": "48"}) if p.name == "window_hours" else p
                for p in card.parameters
            ]
        }
    )
    assert analytics.answered_cards(profile, [wider]) == {}


def test_retention_and_experiment_cards_match_hand_count(report_warehouse) -> None:
    _, endpoints = report_warehouse
    session = _records(endpoints, "session_retention_heatmap")
    # First-session cohort of 01-01 (users 1 and 2): user 1 is back in week 2.
    jan1 = {row[1]: row[3] for row in session if row[0] == D(2024, 1, 1)}
    assert [jan1[week] for week in range(4)] == [2, 0, 1, 0]
    purchase = _records(endpoints, "purchase_retention_heatmap")
    assert {row[0] for row in purchase} == {D(2024, 1, 1), D(2024, 1, 8), D(2024, 2, 5)}
    curves = {(row[0], row[1]): row[2] for row in _records(endpoints, "retention_curves")}
    assert curves[("session", 0)] == curves[("purchase", 0)] == 1.0
    assert _records(endpoints, "assignment_counts") == [
        ("checkout_button_2024", "control", 2, 0.5),
        ("checkout_button_2024", "treatment", 2, 0.5),
    ]
    assert _records(endpoints, "srm_status") == [("checkout_button_2024", 2, 2, 0.5, 0.0, "ok")]


def test_lift_card_matches_the_results_mart_recounted(report_warehouse) -> None:
    """Each metric's difference and Welch interval, recomputed in pandas from the mart's rows."""
    _, endpoints = report_warehouse
    results = read_query_frame(
        endpoints.database_url, "select * from analytics.mart_experiment_results"
    )
    assert len(results) == 4, "the fixture's four exposed users"
    lift = {
        row.metric: row
        for row in run_card(endpoints.database_url, _cards()["lift_by_metric"]).itertuples()
    }
    assert set(lift) == {"checkout_conversion", "revenue_per_user", "cart_to_purchase_per_session"}
    arms = {variant: rows for variant, rows in results.groupby("variant")}
    revenue = {variant: rows["revenue"].astype(float) for variant, rows in arms.items()}
    difference = revenue["treatment"].mean() - revenue["control"].mean()
    error = np.sqrt(sum(values.var(ddof=1) / len(values) for values in revenue.values()))
    row = lift["revenue_per_user"]
    assert row.difference == pytest.approx(difference)
    assert row.difference_low == pytest.approx(difference - 1.96 * error)
    assert row.relative_lift == pytest.approx(difference / revenue["control"].mean())
    sessions = {
        variant: rows["purchase_sessions"].sum() / rows["cart_sessions"].sum()
        for variant, rows in arms.items()
    }
    assert lift["cart_to_purchase_per_session"].treatment_mean == pytest.approx(
        sessions["treatment"]
    )
    assert lift["cart_to_purchase_per_session"].control_mean == pytest.approx(sessions["control"])


def test_assignment_cards_match_hand_count(report_warehouse) -> None:
    _, endpoints = report_warehouse
    assert _records(endpoints, "assignments_over_time") == [
        (D(2024, 1, 1), "control", 1),
        (D(2024, 1, 1), "treatment", 1),
        (D(2024, 1, 8), "control", 1),
        (D(2024, 1, 8), "treatment", 1),
    ]


def test_report_says_what_is_missing_and_renders_in_chromium(report_warehouse, tmp_path) -> None:
    settings, endpoints = report_warehouse
    # No analysis where the experiment stage writes (not the checkout's reports/ of a demo).
    settings = settings.with_overrides(reports_dir=tmp_path / "analysis")
    summary = write_report(settings, endpoints, tmp_path / "reports")
    page = summary.page.read_text()
    # plotly.js is inline, once; outside it nothing is fetched (check_page below also fails on
    # any request the page makes).
    assert page.count(get_plotlyjs()) == 1
    ours = page.replace(get_plotlyjs(), "")
    assert "<script src=" not in ours and 'src="http' not in ours
    assert "No experiment analysed yet" in page
    assert "run `ecom score`" in page
    assert "run `ecom uplift train`" in page  # no uplift champion: the panel says what fills it
    missing = " ".join(summary.missing)
    for card in (
        "Churn risk distribution",
        "Retention target list",
        "experiment lift",
        "Qini curve of the uplift champion",
        "Incremental conversions by budget and policy",
    ):
        assert card in missing
    drawn = {f"chart-{key}" for key in _cards()} - {f"chart-{key}" for key in SCORE_CARDS}
    assert drawn <= set(summary.charts)
    assert {path.name for path in summary.images} >= {f"{key[6:]}.png" for key in drawn}

    check = check_page(summary.page, tmp_path / "screenshot.png")
    assert check.problems == []
    assert drawn <= set(check.charts)
    assert check.screenshot is not None and check.screenshot.stat().st_size > 20_000


def test_report_draws_lift_with_intervals_from_an_analysis_file(report_warehouse, tmp_path) -> None:
    settings, endpoints = report_warehouse
    reports = tmp_path / "reports"
    reports.mkdir()

    metrics = [
        {
            "name": "checkout_conversion",
            "plain": lift_reading(0.1, 0.01, 0.19, 0.03),
            "cuped": lift_reading(0.097, 0.021, 0.178, 0.012),
        },
        {
            "name": "revenue_per_user",
            "plain": lift_reading(0.02, -0.05, 0.09, 0.6),
            "cuped": lift_reading(0.015, -0.04, 0.07, 0.6),
        },
    ]
    (reports / "experiment_checkout_button_2024.json").write_text(
        json.dumps(analysed("checkout_button_2024", metrics, srm={"pvalue": 0.61, "passed": True}))
    )
    # The page goes elsewhere (`ecom report --out DIR`): it still reads the analysis from where
    # the analysis writes it (ECOM_REPORTS_DIR), not from its own folder.
    out = tmp_path / "elsewhere"
    summary = write_report(settings.with_overrides(reports_dir=reports), endpoints, out)
    assert "chart-experiment_lift" in summary.charts
    assert (out / "img" / "experiment_lift.png").stat().st_size > 5_000
    page = summary.page.read_text()
    assert "No experiment analysed yet" not in page
    assert "checkout_button_2024: checkout_conversion" in page
    check = check_page(summary.page)
    assert check.problems == []
    assert check.charts["chart-experiment_lift"]


def _warehouse_tables(endpoints: Endpoints) -> dict[tuple[str, str], list[str]]:
    rows = fetch_all(
        endpoints.database_url,
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_schema in ('analytics', 'staging') order by ordinal_position",
    )
    tables: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in rows:
        tables.setdefault((schema, table), []).append(column)
    return tables


def test_provisioning_creates_once_then_updates_in_place(report_warehouse) -> None:
    settings, endpoints = report_warehouse
    manifest = dbt_paths(settings)[0] / "manifest.json"
    assert manifest.exists()
    dashboards = load_dashboards()
    with FakeMetabase(_warehouse_tables(endpoints)) as fake:
        client = MetabaseClient(fake.url)
        try:
            first = provision(client, ADMIN, WAREHOUSE_URL, dashboards, manifest)
        finally:
            client.close()
        state = fake.state
        assert first.admin_created and state.admin["email"] == ADMIN.email
        assert first.created == {"databases": 1, "collections": 1, "cards": 17, "dashboards": 5}
        (database,) = state.databases.values()
        assert database["engine"] == "postgres"
        assert database["details"]["host"] == "postgres" and database["details"]["dbname"] == "ecom"
        names = {d["name"]: d for d in state.dashboards.values()}
        assert set(names) == {
            "Funnel",
            "Retention",
            "Churn risk",
            "Retention targeting",
            "Experiments",
        }
        retention_cards = {
            state.cards[dc["card_id"]]["name"] for dc in names["Retention"]["dashcards"]
        }
        assert "Session retention by first-session cohort" in retention_cards
        # The uplift charts: one line per ranking, one bar group per policy with its bounds.
        targeting = {
            state.cards[dc["card_id"]]["name"]: state.cards[dc["card_id"]]
            for dc in names["Retention targeting"]["dashcards"]
        }
        qini = targeting["Qini curve of the uplift champion"]
        assert qini["display"] == "line"
        assert qini["visualization_settings"]["graph.dimensions"] == ["share_contacted", "ranking"]
        policy = targeting["Incremental conversions by budget and policy"]
        assert policy["display"] == "bar"
        assert policy["visualization_settings"]["graph.metrics"] == [
            "incremental_conversions_ipw_low",
            "incremental_conversions_ipw",
            "incremental_conversions_ipw_high",
        ]
        sqls = {
            card["name"]: card["dataset_query"]["native"]["query"] for card in state.cards.values()
        }
        assert "retention_event = 'session'" in sqls["Session retention by first-session cohort"]
        # dbt's descriptions reached the synced marts and their columns.
        tables = {t["name"]: t for t in state.tables.values()}
        assert "retention_event" in tables["mart_retention"]["description"]
        fields = {
            (state.tables[f["table_id"]]["name"], f["name"]): f["description"]
            for f in state.fields.values()
        }
        assert "fixed bins" in fields[("mart_rfm", "f_score")]
        assert first.descriptions_pushed > 20
        dashcard_ids = {
            d["name"]: sorted(dc["id"] for dc in d["dashcards"]) for d in names.values()
        }

        fake.state.requests.clear()
        client = MetabaseClient(fake.url)
        try:
            second = provision(client, ADMIN, WAREHOUSE_URL, dashboards, manifest)
        finally:
            client.close()
        assert not second.admin_created
        assert second.created == {}
        assert second.updated == {"databases": 1, "cards": 17, "dashboards": 5}
        assert second.descriptions_pushed == 0
        assert fake.calls("POST", "/api/setup") == []
        assert fake.calls("POST", "/api/(card|dashboard|collection|database)") == []
        assert len(state.cards) == 17 and len(state.dashboards) == 5
        again = {
            d["name"]: sorted(dc["id"] for dc in d["dashcards"]) for d in state.dashboards.values()
        }
        assert again == dashcard_ids  # the same dashcards, moved in place, not re-added


def test_a_failed_metabase_call_names_method_path_and_status() -> None:
    with FakeMetabase() as fake:
        client, other = MetabaseClient(fake.url), MetabaseClient(fake.url)
        try:
            with pytest.raises(MetabaseError, match=r"GET /api/card answered 401"):
                client.call("GET", "/api/card")
            assert client.authenticate(ADMIN)  # a fresh instance: creates the admin
            wrong = AdminAccount(ADMIN.email, "a-wrong-password")
            with pytest.raises(MetabaseError, match=r"POST /api/session answered 401"):
                other.authenticate(wrong)
        finally:
            client.close()
            other.close()
