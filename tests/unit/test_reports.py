"""The report's pure parts: dashboard files, experiment result files, Metabase payloads."""

from __future__ import annotations

import json

import pytest

from ecom.reports.dashboards import DashboardFileError, load_dashboard, load_dashboards
from ecom.reports.experiments import read_lifts
from ecom.reports.metabase import card_payload, database_details, visualization_settings
from tests.experiment_files import analysed, lift_reading


def test_the_dashboards_load_in_the_order_data_flows() -> None:
    boards = load_dashboards()
    assert [b.name for b in boards] == [
        "Funnel",
        "Retention",
        "Churn risk",
        "Retention targeting",
        "Experiments",
    ]
    for board in boards:
        for card in board.cards:
            assert card.layout.col + card.layout.width <= 24, card.key


def test_a_bad_dashboard_file_names_the_file_and_the_field(tmp_path) -> None:
    path = tmp_path / "funnel.yml"
    path.write_text("name: Funnel\ndescription: x\ncards:\n  - key: a\n    name: A\n")
    with pytest.raises(DashboardFileError) as failure:
        load_dashboard(path)
    message = str(failure.value)
    assert str(path) in message and "cards.0.sql" in message and "cards.0.chart" in message


def reading(effect: float, lower: float, upper: float, pvalue: float) -> dict:
    """A reading with an absolute effect beside the relative one: the report must pick the
    relative lift."""
    return lift_reading(effect, lower, upper, pvalue, effect=effect * 3)


def test_lifts_are_the_cuped_readings_of_each_metric(tmp_path) -> None:
    path = tmp_path / "experiment_a.json"
    conversion = {
        "name": "conversion",
        "plain": reading(0.2, 0.0, 0.4, 0.05),
        "cuped": reading(0.1, 0.02, 0.18, 0.01),
    }
    aov = {"name": "aov", "plain": reading(-0.01, -0.03, 0.002, 0.3), "cuped": None}
    path.write_text(json.dumps(analysed("a", [conversion, aov])))
    (conversion, aov), note = read_lifts(path)
    assert note is None
    assert (conversion.experiment, conversion.metric, conversion.effect_name) == (
        "a",
        "conversion",
        "relative lift (CUPED)",
    )
    assert (conversion.effect, conversion.ci_lower, conversion.ci_upper) == (0.1, 0.02, 0.18)
    assert conversion.p_value == 0.01
    assert (aov.effect_name, aov.effect, aov.ci_lower) == ("relative lift", -0.01, -0.03)


def test_a_result_without_intervals_gives_no_lift_and_says_why(tmp_path) -> None:
    path = tmp_path / "experiment_c.json"
    path.write_text(
        json.dumps(analysed("a", [{"name": "conversion", "plain": {"relative_effect": 0.1}}]))
    )
    lifts, note = read_lifts(path)
    assert lifts == [] and str(path) in note and "interval" in note
    none = tmp_path / "experiment_none.json"
    none.write_text(json.dumps({"status": "no experiment", "reason": "no assignments loaded"}))
    assert "no assignments loaded" in read_lifts(none)[1]
    broken = tmp_path / "experiment_d.json"
    broken.write_text("{not json")
    assert read_lifts(broken)[1].startswith(f"{broken}: not readable JSON")


def test_metabase_gets_a_tcp_warehouse_or_a_clear_error() -> None:
    details = database_details("postgresql://ecom:s3cret@postgres:5432/ecom")
    assert (details["host"], details["port"], details["dbname"]) == ("postgres", 5432, "ecom")
    assert (details["user"], details["password"]) == ("ecom", "s3cret")
    with pytest.raises(ValueError, match="unix socket"):
        database_details("postgresql://postgres:@/postgres?host=/tmp/pgdata")


def test_cards_become_native_questions_with_their_chart_settings() -> None:
    cards = {c.key: c for b in load_dashboards() for c in b.cards}
    payload = card_payload(cards["retention_curves"], database_id=3, collection_id=7)
    assert payload["display"] == "line" and payload["collection_id"] == 7
    assert payload["dataset_query"]["type"] == "native"
    assert payload["dataset_query"]["database"] == 3
    assert payload["visualization_settings"] == {
        "graph.dimensions": ["weeks_since", "retention_event"],
        "graph.metrics": ["retention_rate", "unbounded_retention_rate"],
    }
    assert visualization_settings(cards["funnel_steps"]) == {
        "funnel.dimension": "step",
        "funnel.metric": "sessions",
    }
    assert card_payload(cards["retention_targets"], 3, 7)["display"] == "table"


def test_a_bar_interval_is_drawn_as_error_bars_and_given_to_metabase_as_bounds(tmp_path) -> None:
    import pandas as pd
    from pydantic import ValidationError

    from ecom.reports.charts import plotly_figure, write_png
    from ecom.reports.dashboards import Card, Chart

    with pytest.raises(ValidationError, match="both `low` and `high`"):
        Chart(kind="bar", x="m", y="lift", low="lo")
    with pytest.raises(ValidationError, match="bar chart with one `y`"):
        Chart(kind="line", x="m", y="lift", low="lo", high="hi")
    chart = Chart(kind="bar", x="m", y="lift", low="lo", high="hi")
    card = Card(
        key="k",
        name="Lift",
        description="d",
        sql="select 1",
        chart=chart,
        layout={"col": 0, "row": 0, "width": 8, "height": 4},
    )
    frame = pd.DataFrame(
        {"m": ["a", "b"], "lift": [0.1, -0.02], "lo": [0.05, -0.06], "hi": [0.2, 0.01]}
    )
    (bar,) = plotly_figure(frame, card).data
    assert list(bar.error_y.array) == pytest.approx([0.1, 0.03])
    assert list(bar.error_y.arrayminus) == pytest.approx([0.05, 0.04])
    assert write_png(frame, card, tmp_path / "lift.png").stat().st_size > 1000
    assert visualization_settings(card)["graph.metrics"] == ["lo", "lift", "hi"]


def test_axis_titles_and_legends_are_words_for_people_not_column_names() -> None:
    import pandas as pd

    from ecom.reports.charts import axis_title, column_label, plotly_figure

    cards = {card.key: card for board in load_dashboards() for card in board.cards}
    for card in cards.values():
        chart = card.chart
        heatmap_rows = chart.y if isinstance(chart.y, str) else None
        for column in (chart.x, heatmap_rows, chart.z, *chart.y_columns):
            if column:
                assert "_" not in column_label(column), (card.key, column)
        assert "_" not in axis_title(chart.y_columns), card.key
    frame = pd.DataFrame(
        {
            "period_start": pd.to_datetime(["2024-01-01", "2024-01-08"]),
            "view_to_cart_rate": [0.30, 0.32],
            "overall_conversion_rate": [0.10, 0.11],
        }
    )
    figure = plotly_figure(frame, cards["conversion_over_time"])
    assert figure.layout.xaxis.title.text == "Week starting"
    assert figure.layout.yaxis.title.text == "Rate"
    assert all("_" not in trace.name for trace in figure.data)


def test_a_wide_table_card_spans_the_page_and_gives_its_free_text_the_room(tmp_path) -> None:
    """The retention list's 14 columns in a half-width card left its reason a few letters wide
    and one row tall: a wide table spans the grid, and columns are sized by what they hold."""
    import pandas as pd

    from ecom.reports.charts import table_column_widths
    from ecom.reports.page import _Page

    reason = "a contact adds 55% to the chance of ordering in the horizon (80% interval 46% to 63%)"
    widths = table_column_widths(
        ["Target rank", "User id", "Reason"], [["1", "2"], ["2765", "2769"], [reason, reason]]
    )
    assert widths[2] > 3 * widths[1] and widths[1] >= len("2765")
    cards = {card.key: card for board in load_dashboards() for card in board.cards}
    page = _Page(tmp_path)
    targets = cards["retention_targets"]
    columns = targets.sql.split("from")[0].replace("select", "").replace("\n", " ").split(",")
    frame = pd.DataFrame([[1.0] * len(columns)], columns=[c.strip() for c in columns])
    assert 'class="chart wide"' in page.card("unused://", targets, frame)
    narrow = cards["srm_status"]
    assert 'class="chart"' in page.card("unused://", narrow, pd.DataFrame({"a": [1], "b": [2]}))
