"""ecom.transform's pure parts: the dbt argument list, result parsing and the failure message."""

from __future__ import annotations

import json
from types import SimpleNamespace

from ecom.config import Settings
from ecom.transform import (
    DBT_PROJECT_DIR,
    DbtRunError,
    DbtRunSummary,
    NodeResult,
    _node_results,
    churn_vars,
    dbt_arguments,
)


def _settings(tmp_path) -> Settings:
    return Settings(_env_file=None).with_overrides(home=tmp_path, feature_window_days=45)


def test_arguments_name_project_profile_paths_and_vars(tmp_path) -> None:
    args = dbt_arguments(["build", "--select", "marts"], _settings(tmp_path), {"b": 2, "a": 1})
    assert args[:3] == ["build", "--select", "marts"]
    assert args[args.index("--project-dir") + 1] == str(DBT_PROJECT_DIR)
    assert args[args.index("--profiles-dir") + 1] == str(DBT_PROJECT_DIR)
    assert args[args.index("--target-path") + 1] == str(tmp_path.resolve() / "dbt" / "target")
    assert json.loads(args[args.index("--vars") + 1]) == {"a": 1, "b": 2}
    assert "--vars" not in dbt_arguments(["parse"], _settings(tmp_path))


def test_churn_windows_come_from_settings(tmp_path) -> None:
    assert churn_vars(_settings(tmp_path)) == {
        "churn_feature_window_days": 45,
        "churn_label_horizon_days": 30,
    }


def _result(name: str, resource_type: str, status: str, rows: int | None, message: str = ""):
    node = SimpleNamespace(name=name, resource_type=SimpleNamespace(value=resource_type))
    return SimpleNamespace(
        node=node,
        status=SimpleNamespace(value=status),
        execution_time=1.5,
        adapter_response={"rows_affected": rows} if rows is not None else {},
        failures=None if status != "fail" else 3,
        message=message,
    )


def test_node_results_keep_model_row_counts_only() -> None:
    execution = SimpleNamespace(
        results=[
            _result("mart_rfm", "model", "success", 70_000),
            _result("unique_mart_rfm_user_id", "test", "pass", 1),
            _result("stg_thelook__users", "model", "success", -1),
        ]
    )
    nodes = _node_results(execution)
    assert [(n.name, n.rows) for n in nodes] == [
        ("mart_rfm", 70_000),
        ("unique_mart_rfm_user_id", None),
        ("stg_thelook__users", None),
    ]
    assert _node_results(None) == []


def test_failure_message_lists_each_failed_node() -> None:
    summary = DbtRunSummary(
        ["build"],
        False,
        12.0,
        [
            NodeResult("mart_rfm", "model", "success", 1.0, rows=10),
            NodeResult(
                "accepted_values_stg_thelook__orders_order_status",
                "test",
                "fail",
                0.2,
                failures=1,
                message="Got 1 result,\nconfigured to fail if != 0",
            ),
            NodeResult("mart_funnel", "model", "error", 0.1, message="relation does not exist"),
        ],
    )
    text = str(DbtRunError(summary))
    assert "dbt build failed after 12.0s" in text
    assert "test accepted_values_stg_thelook__orders_order_status: fail: Got 1 result," in text
    assert "model mart_funnel: error: relation does not exist" in text
    assert "mart_rfm" not in text
    assert summary.counts() == {"success": 1, "fail": 1, "error": 1}
    assert summary.summary_line() == "dbt build: 2 models, 1 tests (0 unit) 2 failed in 12.0s"
    table = summary.as_rich_table()
    assert table.row_count == 3  # both models and the failed test
