"""prefect.yaml as a user runs it: a real Prefect server, `prefect deploy --all`, a process worker.

One `prefect server start` serves the module. `prefect --no-prompt deploy --all` registers
every deployment of prefect.yaml, which must then be on the server exactly as declared
(entrypoint, pool, parameters, schedules, concurrency). Then one process worker runs each of
the nine deployments in turn, on a small generated dataset, each to Completed, and each
leaves the data it is for: the nightly pipeline generates and loads the data, builds,
gates, trains, scores and monitors; then ingest, transform, quality, features,
weekly-retrain, daily-scoring, daily-experiments and daily-monitoring run alone on it. The worker works in a database, Redis database, MLflow store
and ECOM_HOME of this module's own, so no other test sees its tables or model versions. The
server's scheduler service is off, so no cron run can slip in between the runs the test
creates. The nightly run's sub-flows (one per stage) and logs are read back through the API.
Alerting runs for real on the same server: automations.yaml and the webhook block are set up
as `ecom ui up` does, pointed at a loopback HTTP server, and a quality-gate run on an empty
warehouse must fail and make the server POST an alert naming that run. Every step has a
deadline and every subprocess is killed afterwards, pass or fail.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from uuid import UUID

import pytest
import redis
import yaml

from ecom.alerts import configure_alerts, read_automations
from ecom.config import PostgresParts, RedisParts, Settings, connection_env
from ecom.db import create_database, drop_database, fetch_all, transaction

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
USERS = 500
WORKER_REDIS_DB = 14  # beside the session's test database (15), flushed before and after

SERVER_START_SECONDS = 150  # a fresh PREFECT_HOME migrates its database first
CLI_SECONDS = 120
FLOW_RUN_SECONDS = {"nightly": 600}  # the whole pipeline; a stage alone gets the default
DEFAULT_FLOW_RUN_SECONDS = 300
ALERT_SECONDS = 60  # from the Failed state to the webhook's POST (about a second here)
# The nightly pipeline's stages, each a sub-flow, and the summary line it logs for each.
NIGHTLY_SUB_FLOWS = {
    "ingest", "transform", "quality", "features", "train", "score", "monitor", "experiments",
}  # fmt: skip
NIGHTLY_SUMMARY_STAGES = {
    "load", "transform", "quality", "features", "train", "score", "drift", "monitor",
    "experiment",
}  # fmt: skip


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    home: Path
    log_dir: Path

    def env(self) -> dict[str, str]:
        """Built when a client starts, so it carries the ECOM_* variables exported by then."""
        return _prefect_env(self.home, self.api_url)


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _prefect_env(prefect_home: Path, api_url: str | None) -> dict[str, str]:
    """This test's environment with every inherited PREFECT_* setting replaced, so a user's
    profile or API URL can never leak in; ECOM_* (the test database) passes through."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",  # no telemetry calls from a loopback-only box
        DO_NOT_TRACK="1",
        PREFECT_CLI_PROMPT="false",
        PREFECT_LOGGING_TO_API_ENABLED="true",
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} was never written)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _spawn(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen:
    """A subprocess in its own session, so stopping it also stops what it started."""
    with log.open("wb") as handle:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after 15 s."""
    if process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_for_health(api_url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"prefect server exited with {server.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"prefect server not healthy after {SERVER_START_SECONDS} s:\n{_tail(log)}")


def _prefect_cli(server: PrefectServer, *args: str) -> str:
    """Run one `prefect` command from the project root as a user would, failing with its output."""
    env = {**server.env(), "PWD": str(ROOT)}  # prefect.yaml's pull step reads {{ $PWD }}
    try:
        result = subprocess.run(
            [PREFECT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=CLI_SECONDS
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"`prefect {' '.join(args)}` took over {CLI_SECONDS} s: {error.output}")
    assert result.returncode == 0, (
        f"`prefect {' '.join(args)}` failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def _declared_deployments() -> dict[str, dict]:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    names = [item["name"] for item in config["deployments"]]
    assert len(names) == len(set(names)), f"prefect.yaml repeats a deployment name: {names}"
    return {item["name"]: item for item in config["deployments"]}


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """A throwaway `prefect server start` on a free loopback port with its own PREFECT_HOME,
    its UI copied outside the venv (else it writes into the installed package) and its
    scheduler off (else cron runs of the deployments would appear while the test runs)."""
    base = tmp_path_factory.mktemp("prefect")
    port = _free_loopback_port()
    api_url = f"http://127.0.0.1:{port}/api"
    log = base / "server.log"
    server_env = {
        **_prefect_env(base / "home", api_url=None),
        "PREFECT_SERVER_UI_STATIC_DIRECTORY": str(base / "ui"),
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
    }
    server = _spawn(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        server_env,
        log,
        cwd=base,
    )
    try:
        _wait_for_health(api_url, server, log)
        yield PrefectServer(api_url, base / "home", base)
    finally:
        _stop(server)


@dataclass(frozen=True)
class WorkerData:
    """Where the worker's flows keep their data, apart from every other test's."""

    env: dict[str, str]
    database_url: str
    redis_url: str
    tracking_uri: str
    data_dir: Path


@pytest.fixture(scope="module")
def worker_data(
    ecom_settings: Settings, database_url: str, redis_url: str, tmp_path_factory
) -> Iterator[WorkerData]:
    base = tmp_path_factory.mktemp("prefect_worker")
    # An existing empty folder: the nightly run generates into it (`ecom load` generates only
    # into the default folder or an empty one; a folder that does not exist is an error).
    (base / "thelook").mkdir()
    own_database = create_database(database_url, f"ecom_prefect_{uuid.uuid4().hex[:10]}")
    parts = RedisParts(redis_url)
    own_redis = redis_url.rsplit("/", 1)[0] + f"/{WORKER_REDIS_DB}"
    assert RedisParts(own_redis).host == parts.host
    redis.Redis.from_url(own_redis).flushdb()
    settings = ecom_settings.with_overrides(
        home=base / "home",
        database_url=own_database,
        redis_url=own_redis,
        mlflow_tracking_uri=f"sqlite:///{base / 'mlflow.db'}",
    )
    try:
        yield WorkerData(
            env=connection_env(own_database, own_redis, settings),
            database_url=own_database,
            redis_url=own_redis,
            tracking_uri=settings.tracking_uri,
            data_dir=base / "thelook",
        )
    finally:
        redis.Redis.from_url(own_redis).flushdb()
        drop_database(database_url, PostgresParts(own_database).dbname)


@pytest.fixture(scope="module")
def deployed(prefect_server: PrefectServer) -> dict[str, object]:
    """`prefect deploy --all` as the README says, then every deployment as the server has it."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    pools = {item["work_pool"]["name"] for item in _declared_deployments().values()}
    for pool in sorted(pools):
        _prefect_cli(
            prefect_server, "work-pool", "create", pool, "--type", "process", "--overwrite"
        )
    _prefect_cli(prefect_server, "--no-prompt", "deploy", "--all")
    with (
        temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}),
        get_client(sync_client=True) as client,
    ):
        return {deployment.name: deployment for deployment in client.read_deployments()}


def test_deploy_all_registers_every_deployment_as_declared(deployed):
    declared = _declared_deployments()
    assert sorted(deployed) == sorted(declared)
    assert set(declared) == {
        "nightly",
        "ingest",
        "transform",
        "quality",
        "features",
        "weekly-retrain",
        "daily-scoring",
        "daily-experiments",
        "daily-monitoring",
        "weekly-uplift",
    }
    for name, spec in declared.items():
        deployment = deployed[name]
        assert deployment.entrypoint == spec["entrypoint"], name
        assert deployment.description == spec["description"], name
        assert deployment.work_pool_name == spec["work_pool"]["name"], name
        assert deployment.work_queue_name == spec["work_pool"]["work_queue_name"], name
        assert deployment.parameters == spec.get("parameters", {}), name
        assert spec["tags"] and sorted(deployment.tags) == sorted(spec["tags"]), name
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
        ], name
        schedules = [
            {"cron": item.schedule.cron, "timezone": item.schedule.timezone}
            for item in deployment.schedules
        ]
        assert schedules == spec["schedules"], name
        assert all(item.active for item in deployment.schedules), name
        limit = spec.get("concurrency_limit")
        if limit is None:
            assert deployment.global_concurrency_limit is None, name
        else:
            assert deployment.global_concurrency_limit.limit == limit["limit"], name
            strategy = deployment.concurrency_options.collision_strategy
            assert strategy.value == limit["collision_strategy"], name


def _wait_for_final_state(client, flow_run_id: UUID, worker: subprocess.Popen, log: Path, limit):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        flow_run = client.read_flow_run(flow_run_id)
        if flow_run.state is not None and flow_run.state.is_final():
            return flow_run
        if worker.poll() is not None:
            pytest.fail(f"the worker exited ({worker.returncode}):\n{_tail(log)}")
        time.sleep(1)
    pytest.fail(f"flow run not finished after {limit} s:\n{_tail(log)}")


def _run_logs(client, flow_run_ids: list[UUID]) -> dict[UUID, list[str]]:
    """The messages each flow run (and its tasks) logged, through the API."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=flow_run_ids)))
    messages: dict[UUID, list[str]] = {flow_run_id: [] for flow_run_id in flow_run_ids}
    for entry in logs:
        messages[entry.flow_run_id].append(entry.message)
    return messages


def _run_to_final_state(client, deployment, parameters, worker, log: Path):
    """One run of `deployment` created through the API, run by the worker to a final state."""
    flow_run = client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
    limit = FLOW_RUN_SECONDS.get(deployment.name, DEFAULT_FLOW_RUN_SECONDS)
    return _wait_for_final_state(client, flow_run.id, worker, log, limit)


def _run_deployment(client, deployment, parameters, worker, log: Path):
    """One run of `deployment` to Completed; returns the run and the messages its flow and
    tasks logged."""
    finished = _run_to_final_state(client, deployment, parameters, worker, log)
    assert finished.state.is_completed(), (
        f"{deployment.name} ended {finished.state.type}: {finished.state.message}\n{_tail(log)}"
    )
    time.sleep(2)  # the flow process has exited; its last log batch may still be in flight
    return finished, _run_logs(client, [finished.id])[finished.id]


def _sub_flows(client, parent: UUID) -> dict[str, tuple[str, list[str]]]:
    """Each sub-flow run of `parent` by flow name: its final state and its log messages."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    children = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent])
        )
    )
    logs = _run_logs(client, [child.id for child in children])
    runs: dict[str, tuple[str, list[str]]] = {}
    for child in children:
        name = client.read_flow(child.flow_id).name
        assert name not in runs, f"the pipeline ran the {name} sub-flow twice"
        runs[name] = (child.state.type.value, logs[child.id])
    return runs


def _count(database_url: str, sql: str) -> int:
    return fetch_all(database_url, sql)[0][0]


def _model_versions(tracking_uri: str) -> tuple[list[int], int]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    versions = client.search_model_versions("name='churn_prediction_advanced'")
    champion = client.get_model_version_by_alias("churn_prediction_advanced", "champion")
    return sorted(int(item.version) for item in versions), int(champion.version)


def test_every_deployment_runs_to_completion_on_a_process_worker(
    prefect_server: PrefectServer, deployed, worker_data: WorkerData, tmp_path: Path
):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    declared = _declared_deployments()
    pools = {item["work_pool"]["name"] for item in declared.values()}
    assert len(pools) == 1, f"one worker serves one pool; prefect.yaml names {sorted(pools)}"
    worker_log = prefect_server.log_dir / "worker.log"
    data_dir = str(worker_data.data_dir)
    worker = _spawn(
        [PREFECT, "worker", "start", "--pool", pools.pop(), "--limit", "1"],
        # The worker polls every 2 s instead of 10; its flows get the worker's own data.
        {**prefect_server.env(), **worker_data.env, "PREFECT_WORKER_QUERY_SECONDS": "2"},
        worker_log,
        cwd=tmp_path,  # the deployments' pull step, not the worker's cwd, finds the code
    )
    ran: list[str] = []
    try:
        with (
            temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}),
            get_client(sync_client=True) as client,
        ):

            def run(name: str, **parameters):
                ran.append(name)
                return _run_deployment(client, deployed[name], parameters, worker, worker_log)

            # The whole pipeline on an empty folder: generates the data there, then every stage,
            # each a sub-flow of the nightly run with logs of its own; the run logs a summary.
            nightly, nightly_logs = run("nightly", data_dir=data_dir, users=USERS)
            sub_flows = _sub_flows(client, nightly.id)
            assert {name: state for name, (state, _) in sub_flows.items()} == dict.fromkeys(
                NIGHTLY_SUB_FLOWS, "COMPLETED"
            )
            assert all(logs for _, logs in sub_flows.values()), sub_flows
            assert any("quality gate passed" in line for line in sub_flows["quality"][1])
            summary_stages = {message.split()[0] for message in nightly_logs if message.strip()}
            assert summary_stages >= NIGHTLY_SUMMARY_STAGES, nightly_logs
            assert sum(1 for _ in (worker_data.data_dir / "users.csv").open()) - 1 == USERS
            assert _count(worker_data.database_url, "select count(*) from raw.users") == USERS
            assert _model_versions(worker_data.tracking_uri) == ([1], 1)
            scored = _count(worker_data.database_url, "select count(*) from analytics.churn_scores")
            assert scored == _count(
                worker_data.database_url, "select count(*) from analytics.mart_churn_scoring"
            )
            assert scored > 0

            # Each stage alone, on the data the nightly run left.
            ingest_run, ingest_logs = run("ingest", data_dir=data_dir, users=USERS)
            assert any(message.startswith("loaded ") for message in ingest_logs), ingest_logs
            assert not any("generating" in message for message in ingest_logs), ingest_logs
            task_runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[ingest_run.id]))
            )
            assert {item.name.rsplit("-", 1)[0]: item.state.type.value for item in task_runs} == {
                "start-services": "COMPLETED",
                "load-raw-tables": "COMPLETED",
            }

            # Staging views only: the deployment's `select` parameter reaches dbt.
            _, transform_logs = run("transform", select="staging")
            assert any(
                message.startswith("dbt build --select staging") and " passed in " in message
                for message in transform_logs
            ), transform_logs

            _, quality_logs = run("quality")
            assert any("quality gate passed" in message for message in quality_logs)

            redis.Redis.from_url(worker_data.redis_url).flushdb()
            run("features")
            assert redis.Redis.from_url(worker_data.redis_url).dbsize() > 0

            run("weekly-retrain")
            versions, champion = _model_versions(worker_data.tracking_uri)
            assert versions == [1, 2] and champion in versions

            as_of = fetch_all(
                worker_data.database_url,
                "select max(cutoff_date) from analytics.mart_churn_scoring",
            )[0][0]
            with transaction(worker_data.database_url) as cursor:
                cursor.execute("delete from analytics.churn_scores")
            run("daily-scoring")
            stored = fetch_all(
                worker_data.database_url,
                "select count(*), min(model_version), max(model_version), min(scoring_date) "
                "from analytics.churn_scores",
            )[0]
            assert stored == (scored, str(champion), str(champion), as_of)

            # The experiment analysis and monitoring, on the same warehouse.
            _, experiment_logs = run("daily-experiments")
            assert experiment_logs, "the experiment flow logged nothing"
            run("daily-monitoring", fail_on_drift=False)
            performance = _count(
                worker_data.database_url, "select count(*) from analytics.model_performance"
            )
            assert performance > 0

            # The nightly world has no campaign (`ecom generate` plants one only when asked):
            # the uplift flow trains nothing and writes the labelled churn-risk list.
            _, uplift_logs = run("weekly-uplift")
            assert any("no campaign data" in message for message in uplift_logs), uplift_logs
            bases = fetch_all(
                worker_data.database_url,
                "select distinct list_basis from analytics.retention_targets",
            )
            assert [tuple(row) for row in bases] == [("churn_risk_fallback",)]
    finally:
        _stop(worker)
    assert sorted(ran) == sorted(declared)


class WebhookReceiver:
    """A loopback HTTP server that keeps the body of every POST it gets."""

    def __init__(self) -> None:
        self.bodies: queue.Queue[bytes] = queue.Queue()
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.put(self.rfile.read(int(self.headers.get("content-length", 0))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:  # no request lines on the test's output
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/ecom-test"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def next_json(self, seconds: float) -> dict | None:
        try:
            return json.loads(self.bodies.get(timeout=seconds))
        except queue.Empty:
            return None


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_a_failed_quality_gate_run_posts_an_alert_to_the_webhook(
    prefect_server: PrefectServer,
    deployed,
    webhook: WebhookReceiver,
    ecom_settings: Settings,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
):
    """automations.yaml as `ecom ui up` sets it up (twice: still one automation), then the
    `quality` deployment (tagged `alerting`) on an empty warehouse: the gate fails the run and
    the server's automation posts that run, once, to the webhook."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    names = [automation["name"] for automation in read_automations()]
    first = configure_alerts(prefect_server.api_url, webhook.url)
    again = configure_alerts(prefect_server.api_url, webhook.url)
    assert (first.created, first.updated) == (names, [])
    assert (again.created, again.updated) == ([], names)

    empty = create_database(database_url, f"ecom_alert_{uuid.uuid4().hex[:10]}")
    home = tmp_path / "home"
    settings = ecom_settings.with_overrides(home=home, database_url=empty, redis_url=redis_url)
    worker_log = prefect_server.log_dir / "alert-worker.log"
    worker = _spawn(
        [PREFECT, "worker", "start", "--pool", deployed["quality"].work_pool_name, "--limit", "1"],
        {
            **prefect_server.env(),
            **connection_env(empty, redis_url, settings),
            "PREFECT_WORKER_QUERY_SECONDS": "2",
        },
        worker_log,
        cwd=tmp_path,
    )
    try:
        with (
            temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}),
            get_client(sync_client=True) as client,
        ):
            assert [len(client.read_automations_by_name(name)) for name in names] == [1] * len(
                names
            )
            failed = _run_to_final_state(client, deployed["quality"], {}, worker, worker_log)
            assert failed.state.is_failed(), f"{failed.state.type}: {failed.state.message}"
            alert = webhook.next_json(ALERT_SECONDS)
    finally:
        _stop(worker)
        drop_database(database_url, PostgresParts(empty).dbname)
    assert alert is not None, (
        f"no POST within {ALERT_SECONDS} s:\n{_tail(prefect_server.log_dir / 'server.log')}"
    )
    assert alert["subject"] == f"ecom alert: quality run {failed.name} is Failed"
    assert f"Flow run id: {failed.id}" in alert["body"]
    assert "of deployment quality ended Failed" in alert["body"]
    assert failed.state.message.splitlines()[0] in alert["body"]
    assert alert["text"] == f"{alert['subject']}\n{alert['body']}"
    time.sleep(3)
    assert webhook.bodies.empty(), "one failed run, one alert"
