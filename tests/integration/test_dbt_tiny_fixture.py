"""dbt against the handcrafted TheLook fixture (tests/fixtures/thelook_tiny), figures by hand.

The fixture's story (all times UTC, January to March 2024, Mondays start weeks):
  s1  user 1 Chrome  01-01  view 10:05, cart 10:10, purchase 10:20         -> converts in 15 min
  s2  user 2 Firefox 01-02  view 09:00, cart 09:30                          -> carts only
  s3  user 2 Firefox 01-02  view 20:00, cart 20:10, purchase 20:40          -> converts in 40 min
  s4  anonymous Safari 01-03  view 12:00, cart 12:05                         -> carts only
  s5  user 3 Chrome  01-09  view 08:00, cart 08:05, purchase 08:35          -> converts in 35 min
  s6  user 4 Safari  01-10  department page only                            -> not in the funnel
  s7  user 4 Safari  01-10  view 11:00                                      -> views only
  s8  user 4 Safari  01-11  cart 09:00, purchase 09:20 (no product view)   -> not in the session funnel
  s9  user 1 Chrome  01-15  view 10:00                                      -> views only
  s10 user 1 Chrome  01-16  cart 11:00, purchase 11:10 (25 h after s9)     -> outside the 24 h window
  s11 user 5 Firefox 03-10 12:00 home page: the latest data, so the scoring date is 2024-03-11
Orders: 1 (u1 01-01, 50), 2 (u2 01-02, 100), 3 (u3 01-09, cancelled), 4 (u4 01-11, 60,
returned 01-20), 5 (u1 01-16, 25), 6 (u2 01-22 12:00, 80), 7 (u1 02-05 10:00, 10),
8 (u3 02-06 15:00, 70).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ecom.db import fetch_all, transaction
from ecom.services import Endpoints
from ecom.transform import DbtRunError, build_warehouse, generate_docs
from tests.integration.dbt_databases import TINY_FIXTURE, load_directory, private_database
from tests.integration.pg_catalog import column_types

pytestmark = pytest.mark.integration

D = dt.date


def _rows(endpoints: Endpoints, sql: str, params: tuple = ()) -> list[tuple]:
    return fetch_all(endpoints.database_url, sql, params)


def test_build_runs_models_unit_tests_and_data_tests(tiny_warehouse) -> None:
    _, _, summary = tiny_warehouse
    assert summary.success and not summary.failed_nodes
    kinds = {node.resource_type for node in summary.nodes}
    assert {"model", "test", "unit_test"} <= kinds
    assert summary.node("assert_churn_features_use_only_data_before_cutoff").status == "pass"
    assert summary.node("assert_churn_labels_have_complete_horizon").status == "pass"
    assert summary.node("mart_funnel").rows == 83
    assert summary.node("one_order_customers_share_an_f_score").status == "pass"
    assert summary.node("assert_rfm_same_frequency_same_f_score").status == "pass"


FUNNEL_ALL = {
    # (level, grain, period): (viewed, carted, purchased, median minutes, mean minutes)
    ("session", "day", D(2024, 1, 1)): (1, 1, 1, 15.0, 15.0),
    ("session", "day", D(2024, 1, 2)): (2, 2, 1, 40.0, 40.0),
    ("session", "day", D(2024, 1, 3)): (1, 1, 0, None, None),
    ("session", "day", D(2024, 1, 9)): (1, 1, 1, 35.0, 35.0),
    ("session", "day", D(2024, 1, 10)): (1, 0, 0, None, None),
    ("session", "day", D(2024, 1, 15)): (1, 0, 0, None, None),
    ("session", "week", D(2024, 1, 1)): (4, 4, 2, 27.5, 27.5),
    ("session", "week", D(2024, 1, 8)): (2, 1, 1, 35.0, 35.0),
    ("session", "week", D(2024, 1, 15)): (1, 0, 0, None, None),
    # user level: user 2 enters at 09:00 and buys at 20:40 (700 min); user 4 enters 01-10 11:00
    # and buys the next day 09:20 (1340 min, inside 24 h); user 1's 01-15 view is not followed
    # by a cart within 24 h. The anonymous session s4 has no user.
    ("user", "day", D(2024, 1, 1)): (1, 1, 1, 15.0, 15.0),
    ("user", "day", D(2024, 1, 2)): (1, 1, 1, 700.0, 700.0),
    ("user", "day", D(2024, 1, 9)): (1, 1, 1, 35.0, 35.0),
    ("user", "day", D(2024, 1, 10)): (1, 1, 1, 1340.0, 1340.0),
    ("user", "day", D(2024, 1, 15)): (1, 0, 0, None, None),
    ("user", "week", D(2024, 1, 1)): (2, 2, 2, 357.5, 357.5),
    ("user", "week", D(2024, 1, 8)): (2, 2, 2, 687.5, 687.5),
    ("user", "week", D(2024, 1, 15)): (1, 0, 0, None, None),
}


def test_funnel_step_counts_and_times_match_hand_count(tiny_warehouse) -> None:
    _, endpoints, _ = tiny_warehouse
    rows = _rows(
        endpoints,
        """select funnel_level, period_grain, period_start, viewed, carted, purchased,
                  median_minutes_to_purchase, mean_minutes_to_purchase
           from analytics.mart_funnel where dimension = 'all'""",
    )
    actual = {(r[0], r[1], r[2]): tuple(r[3:]) for r in rows}
    assert actual == FUNNEL_ALL


def test_funnel_periods_are_complete_once_their_window_closed(tiny_warehouse) -> None:
    _, endpoints, _ = tiny_warehouse
    # Every funnel period ends in January; the data runs to 2024-03-10, far past each
    # period's end plus the 24 h window.
    rows = _rows(
        endpoints,
        "select distinct is_complete_period, conversion_window_hours from analytics.mart_funnel",
    )
    assert rows == [(True, 24)]


def test_funnel_rates_and_drop_off(tiny_warehouse) -> None:
    _, endpoints, _ = tiny_warehouse
    (row,) = _rows(
        endpoints,
        """select view_to_cart_rate, cart_to_purchase_rate, overall_conversion_rate,
                  dropped_after_view, dropped_after_cart, view_drop_off_rate, cart_drop_off_rate
           from analytics.mart_funnel
           where funnel_level = 'session' and period_grain = 'week'
             and period_start = '2024-01-08' and dimension = 'all'""",
    )
    assert row == (0.5, 1.0, 0.5, 1, 0, 0.5, 0.0)


def test_funnel_breakdowns_match_hand_count(tiny_warehouse) -> None:
    _, endpoints, _ = tiny_warehouse
    rows = _rows(
        endpoints,
        """select dimension, dimension_value, viewed, carted, purchased
           from analytics.mart_funnel
           where funnel_level = 'session' and period_grain = 'week' and period_start = '2024-01-01'
             and dimension <> 'all'""",
    )
    assert {(r[0], r[1]): tuple(r[2:]) for r in rows} == {
        ("browser", "Chrome"): (1, 1, 1),
        ("browser", "Firefox"): (2, 2, 1),
        ("browser", "Safari"): (1, 1, 0),
        ("traffic_source", "Email"): (1, 1, 1),
        ("traffic_source", "Organic"): (2, 2, 1),
        ("traffic_source", "YouTube"): (1, 1, 0),
        ("country", "United States"): (1, 1, 1),
        ("country", "Brasil"): (2, 2, 1),
        ("country", "Unknown"): (1, 1, 0),
    }


def _retention_table(endpoints: Endpoints) -> dict[tuple, tuple]:
    rows = _rows(
        endpoints,
        """select retention_event, cohort_type, cohort_week, weeks_since, cohort_size,
                  retained_users, retained_users_on_or_after, retention_rate,
                  unbounded_retention_rate, is_complete_period
           from analytics.mart_retention order by 1, 2, 3, 4""",
    )
    return {(r[0], r[1], r[2], r[3]): tuple(r[4:]) for r in rows}


def test_purchase_retention_matches_hand_count(tiny_warehouse) -> None:
    _, endpoints, _ = tiny_warehouse
    table = {
        key[1:]: row for key, row in _retention_table(endpoints).items() if key[0] == "purchase"
    }
    # First-purchase cohort of 2024-01-01: users 1 (purchases in weeks 0, 2, 5) and 2 (0, 3).
    # The data ends on 2024-03-10, so weeks 0..9 exist (week 9 starts 2024-03-04).
    jan1 = [table[("first_purchase", D(2024, 1, 1), week)] for week in range(10)]
    assert [row[1] for row in jan1] == [2, 0, 1, 1, 0, 1, 0, 0, 0, 0]
    assert [row[2] for row in jan1] == [2, 2, 2, 2, 1, 1, 0, 0, 0, 0]
    assert {row[0] for row in jan1} == {2}
    assert jan1[2][3:5] == (0.5, 1.0)
    # Week 9 (2024-03-04..03-10) is still in progress when the data ends at 03-10 12:00.
    assert [row[5] for row in jan1] == [True] * 9 + [False]
    assert ("first_purchase", D(2024, 1, 1), 10) not in table
    # User 3's cancelled order of 01-09 is not a purchase: their first purchase is 02-06.
    assert table[("first_purchase", D(2024, 2, 5), 0)][:3] == (1, 1, 1)
    assert table[("first_purchase", D(2024, 1, 8), 0)][:3] == (1, 1, 1)  # user 4 only
    # Sign-up cohort of 2024-01-08: users 3 (buys in week 4) and 4 (buys in week 0).
    jan8 = [table[("signup", D(2024, 1, 8), week)] for week in range(6)]
    assert [row[1] for row in jan8] == [1, 0, 0, 0, 1, 0]
    assert [row[2] for row in jan8] == [2, 1, 1, 1, 1, 0]
    # User 5 signed up in the week of 01-15 and never bought.
    assert table[("signup", D(2024, 1, 15), 0)][:3] == (1, 0, 0)
    assert {key[:2] for key in table} == {
        ("first_purchase", D(2024, 1, 1)),
        ("first_purchase", D(2024, 1, 8)),
        ("first_purchase", D(2024, 2, 5)),
        ("signup", D(2024, 1, 1)),
        ("signup", D(2024, 1, 8)),
        ("signup", D(2024, 1, 15)),
    }


def test_session_retention_matches_hand_count(tiny_warehouse) -> None:
    _, endpoints, _ = tiny_warehouse
    table = {
        key[1:]: row for key, row in _retention_table(endpoints).items() if key[0] == "session"
    }
    # First-session cohort of 2024-01-01: user 1 (sessions in weeks 0 and 2: s1, s9/s10) and
    # user 2 (week 0 only: s2, s3). The anonymous session s4 belongs to nobody.
    jan1 = [table[("first_session", D(2024, 1, 1), week)] for week in range(10)]
    assert {row[0] for row in jan1} == {2}
    assert [row[1] for row in jan1] == [2, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert [row[2] for row in jan1] == [2, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert jan1[1][3:5] == (0.0, 0.5)
    # Users 3 and 4 were only ever active in the week of 01-08 (user 4's order on 01-11 came
    # with a session, so purchase and session weeks coincide there).
    jan8 = [table[("first_session", D(2024, 1, 8), week)] for week in range(9)]
    assert [row[1] for row in jan8] == [2, 0, 0, 0, 0, 0, 0, 0, 0]
    # User 5's only session (03-10, a Sunday) opens a cohort whose week 0 is still in progress.
    assert table[("first_session", D(2024, 3, 4), 0)] == (1, 1, 1, 1.0, 1.0, False)
    # Signed up in the week of 01-15, user 5 comes back in week 7 (the week of 03-04).
    signup = [table[("signup", D(2024, 1, 15), week)] for week in range(8)]
    assert [row[1] for row in signup] == [0] * 7 + [1]
    assert [row[2] for row in signup] == [1] * 8
    assert ("signup", D(2024, 1, 15), 8) not in table
    # A sign-up cohort is the same set of users for both events.
    assert table[("signup", D(2024, 1, 8), 0)][0] == 2
    assert {key[:2] for key in table} == {
        ("first_session", D(2024, 1, 1)),
        ("first_session", D(2024, 1, 8)),
        ("first_session", D(2024, 3, 4)),
        ("signup", D(2024, 1, 1)),
        ("signup", D(2024, 1, 8)),
        ("signup", D(2024, 1, 15)),
    }


def test_rfm_scores_and_segments(tiny_warehouse) -> None:
    _, endpoints, _ = tiny_warehouse
    rows = _rows(
        endpoints,
        "select user_id, frequency, monetary_value, r_score, f_score, rfm_segment "
        "from analytics.mart_rfm order by user_id",
    )
    # F is the purchase count (fixed bins): users 3 and 4 bought once each and share F1
    # although user 3 spent more; ntile would have split them by spend.
    assert rows == [
        (1, 3, 85.0, 3, 3, "Need Attention"),
        (2, 2, 180.0, 2, 2, "Hibernating"),
        (3, 1, 70.0, 4, 1, "Promising"),
        (4, 1, 60.0, 1, 1, "Lost"),
    ]


def test_churn_features_match_hand_values(tiny_warehouse) -> None:
    _, endpoints, _ = tiny_warehouse
    rows = _rows(
        endpoints,
        """select user_id, frequency_orders, monetary_value, avg_order_value, recency_days,
                  avg_days_between_orders, sessions_count, events_count, product_views,
                  cart_adds, purchase_events, cancelled_orders, returned_orders,
                  days_since_last_session, tenure_days, country
           from analytics.mart_churn_features where cutoff_date = '2024-01-22' order by user_id""",
    )
    by_user = {row[0]: row[1:] for row in rows}
    assert set(by_user) == {1, 2, 3, 4}  # user 5 has no activity before 2024-03-10
    user1 = by_user[1]
    assert user1[:3] == (2, 75.0, 37.5)
    # last order 01-16 11:10 -> 5 days 12 h 50 min before the cutoff
    assert user1[3] == pytest.approx(5 + (12 * 60 + 50) / 1440)
    # orders 01-01 10:20 and 01-16 11:10: 15 days 50 minutes apart
    assert user1[4] == pytest.approx(15 + 50 / 1440)
    assert user1[5:12] == (3, 7, 2, 2, 2, 0, 0)
    assert user1[12] == pytest.approx(5 + (12 * 60 + 50) / 1440)
    assert user1[13:] == (21, "United States")
    # user 3's only order is cancelled: counted as an order, worth nothing, no average
    assert by_user[3][:3] == (1, 0.0, None) and by_user[3][10] == 1
    # user 4's return on 01-20 falls in the window
    assert by_user[4][11] == 1


def test_feature_and_label_cutoffs(tiny_warehouse) -> None:
    _, endpoints, _ = tiny_warehouse
    feature_cutoffs = [
        r[0]
        for r in _rows(
            endpoints, "select distinct cutoff_date from analytics.mart_churn_features order by 1"
        )
    ]
    # Mondays on or before the scoring date 2024-03-11 with someone active in the 60 days before
    assert feature_cutoffs == [D(2024, 1, 8) + dt.timedelta(weeks=k) for k in range(10)]
    labels = _rows(
        endpoints,
        "select cutoff_date, count(*), sum(churned) from analytics.mart_churn_labels "
        "group by 1 order by 1",
    )
    # A horizon must end by 2024-03-10 12:00: the last labelled cutoff is 2024-02-05.
    assert labels == [
        (D(2024, 1, 8), 2, 0),
        (D(2024, 1, 15), 4, 1),
        (D(2024, 1, 22), 4, 1),
        (D(2024, 1, 29), 4, 2),
        (D(2024, 2, 5), 4, 2),
    ]
    churned = _rows(
        endpoints,
        "select user_id, churned, label_horizon_end from analytics.mart_churn_labels "
        "where cutoff_date = '2024-02-05' order by user_id",
    )
    assert [(r[0], r[1]) for r in churned] == [(1, 0), (2, 1), (3, 0), (4, 1)]
    assert {r[2] for r in churned} == {dt.datetime(2024, 3, 6, tzinfo=dt.UTC)}


def test_scoring_mart_is_as_of_the_day_after_the_data(tiny_warehouse) -> None:
    _, endpoints, _ = tiny_warehouse
    rows = _rows(
        endpoints,
        "select user_id, cutoff_date, feature_timestamp, days_since_last_session "
        "from analytics.mart_churn_scoring order by user_id",
    )
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert {r[1] for r in rows} == {D(2024, 3, 11)}
    assert {r[2] for r in rows} == {dt.datetime(2024, 3, 11, tzinfo=dt.UTC)}
    assert rows[4][3] == pytest.approx(0.5)  # user 5's home page visit at 03-10 12:00


def test_marts_have_the_contract_types_and_indexes(tiny_warehouse) -> None:
    _, endpoints, _ = tiny_warehouse
    types = column_types(endpoints.database_url, "analytics", "mart_churn_features")
    assert types["user_id"] == "bigint"
    assert types["cutoff_date"] == "date"
    assert types["feature_timestamp"] == "timestamp with time zone"
    assert types["recency_days"] == types["view_to_cart_rate"] == "double precision"
    assert types["frequency_orders"] == types["tenure_days"] == "integer"
    assert types["traffic_source"] == "text"
    indexed = {
        r[0]
        for r in _rows(
            endpoints,
            "select indexdef from pg_indexes where schemaname = 'analytics' "
            "and tablename = 'mart_churn_features'",
        )
    }
    assert any("(user_id, cutoff_date)" in index and "UNIQUE" in index for index in indexed)
    assert any("(feature_timestamp, user_id)" in index for index in indexed)


def test_docs_generate_writes_a_catalogue(tiny_warehouse) -> None:
    settings, endpoints, _ = tiny_warehouse
    index = generate_docs(settings, endpoints)
    assert index.name == "index.html" and index.exists()
    catalog = json.loads((index.parent / "catalog.json").read_text())
    assert "model.ecom.mart_churn_features" in catalog["nodes"]


def _feature_rows(endpoints: Endpoints) -> dict[tuple[int, dt.date], tuple]:
    rows = _rows(endpoints, "select * from analytics.mart_churn_features")
    return {(row[0], row[1]): row for row in rows}


def test_an_order_after_a_cutoff_changes_no_feature_at_that_cutoff(ecom_settings) -> None:
    with private_database(ecom_settings, "dbt_pit") as (settings, endpoints):
        load_directory(endpoints, TINY_FIXTURE)
        build_warehouse(settings, endpoints, select="+mart_churn_labels")
        before = _feature_rows(endpoints)
        label_before = _rows(
            endpoints,
            "select churned from analytics.mart_churn_labels "
            "where user_id = 4 and cutoff_date = '2024-01-22'",
        )
        assert label_before == [(1,)]

        # User 4 orders exactly at the 2024-01-22 cutoff instant and again three days later.
        with transaction(endpoints.database_url) as cursor:
            cursor.execute(
                """insert into raw.orders (order_id, user_id, status, gender, created_at, num_of_item)
                   values (90, 4, 'Complete', 'M', '2024-01-22 00:00:00+00', 1),
                          (91, 4, 'Complete', 'M', '2024-01-25 08:00:00+00', 1)"""
            )
            cursor.execute(
                """insert into raw.order_items (id, order_id, user_id, product_id, status,
                                                created_at, sale_price)
                   values (901, 90, 4, 101, 'Complete', '2024-01-22 00:00:00+00', 500),
                          (911, 91, 4, 101, 'Complete', '2024-01-25 08:00:00+00', 500)"""
            )
        build_warehouse(settings, endpoints, select="+mart_churn_labels")
        after = _feature_rows(endpoints)

        assert before.keys() == after.keys()
        for key, row in before.items():
            if key[1] <= D(2024, 1, 22):
                assert after[key] == row, f"feature row {key} changed by a later order"
        # The orders are visible from the next cutoff on, and they flip the label.
        assert after[(4, D(2024, 1, 29))] != before[(4, D(2024, 1, 29))]
        assert _rows(
            endpoints,
            "select churned from analytics.mart_churn_labels "
            "where user_id = 4 and cutoff_date = '2024-01-22'",
        ) == [(0,)]


def test_a_bad_row_fails_the_build_naming_the_test(ecom_settings) -> None:
    with private_database(ecom_settings, "dbt_bad") as (settings, endpoints):
        load_directory(endpoints, TINY_FIXTURE)
        with transaction(endpoints.database_url) as cursor:
            cursor.execute("update raw.orders set status = 'Lost in space' where order_id = 2")
        with pytest.raises(DbtRunError) as failure:
            build_warehouse(settings, endpoints, select="stg_thelook__orders")
        message = str(failure.value)
        assert "accepted_values_stg_thelook__orders_order_status" in message
        assert "fail" in message
