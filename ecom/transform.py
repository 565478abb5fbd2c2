"""`ecom transform`: build the dbt warehouse (staging views, intermediate tables, marts) in-process.

dbt runs through its programmatic entry point (`dbtRunner`), not a subprocess, so the CLI and
the Prefect flows get structured per-node results back. The project's profile reads the
connection from ECOM_PG_* variables; they are set here from Settings/Endpoints for the length of
the run and restored afterwards, so a shell user's `cd dbt && dbt build --profiles-dir .` and
`ecom transform` connect the same way.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from ecom.config import Settings, project_root, redact_url, temporary_environ
from ecom.services import Endpoints

log = logging.getLogger(__name__)

DBT_PROJECT_DIR = project_root() / "dbt"

# Statuses dbt reports for nodes and tests that did not do their job.
_FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})


# What psycopg2 (dbt-postgres' driver) says when the server went away or is not back yet.
_CONNECTION_LOST = re.compile(
    r"connection to server .* failed|could not connect to server|server closed the connection"
    r"|terminating connection due to administrator command|the database system is (shutting "
    r"down|starting up|in recovery mode)|connection already closed|SSL SYSCALL error: EOF",
    re.IGNORECASE,
)


class DbtRunError(RuntimeError):
    """A dbt command failed; the message lists each failed model or test and dbt's reason.

    `transient` is True when every failure was the database going away (a restart, a dropped
    connection): the flows retry those, never a failed model or test, which would fail again."""

    def __init__(self, summary: DbtRunSummary, detail: str | None = None) -> None:
        self.summary = summary
        reasons = [node.message or "" for node in summary.failed_nodes] or [detail or ""]
        self.transient = all(_CONNECTION_LOST.search(reason) for reason in reasons)
        lines = [f"dbt {' '.join(summary.command)} failed after {summary.seconds:.1f}s"]
        if detail:
            lines.append(detail)
        for node in summary.failed_nodes:
            message = (node.message or "").strip().replace("\n", " ")
            lines.append(f"  {node.resource_type} {node.name}: {node.status}: {message}")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class NodeResult:
    """One model, test, seed or unit test as dbt reported it."""

    name: str
    resource_type: str
    status: str
    seconds: float
    rows: int | None = None
    failures: int | None = None
    message: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in _FAILED_STATUSES


@dataclass
class DbtRunSummary:
    """What a dbt command did: per-node status and timing, and the whole run's wall time."""

    command: list[str]
    success: bool
    seconds: float
    nodes: list[NodeResult] = field(default_factory=list)

    @property
    def failed_nodes(self) -> list[NodeResult]:
        return [node for node in self.nodes if node.failed]

    def node(self, name: str) -> NodeResult:
        """The result of one node by name (a model's name, or a test's generated name)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"dbt {' '.join(self.command)} has no node named {name!r}")

    def seconds_by_model(self) -> dict[str, float]:
        return {node.name: node.seconds for node in self.nodes if node.resource_type == "model"}

    def counts(self) -> dict[str, int]:
        """How many nodes ended in each status, e.g. {'success': 20, 'pass': 120}."""
        totals: dict[str, int] = {}
        for node in self.nodes:
            totals[node.status] = totals.get(node.status, 0) + 1
        return totals

    def summary_line(self) -> str:
        """One line for logs and the pipeline summary, e.g.
        'dbt build: 21 models, 210 tests (5 unit) passed in 67.4s'."""
        models = sum(1 for node in self.nodes if node.resource_type == "model")
        tests = [node for node in self.nodes if node.resource_type in ("test", "unit_test")]
        unit = sum(1 for node in tests if node.resource_type == "unit_test")
        failed = len(self.failed_nodes)
        outcome = f"{failed} failed" if failed else "passed"
        return (
            f"dbt {' '.join(self.command)}: {models} models, {len(tests)} tests ({unit} unit) "
            f"{outcome} in {self.seconds:.1f}s"
        )

    def as_rich_table(self) -> Table:
        """The models (slowest first) and any failed test, for the terminal."""
        table = Table(title=self.summary_line())
        table.add_column("node")
        table.add_column("type")
        table.add_column("status")
        table.add_column("seconds", justify="right")
        table.add_column("rows", justify="right")
        shown = [node for node in self.nodes if node.resource_type == "model" or node.failed]
        for node in sorted(shown, key=lambda node: (not node.failed, -node.seconds)):
            style = "red" if node.failed else None
            table.add_row(
                node.name,
                node.resource_type,
                node.status,
                f"{node.seconds:.2f}",
                f"{node.rows:,}" if node.rows is not None else "",
                style=style,
            )
        return table


def dbt_environment(settings: Settings, endpoints: Endpoints) -> dict[str, str]:
    """The variables dbt/profiles.yml reads, for the database this run should build into."""
    env = endpoints.env(settings)
    # libpq sets the session time zone from PGTZ; the models also say `set time zone 'UTC'`,
    # this keeps ad-hoc queries and `dbt show` on the same clock.
    env["PGTZ"] = "UTC"
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


def dbt_paths(settings: Settings) -> tuple[Path, Path]:
    """Where dbt writes its artifacts and logs: under ECOM_HOME, so parallel homes (tests,
    benchmarks, another user's shell) never overwrite each other's manifest."""
    base = settings.resolved_home / "dbt"
    return base / "target", base / "logs"


def _node_results(result: Any) -> list[NodeResult]:
    """Turn dbt's RunExecutionResult into NodeResults; commands without nodes give []."""
    nodes = []
    for item in getattr(result, "results", None) or []:
        node = getattr(item, "node", None)
        if node is None:
            continue
        adapter_response = getattr(item, "adapter_response", None) or {}
        rows = adapter_response.get("rows_affected") if isinstance(adapter_response, dict) else None
        status = str(getattr(item.status, "value", item.status))
        resource_type = str(getattr(node.resource_type, "value", node.resource_type))
        # Only a model's rows_affected is a row count; a test reports the one row of its query.
        if resource_type != "model" or not isinstance(rows, int) or rows < 0:
            rows = None
        nodes.append(
            NodeResult(
                name=node.name,
                resource_type=resource_type,
                status=status,
                seconds=float(getattr(item, "execution_time", 0.0) or 0.0),
                rows=rows,
                failures=getattr(item, "failures", None),
                message=getattr(item, "message", None),
            )
        )
    return nodes


def dbt_arguments(
    command: list[str],
    settings: Settings,
    vars: Mapping[str, Any] | None = None,
    target: str | None = None,
) -> list[str]:
    """The full argument list for dbtRunner: the command plus project, profile and paths, and
    the profile's target when not its default (`spark`: ecom/spark/transform.py)."""
    target_path, log_path = dbt_paths(settings)
    args = [
        *command,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
    ]
    if not log.isEnabledFor(logging.DEBUG):
        # One line per node lands in dbt's log file and our summary table; the console only
        # needs dbt's warnings and errors (ecom -v shows everything).
        args += ["--log-level", "warn"]
    if vars:
        args += ["--vars", json.dumps(dict(vars), sort_keys=True)]
    if target:
        args += ["--target", target]
    return args


def run_dbt(
    command: list[str],
    *,
    settings: Settings,
    endpoints: Endpoints | None,
    vars: Mapping[str, Any] | None = None,
    target: str | None = None,
) -> DbtRunSummary:
    """Run one dbt command (e.g. ["build", "--select", "marts"]) against the endpoints' database,
    or, with `target` and no endpoints, the profile's other target (Spark's session).

    Returns the per-node summary; raises DbtRunError naming every failed model or test, or
    dbt's own exception text when dbt could not even start (bad profile, unreachable server).
    """
    from dbt.cli.main import dbtRunner  # imported late: dbt's import costs about a second

    args = dbt_arguments(command, settings, vars, target)
    where = redact_url(endpoints.database_url) if endpoints else f"target {target}"
    log.info("dbt %s (%s)", " ".join(command), where)
    environment = (
        dbt_environment(settings, endpoints)
        if endpoints
        else {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    )
    started = time.perf_counter()
    with temporary_environ(environment):
        outcome = dbtRunner().invoke(args)
    seconds = time.perf_counter() - started
    summary = DbtRunSummary(
        command=list(command),
        success=bool(outcome.success),
        seconds=seconds,
        nodes=_node_results(outcome.result),
    )
    if outcome.exception is not None:
        raise DbtRunError(summary, f"dbt could not run: {outcome.exception}") from outcome.exception
    if not outcome.success:
        raise DbtRunError(summary)
    log.info("dbt %s finished in %.1fs: %s", " ".join(command), seconds, summary.counts())
    return summary


def churn_vars(settings: Settings) -> dict[str, int | str]:
    """The churn windows (and a given data clock) from Settings, so dbt and the Python stages
    use one value."""
    dbt_vars: dict[str, int | str] = {
        "churn_feature_window_days": settings.feature_window_days,
        "churn_label_horizon_days": settings.label_horizon_days,
    }
    if settings.data_as_of is not None:
        dbt_vars["data_as_of"] = settings.data_as_of.isoformat()
    return dbt_vars


def build_warehouse(
    settings: Settings,
    endpoints: Endpoints | None,
    *,
    select: str | None = None,
    vars: Mapping[str, Any] | None = None,
    target: str | None = None,
    command: str = "build",
) -> DbtRunSummary:
    """`dbt build` (models, unit tests and data tests, in DAG order) of the whole project or of
    `select`; `command="run"` builds the models only. Runs `dbt deps` first only when the
    project declares packages. With a selection, only tests whose every parent is selected (or
    upstream of it) run, so a test that also reads an unselected, unbuilt model does not fail
    the run."""
    if (DBT_PROJECT_DIR / "packages.yml").exists() or (
        DBT_PROJECT_DIR / "dependencies.yml"
    ).exists():
        run_dbt(["deps"], settings=settings, endpoints=endpoints, target=target)
    arguments = [command]
    if select:
        arguments += ["--select", select]
        if command == "build":
            arguments += ["--indirect-selection", "buildable"]
    merged_vars = {**churn_vars(settings), **(vars or {})}
    return run_dbt(
        arguments, settings=settings, endpoints=endpoints, vars=merged_vars, target=target
    )


def generate_docs(settings: Settings, endpoints: Endpoints) -> Path:
    """`dbt docs generate` (catalogue read from the live database); returns the index.html path
    that `dbt docs serve --target-path <dir>` or any static server can show."""
    run_dbt(["docs", "generate"], settings=settings, endpoints=endpoints, vars=churn_vars(settings))
    index = dbt_paths(settings)[0] / "index.html"
    if not index.exists():
        raise DbtRunError(DbtRunSummary(["docs", "generate"], False, 0.0), f"dbt wrote no {index}")
    return index
