"""Benchmark the churn service against BentoML's ceiling and the original platform's way.

    python benchmarks/bench_serving.py [--users 20000] [--requests 2000] [--redis-db 13]
                                       [--campaign]

In a database of its own (`ecom_bench_serving`, recreated each run) it builds the same
contract-shaped churn marts as bench_features.py, trains an XGBoost champion in a private
MLflow store, scores the snapshot and materializes it. Then, all on loopback, one server at a
time under load, a keep-alive load generator (aiohttp, a fixed number of requests split over 1,
8 and 32 concurrent clients) measures:

1. a trivial BentoML endpoint with the churn service's own settings (the framework's ceiling);
2. the churn service's `/predict` (Feast read, prediction, contributions);
3. its `/predict_batch` with 100 users per request;
4. a reference service written the way the original platform served churn: FastAPI/uvicorn,
   one SQL query of the scoring mart per request, the champion's scikit-learn pipeline
   predicting on a one-row DataFrame.

With `wrk` installed (Debian's package), the churn service's `/predict` is also loaded from
outside Python: `--wrk-windows` consecutive windows of `--wrk-seconds` at 8 connections, then
at 32 (benchmarks/wrk_load.py): p99 under 25 ms in every window at 8, and throughput at 32 at
least 90% of that at 8.

With `--campaign` the world is the pipeline's instead: `--users` generated with the planted
retention campaign, loaded, built by dbt, a churn champion and the uplift champion trained and
registered as `ecom pipeline --campaign` does, `ecom score` writing the uplift retention list,
then materialized; so `/predict` answers its targeting fields through the uplift champion
(checked on one answer before the load). The churn service is then served a second time with
the uplift alias removed (the churn-risk fallback), and the results put /predict with and
without the uplift champion side by side, by the aiohttp client and by `wrk`.

And in-process: one Feast online read (1 and 100 users) against raw `HGETALL`s of the same
Redis hashes, and `ChurnPredictor.predict` on one row against the scikit-learn pipeline (with
`--campaign`, also one contact decision through econml and through the booster fast path).
Results go to stdout and benchmarks/results/serving.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import wrk_load  # noqa: E402
from bench_features import AS_OF, FEATURES_SQL  # noqa: E402
from bench_uplift import decision_costs  # noqa: E402
from results_file import publish  # noqa: E402

from ecom.churn import models as churn_models  # noqa: E402
from ecom.churn import scoring, training  # noqa: E402
from ecom.churn.registry import CHAMPION_ALIAS, ModelRegistry  # noqa: E402
from ecom.config import RedisParts, Settings, connection_env  # noqa: E402
from ecom.db import create_database, fetch_all, transaction  # noqa: E402
from ecom.features import store as features  # noqa: E402
from ecom.runtime import export_connection  # noqa: E402
from ecom.services import Endpoints, ensure_services  # noqa: E402
from ecom.stages import Generation, load_stage, score_stage, transform_stage  # noqa: E402
from ecom.targeting.targets import FALLBACK_BASIS, UPLIFT_BASIS  # noqa: E402
from ecom.targeting.training import (  # noqa: E402
    UPLIFT_MODEL_NAME,
    UpliftTrainingResult,
    train_uplift,
)

BENCH_DATABASE = "ecom_bench_serving"
RESULTS = ROOT / "benchmarks" / "results" / "serving.md"
SERVICE_DIR = ROOT / "services" / "churn_api"
CONCURRENCY = (1, 8, 32)
BATCH_SIZE = 100
# The marts the service, the uplift stage and the churn champion read (`ecom pipeline` builds
# all of them; the rest would only cost the run minutes).
CAMPAIGN_MODELS = (
    "+mart_campaign_outcomes +mart_churn_features,resource_type:model "
    "+mart_churn_scoring,resource_type:model +mart_churn_labels,resource_type:model"
)

TRIVIAL_SERVICE = """
import bentoml
from service import SERVICE_CONFIG
from ecom.serving.schemas import PredictRequest


@bentoml.service(**{**SERVICE_CONFIG, "name": "trivial"})
class Trivial:
    @bentoml.api(route="/predict", input_spec=PredictRequest)
    async def predict(self, user_id: int) -> dict:
        return {"user_id": user_id, "churn_probability": 0.5}
"""

REFERENCE_SERVICE = '''
"""The original platform's way: FastAPI, a SQL query per request, a one-row DataFrame."""
import os

import mlflow
import pandas as pd
from fastapi import FastAPI, HTTPException
from psycopg2.pool import ThreadedConnectionPool
from pydantic import BaseModel

from ecom.churn import models as churn_models
from ecom.config import PostgresParts

mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
MODEL = mlflow.sklearn.load_model(os.environ["BENCH_MODEL_URI"])
POOL = ThreadedConnectionPool(1, 32, PostgresParts(os.environ["ECOM_DATABASE_URL"]).dsn())
app = FastAPI()


class Request(BaseModel):
    user_id: int


@app.post("/predict")
def predict(request: Request) -> dict:
    connection = POOL.getconn()
    try:
        frame = pd.read_sql_query(
            "select * from analytics.mart_churn_scoring where user_id = %(user_id)s",
            connection, params={"user_id": request.user_id},
        )
    finally:
        POOL.putconn(connection)
    if frame.empty:
        raise HTTPException(404, "unknown user")
    probability = float(churn_models.predict_churn(MODEL, frame)[0])
    return {"user_id": request.user_id, "churn_probability": probability}
'''


@dataclass
class Run:
    target: str
    clients: int
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    server_cpu_ms: float  # CPU seconds of the server's process tree per request, in ms

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _private_stores(
    server: Endpoints, base: Settings, home: Path, redis_db: int, database: str
) -> tuple[Settings, Endpoints]:
    """A database recreated empty, a flushed Redis database and an MLflow store under `home`."""
    database_url = create_database(server.database_url, database, replace=True)
    parts = RedisParts(server.redis_url)
    auth = f":{parts.password}@" if parts.password else ""
    redis_url = f"redis://{auth}{parts.host}:{parts.port}/{redis_db}"
    redis.Redis.from_url(redis_url).flushdb()
    settings = base.with_overrides(
        database_url=database_url,
        redis_url=redis_url,
        home=home,
        mlflow_tracking_uri=f"sqlite:///{home}/mlflow.db",
    )
    endpoints = Endpoints(database_url, redis_url, embedded=False)
    export_connection(settings, endpoints)
    return settings, endpoints


def _train_churn_champion(settings: Settings, endpoints: Endpoints) -> None:
    features.apply_feature_repo(settings, endpoints)
    frame = features.training_frame(settings, endpoints)
    columns = features.feature_service_columns(settings, endpoints)
    training.train_on_frame(settings, frame, columns, candidates=(churn_models.XGB_PLAIN,))


@dataclass
class Prepared:
    settings: Settings
    endpoints: Endpoints
    version: str  # the churn champion's
    uplift: UpliftTrainingResult | None = None  # with --campaign: the uplift champion's run


def prepare(
    server: Endpoints,
    base: Settings,
    home: Path,
    users: int,
    redis_db: int,
    database: str = BENCH_DATABASE,
    *,
    campaign: bool = False,
) -> Prepared:
    """Marts, a champion, batch scores and the materialized snapshot, in private stores; with
    `campaign`, the pipeline's world with its uplift champion (`prepare_campaign`)."""
    settings, endpoints = _private_stores(server, base, home, redis_db, database)
    if campaign:
        return prepare_campaign(settings, endpoints, home, users)
    with transaction(endpoints.database_url) as cursor:
        cursor.execute(FEATURES_SQL, {"users": users, "cutoffs": 26, "as_of": AS_OF})
    _train_churn_champion(settings, endpoints)
    summary = scoring.score_users(settings, endpoints)
    features.materialize_features(settings, endpoints)
    return Prepared(settings, endpoints, summary.model_version)


def prepare_campaign(
    settings: Settings, endpoints: Endpoints, home: Path, users: int, seed: int = 42
) -> Prepared:
    """The pipeline's stages on a generated world with the planted retention campaign (what
    `ecom pipeline --campaign` runs, minus the gate, the monitor and the experiments): load,
    the marts serving and the uplift stage read, the churn champion, the uplift champion (with
    the truth, registered and gated), `ecom score` (scores and the uplift retention list) and
    the materialized snapshot, so the service answers through the uplift champion."""
    data_dir = home / "data"
    load_stage(settings, endpoints, data_dir, Generation(users, seed, generate=True, campaign=True))
    built = transform_stage(settings, endpoints, select=CAMPAIGN_MODELS)
    if not built.success:
        raise SystemExit(f"dbt failed: {built.failed_nodes}")
    _train_churn_champion(settings, endpoints)
    uplift = train_uplift(settings, endpoints, truth_dir=data_dir)
    if not uplift.promoted:
        raise SystemExit(f"the uplift model was not made champion: {uplift.gate_reason}")
    scored = score_stage(settings, endpoints)
    if scored.targets.list_basis != UPLIFT_BASIS:
        raise SystemExit(f"the retention list is not by uplift: {scored.targets.summary_line()}")
    features.materialize_features(settings, endpoints)
    return Prepared(settings, endpoints, scored.scores.model_version, uplift)


def start_server(command: list[str], env: dict, port: int, cwd: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 420  # a loaded 2-core machine: 60-140 s of imports alone
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
            time.sleep(1.0)  # listening; give the app its first second
            return process
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise TimeoutError(f"{' '.join(command)} did not listen on {port}")


async def _load(
    url: str, bodies: list[dict], clients: int, headers: dict[str, str]
) -> tuple[float, list[float], int]:
    """Send every body once, `clients` at a time on keep-alive connections."""
    latencies: list[float] = []
    errors = 0
    queue = list(reversed(bodies))
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal errors
            while queue:
                body = queue.pop()
                began = time.perf_counter()
                try:
                    async with session.post(url, json=body) as response:
                        await response.read()
                        if response.status != 200:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append((time.perf_counter() - began) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return time.perf_counter() - started, latencies, errors


def _tree_cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU of a server and its workers: what one request costs the server,
    whatever else the shared machine runs (wall-clock rates move with the other jobs)."""
    total = 0.0
    for member in (process, *process.children(recursive=True)):
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def load(target: str, url: str, bodies: list[dict], clients: int, server_pid: int) -> Run:
    warm = bodies[: min(50, len(bodies))]
    asyncio.run(_load(url, warm, clients, {}))
    server = psutil.Process(server_pid)
    cpu_before = _tree_cpu_seconds(server)
    seconds, latencies, errors = asyncio.run(_load(url, bodies, clients, {}))
    cpu_ms = (_tree_cpu_seconds(server) - cpu_before) / len(bodies) * 1000
    run = Run(target, clients, len(bodies), seconds, latencies, errors, cpu_ms)
    print(
        f"{target:<34} {clients:>2} clients: {run.throughput:8.1f} req/s, "
        f"p50 {run.percentile(0.5):6.2f} ms, p99 {run.percentile(0.99):7.2f} ms, {errors} errors, "
        f"server CPU {cpu_ms:.2f} ms/request"
    )
    return run


CHURN = "churn /predict"
FALLBACK = "churn /predict, no uplift champion"


@dataclass
class Server:
    """One server under load: its command, its (target, route, users per request, requests per
    run) loads, whether `wrk` loads its /predict too, the `list_basis` its /predict must answer
    with (checked before the load, so a run of the wrong path cannot pass as the right one), and
    what to change before it starts."""

    command: list[str]
    targets: list[tuple[str, str, int, int]]
    wrk: bool = False
    basis: str | None = None
    before: Callable[[], None] | None = None


def _servers(prepared: Prepared, requests: int) -> list[Server]:
    bentoml = [sys.executable, "-m", "bentoml", "serve"]
    uvicorn = [sys.executable, "-m", "uvicorn", "reference_service:app", "--no-access-log"]
    churn = [*bentoml, "service:ChurnService"]
    servers = [
        Server(
            [*bentoml, "trivial_service:Trivial"],
            [("trivial BentoML endpoint", "/predict", 1, requests)],
        ),
        Server(
            churn,
            [
                (CHURN, "/predict", 1, requests),
                (
                    "churn /predict_batch (100 users)",
                    "/predict_batch",
                    BATCH_SIZE,
                    max(60, requests // 20),
                ),
            ],
            wrk=True,
            basis=UPLIFT_BASIS if prepared.uplift else FALLBACK_BASIS,
        ),
    ]
    if prepared.uplift is not None:
        # The same world, snapshot and churn champion with the uplift alias removed: the
        # service decides contacts by the labelled churn-risk fallback, as without a campaign.
        registry = ModelRegistry.at(prepared.settings.tracking_uri, UPLIFT_MODEL_NAME)
        servers.append(
            Server(
                churn,
                [(FALLBACK, "/predict", 1, requests)],
                wrk=True,
                basis=FALLBACK_BASIS,
                before=lambda: registry.client.delete_registered_model_alias(
                    UPLIFT_MODEL_NAME, CHAMPION_ALIAS
                ),
            )
        )
    reference = ("reference FastAPI + SQL per request", "/predict", 1, max(200, requests // 5))
    return [*servers, Server(uvicorn, [reference])]


def _require_basis(url: str, user: int, basis: str, uplift_version: str | None) -> None:
    """Stop the run unless /predict decides contacts on `basis` (with the uplift champion's
    version on the uplift path)."""
    request = urllib.request.Request(
        url, json.dumps({"user_id": user}).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.load(response)
    expected = uplift_version if basis == UPLIFT_BASIS else None
    if (answer["list_basis"], answer["uplift_model_version"]) != (basis, expected):
        raise SystemExit(f"/predict should answer on {basis} (uplift v{expected}): {answer}")


def bench_http(
    prepared: Prepared, requests: int, work: Path, wrk: tuple[int, int] = (0, 0)
) -> tuple[list[Run], dict[str, list[wrk_load.WrkWindow]]]:
    """Each server in turn under the aiohttp client (and `wrk` where asked): the runs, and the
    `wrk` windows by the server's /predict target."""
    settings, endpoints = prepared.settings, prepared.endpoints
    users = [
        u
        for (u,) in fetch_all(
            endpoints.database_url, "select user_id from analytics.mart_churn_scoring"
        )
    ]
    rng = random.Random(0)
    env = {
        **os.environ,
        **connection_env(endpoints.database_url, endpoints.redis_url, settings),
        "PYTHONPATH": os.pathsep.join([str(SERVICE_DIR), str(ROOT)]),
        "BENCH_MODEL_URI": f"models:/{scoring.MODEL_NAME}/{prepared.version}",
    }
    env.pop("ECOM_API_KEY", None)
    (work / "trivial_service.py").write_text(TRIVIAL_SERVICE)
    (work / "reference_service.py").write_text(textwrap.dedent(REFERENCE_SERVICE))
    uplift_version = prepared.uplift.model_version if prepared.uplift else None
    runs: list[Run] = []
    windows: dict[str, list[wrk_load.WrkWindow]] = {}
    wrk_windows, wrk_seconds = wrk
    for spec in _servers(prepared, requests):
        if spec.before is not None:
            spec.before()
        port = _free_port()
        server = start_server(
            [*spec.command, "--host", "127.0.0.1", "--port", str(port)], env, port, work
        )
        try:
            predict = f"http://127.0.0.1:{port}/predict"
            if spec.basis is not None:
                _require_basis(predict, users[0], spec.basis, uplift_version)
            for target, route, per_request, count in spec.targets:
                url = f"http://127.0.0.1:{port}{route}"
                for clients in CONCURRENCY:
                    if per_request == 1:
                        bodies = [{"user_id": rng.choice(users)} for _ in range(count)]
                    else:
                        bodies = [
                            {"user_ids": rng.sample(users, per_request)} for _ in range(count)
                        ]
                    runs.append(load(target, url, bodies, clients, server.pid))
            if spec.wrk and wrk_windows and wrk_load.available():
                label = spec.targets[0][0]
                for connections in (8, 32):
                    windows.setdefault(label, []).extend(
                        wrk_load.windows(predict, users, connections, wrk_windows, wrk_seconds)
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)
    return runs, windows


def _quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[round(0.99 * (len(ordered) - 1))]


def _time_ms(function, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        samples.append((time.perf_counter() - began) * 1000)
    return _quantiles(samples)


def bench_in_process(
    settings, endpoints, version: str, repeat: int
) -> list[tuple[str, float, float]]:
    """Feast read vs raw HGETALL of the same hashes; the fast path vs the sklearn pipeline."""
    import mlflow

    from ecom.serving.online import OnlineFeatureReader

    store = features.get_feature_store(settings, endpoints)
    reader = OnlineFeatureReader(store)
    client = redis.Redis.from_url(endpoints.redis_url)
    users = [
        u
        for (u,) in fetch_all(
            endpoints.database_url, "select user_id from analytics.mart_churn_scoring limit 100"
        )
    ]
    keys = features._online_keys(store, users)
    predictor = scoring.champion_predictor(settings, version)
    model = mlflow.sklearn.load_model(f"models:/{scoring.MODEL_NAME}/{version}")
    row = reader.read(users[:1])
    frame = __import__("pandas").DataFrame(row.columns)

    def pipelined_hgetall() -> None:
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            pipe.execute()

    def stock_read(ids) -> None:
        store.get_online_features(
            features=reader.service, entity_rows=[{"user_id": u} for u in ids]
        ).to_dict(include_event_timestamps=True)

    cases = [
        ("Feast online read as served, 1 user (prepared keys, one HMGET)",
         lambda: reader.read(users[:1])),
        ("Feast get_online_features (stock), 1 user, with event timestamps",
         lambda: stock_read(users[:1])),
        ("raw HGETALL of the same hash, 1 user", lambda: client.hgetall(keys[0])),
        ("Feast online read as served, 100 users", lambda: reader.read(users)),
        ("Feast get_online_features (stock), 100 users", lambda: stock_read(users)),
        ("raw HGETALL x100, one pipeline", pipelined_hgetall),
        ("ChurnPredictor.predict, 1 row, with top-3 contributions",
         lambda: predictor.predict(row.columns)),
        ("ChurnPredictor.predict, 1 row, probability only",
         lambda: predictor.predict(row.columns, explain=False)),
        ("scikit-learn pipeline predict_proba, 1-row DataFrame (the reference)",
         lambda: churn_models.predict_churn(model, frame)),
    ]  # fmt: skip
    results = []
    for name, function in cases:
        function()
        p50, p99 = _time_ms(function, repeat)
        print(f"{name:<72} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms")
        results.append((name, p50, p99))
    return results


def _side_by_side(runs: list[Run], windows: dict[str, list[wrk_load.WrkWindow]]) -> list[str]:
    """/predict through the uplift champion next to the same service without it (the labelled
    churn-risk fallback), on one world, snapshot and churn champion: what the uplift decision
    costs a request."""
    by = {(run.target, run.clients): run for run in runs}
    lines = [
        "## /predict with and without the uplift champion",
        "",
        "The same generated world (planted retention campaign), snapshot and churn champion; "
        "without, the uplift champion's alias is removed and the service decides contacts by "
        "the churn-risk fallback.",
        "",
        "| clients | with: req/s | p50 ms | p99 ms | CPU ms/req | without: req/s | p50 ms "
        "| p99 ms | CPU ms/req | CPU with / without |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for clients in CONCURRENCY:
        pair = (by[(CHURN, clients)], by[(FALLBACK, clients)])
        cells = [
            f"{run.throughput:,.1f} | {run.percentile(0.5):.2f} | {run.percentile(0.99):.2f} | "
            f"{run.server_cpu_ms:.2f}"
            for run in pair
        ]
        ratio = pair[0].server_cpu_ms / pair[1].server_cpu_ms
        lines.append(f"| {clients} | {cells[0]} | {cells[1]} | {ratio:.2f} |")
    if CHURN in windows and FALLBACK in windows:
        lines += ["", "| wrk | with: req/s | worst p99 ms | without: req/s | worst p99 ms |"]
        lines.append("|---:|---:|---:|---:|---:|")
        for connections in (8, 32):
            cells = []
            for label in (CHURN, FALLBACK):
                level = [w for w in windows[label] if w.connections == connections]
                rate = sum(w.requests_per_second for w in level) / len(level)
                cells.append(f"{rate:,.1f} | {max(w.p99_ms for w in level):.2f}")
            lines.append(f"| {connections} connections | {cells[0]} | {cells[1]} |")
    return [*lines, ""]


def render(
    users: int,
    requests: int,
    runs: list[Run],
    in_process,
    command: str,
    windows: dict[str, list[wrk_load.WrkWindow]] | None = None,
    campaign: bool = False,
) -> str:
    windows = windows or {}
    world = (
        f"a generated world of {users:,} users with the planted retention campaign, /predict "
        "answering through the uplift champion"
        if campaign
        else f"{users:,} users in the snapshot's marts"
    )
    lines = [
        "# Serving benchmark",
        "",
        f"`{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {world}, "
        f"{os.cpu_count()} cores shared with other jobs; load generator and "
        "servers on the same loopback.",
        "",
        "| target | clients | requests | req/s | p50 ms | p99 ms | errors | server CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        lines.append(
            f"| {run.target} | {run.clients} | {run.requests:,} | {run.throughput:,.1f} | "
            f"{run.percentile(0.5):.2f} | {run.percentile(0.99):.2f} | {run.errors} | "
            f"{run.server_cpu_ms:.2f} |"
        )
    by = {(run.target, run.clients): run for run in runs}
    lines += ["", "## Targets", ""]
    for clients in CONCURRENCY:
        churn = by[(CHURN, clients)]
        trivial = by[("trivial BentoML endpoint", clients)]
        reference = by[("reference FastAPI + SQL per request", clients)]
        ratio = churn.throughput / trivial.throughput
        cpu_ratio = trivial.server_cpu_ms / churn.server_cpu_ms
        lines.append(
            f"- {clients} clients: /predict at {ratio:.0%} of the trivial endpoint "
            f"(target >= 60%: {'met' if ratio >= 0.6 else 'missed'}; by server CPU per "
            f"request {cpu_ratio:.0%}); "
            f"{churn.throughput / reference.throughput:.1f}x the reference's req/s "
            f"(target > 1: {'met' if churn.throughput > reference.throughput else 'missed'})"
        )
    eight = by[(CHURN, 8)]
    lines.append(
        f"- /predict p99 at 8 clients {eight.percentile(0.99):.1f} ms (target < 25 ms: "
        f"{'met' if eight.percentile(0.99) < 25 else 'missed'}); errors in all runs: "
        f"{sum(run.errors for run in runs)} (target 0)"
    )
    lines += [
        "",
        "Server CPU per request is the server's process tree's CPU time over the run divided by "
        "its requests: on a shared machine the wall-clock rates move with the other jobs, the "
        "CPU a request costs much less, so the ratio by CPU is the throughput ratio the server "
        "would reach on a core of its own.",
        "",
        *(_side_by_side(runs, windows) if (FALLBACK, 1) in by else []),
        *(line for label, found in windows.items() for line in wrk_load.render(found, label)),
        "## In-process costs (one call at a time)",
        "",
        "| operation | p50 ms | p99 ms |",
        "|---|---:|---:|",
        *(f"| {name} | {p50:.3f} | {p99:.3f} |" for name, p50, p99 in in_process),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=2000, help="requests per /predict run")
    parser.add_argument("--redis-db", type=int, default=13, help="Redis database to use (flushed)")
    parser.add_argument("--repeat", type=int, default=1000, help="calls per in-process timing")
    parser.add_argument("--no-write", action="store_true", help="do not write results/serving.md")
    parser.add_argument("--database", default=BENCH_DATABASE, help="database to (re)create")
    parser.add_argument(
        "--wrk-windows", type=int, default=5, help="wrk windows per level (0: none)"
    )
    parser.add_argument("--wrk-seconds", type=int, default=10, help="seconds per wrk window")
    parser.add_argument(
        "--campaign",
        action="store_true",
        help="generate a world with the planted retention campaign, train the uplift champion "
        "as the pipeline does, and load /predict with and without it",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("feast", "mlflow", "alembic", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    base = Settings()
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as home:
        server = ensure_services(base)
        prepared = prepare(
            server,
            base,
            Path(home),
            args.users,
            args.redis_db,
            args.database,
            campaign=args.campaign,
        )
        settings, endpoints = prepared.settings, prepared.endpoints
        in_process = bench_in_process(settings, endpoints, prepared.version, args.repeat)
        if prepared.uplift is not None:  # one contact decision: econml vs the booster fast path
            in_process += decision_costs(prepared.uplift.model, endpoints.database_url, args.repeat)
        wrk = (args.wrk_windows, args.wrk_seconds)
        runs, windows = bench_http(prepared, args.requests, Path(home), wrk)
    command = "python benchmarks/bench_serving.py " + " ".join(sys.argv[1:])
    report = render(
        args.users, args.requests, runs, in_process, command.strip(), windows, args.campaign
    )
    publish(report, RESULTS.name, write=not args.no_write)


if __name__ == "__main__":
    main()
