"""The experiment marts and the A/B stage on real PostgreSQL and dbt.

- A generated world (20,000 users): the marts hold every assigned user, the planted lift lies
  inside the analysis' 95% interval, and `ecom experiment analyze|design|memo` write a table
  with the SRM line first, JSON, a PNG and the two documents from the same numbers.
- The handcrafted TheLook fixture, whose assignments file is in the export's format: the
  windows and outcomes match a hand count.
- The same fixture without assignments: empty marts, and every reader says "no experiment".
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecom import config
from ecom.cli.main import app
from ecom.config import Settings, temporary_environ
from ecom.db import fetch_all, transaction
from ecom.experiments.data import NoExperimentError, list_experiments, resolve_experiment_id
from ecom.experiments.reporting import analyze_from_warehouse, write_analysis_report, write_docs
from ecom.reports.experiments import read_lifts
from ecom.services import Endpoints
from ecom.synth import generate_dataset
from ecom.synth.truth import load_truth
from ecom.transform import DbtRunSummary, build_warehouse
from tests.integration.dbt_databases import TINY_FIXTURE, load_directory, private_database

pytestmark = pytest.mark.integration

END_DATE = dt.date(2025, 6, 2)
EXPERIMENT_MODELS = "+mart_experiment_results +mart_funnel"
runner = CliRunner()


@contextmanager
def cli_database(database_url: str) -> Iterator[None]:
    """Point the `ecom` command at `database_url` for the block."""
    with temporary_environ({"ECOM_DATABASE_URL": database_url}):
        config.get_settings.cache_clear()
        try:
            yield
        finally:
            config.get_settings.cache_clear()


@pytest.fixture(scope="module")
def generated(
    ecom_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Endpoints, DbtRunSummary, Path]]:
    data_dir = Path(tmp_path_factory.mktemp("thelook_20k"))
    generate_dataset(20_000, 7, data_dir, END_DATE, progress=False)
    with private_database(ecom_settings, "experiments_gen") as (settings, endpoints):
        load_directory(endpoints, data_dir)
        yield endpoints, build_warehouse(settings, endpoints, select=EXPERIMENT_MODELS), data_dir


def test_marts_hold_every_assigned_user_and_pass_their_tests(generated) -> None:
    endpoints, summary, data_dir = generated
    assert summary.success and not summary.failed_nodes
    truth = load_truth(data_dir)
    for mart in ("mart_experiment_exposures", "mart_experiment_results"):
        assert summary.node(mart).rows == truth.experiment["assigned_users"]
    for unit_test in (
        "experiment_windows_and_exposure_segments",
        "experiment_outcomes_count_only_inside_each_window",
    ):
        assert summary.node(unit_test).status == "pass"
    tested = [node for node in summary.nodes if "mart_experiment" in node.name]
    assert len(tested) > 20 and all(node.status in ("success", "pass") for node in tested)
    (experiments,) = list_experiments(endpoints.database_url)
    assert experiments.experiment_id == truth.experiment["experiment_id"]
    assert set(experiments.variants) == {"control", "treatment"}


def test_planted_lift_lies_inside_the_95_percent_interval(generated) -> None:
    endpoints, _, data_dir = generated
    truth = load_truth(data_dir)
    analysis = analyze_from_warehouse(endpoints.database_url, None)
    # The truth's metric: sessions with a purchase / sessions with a cart, from assignment on.
    assert (
        "sessions with a purchase event / sessions with a cart event"
        in (truth.experiment["metric_definition"])
    )
    planted = truth.relative_lift
    for reading in (
        analysis.metric("cart_to_purchase_rate").plain,
        analysis.metric("cart_to_purchase_rate").cuped,
    ):
        assert reading.relative_lower <= planted <= reading.relative_upper
    assert analysis.srm.passed
    assert analysis.primary.name == "checkout_conversion"
    assert analysis.primary.bayes.probability_treatment_better > 0.5
    assert analysis.sequential[-1].users == analysis.users


def test_cli_analyze_design_and_memo_agree_with_the_analysis(generated, tmp_path) -> None:
    endpoints, _, _ = generated
    analysis = analyze_from_warehouse(endpoints.database_url, None)
    with cli_database(endpoints.database_url):
        listed = runner.invoke(app, ["experiment", "list"])
        analyzed = runner.invoke(app, ["experiment", "analyze", "--reports", str(tmp_path)])
        designed = runner.invoke(
            app, ["experiment", "design", "--metric", "checkout_conversion", "--mde", "0.05"]
        )
        memo = runner.invoke(app, ["experiment", "memo", "--docs", str(tmp_path / "docs")])
    for result in (listed, analyzed, designed, memo):
        assert result.exit_code == 0, result.output
    assert analysis.experiment_id in listed.output
    body = [line for line in analyzed.output.splitlines() if line.startswith("│")]
    assert body[0].startswith("│ SRM"), analyzed.output
    assert "checkout_conversion" in body[1]
    report = json.loads((tmp_path / f"experiment_{analysis.experiment_id}.json").read_text())
    assert report["status"] == "analysed" and report["srm"]["passed"]
    assert report["metrics"][0]["cuped"]["relative_effect"] == pytest.approx(
        analysis.primary.cuped.relative_effect
    )
    assert (tmp_path / f"experiment_{analysis.experiment_id}.png").read_bytes()[:4] == b"\x89PNG"
    # The rendered report reads the same file.
    lifts, note = read_lifts(tmp_path / f"experiment_{analysis.experiment_id}.json")
    assert note is None
    assert [lift.metric for lift in lifts] == [metric.name for metric in analysis.metrics]
    assert lifts[0].effect == pytest.approx(analysis.primary.cuped.relative_effect)
    assert lifts[0].ci_lower == pytest.approx(analysis.primary.cuped.relative_lower)
    assert "users who reached the cart per arm" in designed.output
    decision = (tmp_path / "docs" / "decision_memo.md").read_text()
    assert f"**Recommendation: {analysis.verdict.decision}.**" in decision
    assert f"{analysis.primary.cuped.relative_effect:+.2%}" in decision
    design = (tmp_path / "docs" / "ab_test_design.md").read_text()
    assert "## Power analysis" in design and "revenue_per_user" in design


@pytest.fixture(scope="module")
def tiny(ecom_settings: Settings) -> Iterator[tuple[Settings, Endpoints, DbtRunSummary]]:
    with private_database(ecom_settings, "experiments_tiny") as (settings, endpoints):
        load_directory(endpoints, TINY_FIXTURE)
        yield settings, endpoints, build_warehouse(settings, endpoints, select=EXPERIMENT_MODELS)


def test_export_format_assignments_give_hand_counted_outcomes(tiny) -> None:
    """Experiment checkout_button_2024 ends at midnight after its last exposure (01-10), so
    user 4's cart and order on 01-11 fall outside; user 3's order was cancelled."""
    _, endpoints, summary = tiny
    assert summary.success, summary.failed_nodes
    rows = fetch_all(
        endpoints.database_url,
        """select user_id, variant, traffic_source, browser, sessions, cart_sessions,
                  purchase_sessions, reached_cart, purchased_after_cart, orders, revenue, items,
                  pre_sessions + pre_orders, analysis_window_ended_at
           from analytics.mart_experiment_results order by user_id""",
    )
    end = dt.datetime(2024, 1, 11, tzinfo=dt.UTC)
    assert rows == [
        (1, "control", "Email", "Chrome", 1, 1, 1, 1, 1, 1, 50.0, 2, 0, end),
        (2, "treatment", "Organic", "Firefox", 2, 2, 1, 1, 1, 1, 100.0, 1, 0, end),
        (3, "control", "Facebook", "Chrome", 1, 1, 1, 1, 1, 0, 0.0, 0, 0, end),
        (4, "treatment", "Email", "Safari", 2, 0, 0, 0, 0, 0, 0.0, 0, 0, end),
    ]


def test_without_assignments_everything_says_no_experiment(tiny, tmp_path) -> None:
    settings, endpoints, _ = tiny
    with transaction(endpoints.database_url) as cursor:
        cursor.execute("drop table raw.experiment_assignments cascade")
    summary = build_warehouse(settings, endpoints, select="stg_thelook__experiment_assignments+")
    assert summary.success and summary.node("mart_experiment_results").rows == 0
    assert list_experiments(endpoints.database_url) == []
    with pytest.raises(NoExperimentError, match="no experiment"):
        resolve_experiment_id(endpoints.database_url, None)
    report = write_analysis_report(endpoints.database_url, None, tmp_path)
    assert json.loads(report.json_path.read_text())["status"] == "no experiment"
    lifts, note = read_lifts(report.json_path)
    assert lifts == [] and "no analysed experiment" in note
    _, memo_path = write_docs(endpoints.database_url, None, tmp_path / "docs")
    assert "**No experiment.**" in memo_path.read_text()
    with cli_database(endpoints.database_url):
        for command in (["list"], ["analyze", "--reports", str(tmp_path)]):
            result = runner.invoke(app, ["experiment", *command])
            assert result.exit_code == 0 and "no experiment" in result.output, result.output
        design = runner.invoke(app, ["experiment", "design", "--metric", "revenue_per_user"])
    assert design.exit_code == 1 and "no experiment" in design.output
