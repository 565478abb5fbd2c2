"""The BentoML churn service over HTTP, on real Redis, PostgreSQL and MLflow.

One server for the module (`bentoml serve` on a free port, as `ecom serve` runs it), with its
own embedded Redis so the Redis test can stop it for real and start it again. Marts are the
simulated churn marts; one XGBoost is trained and batch scoring runs once, then every answer
of the service is checked against what batch wrote.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import psutil
import pytest
import redis
from mlflow.tracking import MlflowClient

from ecom.churn import scoring
from ecom.churn.registry import CHAMPION_ALIAS, MODEL_NAME, champion_version
from ecom.config import PostgresParts, Settings, connection_env, libpq_env
from ecom.db import create_database, drop_database, fetch_all, transaction
from ecom.features import store as features
from ecom.features.errors import OlderSnapshot
from ecom.services import Endpoints, ensure_services, stop_services
from ecom.serving.model_holder import ModelHolder
from ecom.stack import port_in_use
from tests.integration.churn_api_server import (
    ROOT,
    free_port,
    start_churn_api,
    stop_group,
    wait_for,
)
from tests.integration.churn_marts import (
    FEATURE_COLUMNS_DDL,
    ChurnMarts,
    load_churn_marts,
    train_xgboost_on_marts,
    write_table,
)

pytestmark = pytest.mark.integration

API_KEY = "test-key-7f3a"
MAX_BATCH = 400
AS_OF = date(2024, 7, 1)


@dataclass
class Stack:
    settings: Settings
    endpoints: Endpoints
    redis_home: Settings
    marts: ChurnMarts
    client: httpx.Client
    version: str


@pytest.fixture(scope="module")
def stack(ecom_settings, tmp_path_factory) -> Iterator[Stack]:
    # A database of this module's own (Feast's registry in it remembers only this module's
    # materializations) and a Redis of its own (embedded, persistent, so it can be stopped).
    server_url = ecom_settings.database_url
    with contextlib.ExitStack() as cleanup:
        database_url = create_database(server_url, f"ecom_serving_{uuid.uuid4().hex[:8]}")
        cleanup.callback(drop_database, server_url, PostgresParts(database_url).dbname)
        redis_home = Settings(_env_file=None).with_overrides(
            home=tmp_path_factory.mktemp("serving_redis"), database_url=database_url, redis_url=None
        )
        cleanup.callback(stop_services, redis_home, purge=True)
        redis_url = ensure_services(redis_home).redis_url
        settings = ecom_settings.with_overrides(database_url=database_url, redis_url=redis_url)
        endpoints = Endpoints(database_url, redis_url, embedded=False)
        marts = load_churn_marts(settings, endpoints, n_users=300, n_cutoffs=22, seed=5)
        registry = MlflowClient(
            tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri
        )
        if champion_version(registry) is None:  # reuse a champion an earlier module trained
            train_xgboost_on_marts(settings, endpoints)
        env = {
            **os.environ,
            **connection_env(database_url, redis_url, settings),
            "ECOM_API_KEY": API_KEY,
            "ECOM_SERVING_MAX_BATCH": str(MAX_BATCH),
            "ECOM_SERVING_REFRESH_SECONDS": "1",
        }
        # Starting takes as long as scoring and materializing: do them meanwhile.
        client = start_churn_api(cleanup, env, {"X-API-Key": API_KEY})
        summary = scoring.score_users(settings, endpoints)
        features.materialize_features(settings, endpoints)
        # A busy 2-core machine has taken over two minutes to load the champion and start.
        wait_for(client, "/readyz", 300)
        yield Stack(settings, endpoints, redis_home, marts, client, summary.model_version)


def _batch_scores(database_url: str) -> dict[int, tuple[float, str, str]]:
    rows = fetch_all(
        database_url,
        "select user_id, churn_probability, risk_band, model_version "
        "from analytics.churn_scores where scoring_date = %s",
        (AS_OF,),
    )
    return {int(user): (p, band, version) for user, p, band, version in rows}


def _batch_ranks(database_url: str) -> dict[int, tuple[float, str]]:
    rows = fetch_all(
        database_url,
        "select user_id, risk_percentile, population_band "
        "from analytics.churn_scores where scoring_date = %s",
        (AS_OF,),
    )
    return {int(user): (percentile, band) for user, percentile, band in rows}


def _predict(stack: Stack, user_id: object) -> httpx.Response:
    return stack.client.post("/predict", json={"user_id": user_id})


# --------------------------------------------------------------------------- answers


def test_predict_batch_equals_batch_scores_for_every_user(stack):
    everyone = sorted(
        set(stack.marts.features["user_id"]) | set(stack.marts.scoring["user_id"]) | {424242}
    )
    assert len(everyone) <= MAX_BATCH
    response = stack.client.post("/predict_batch", json={"user_ids": everyone})
    assert response.status_code == 200, response.text
    body = response.json()
    batch = _batch_scores(stack.endpoints.database_url)
    served = {answer["user_id"]: answer for answer in body["predictions"]}
    # Redis answers for exactly the users batch scored; everyone else is listed as unknown.
    assert set(served) == set(batch) == set(stack.marts.scoring["user_id"])
    assert set(body["unknown_user_ids"]) == set(everyone) - set(batch)
    for user, (probability, band, version) in batch.items():
        answer = served[user]
        assert abs(answer["churn_probability"] - probability) <= 1e-6, user
        assert answer["risk_band"] == band
        assert answer["model_version"] == version
        assert answer["features_as_of"] == AS_OF.isoformat()


def test_predict_batch_ranks_users_in_the_population_as_batch_did(stack):
    """Percentile and population band: the service reads the scores batch stored for the
    snapshot and the champion (in the background, so it may take one refresh) and ranks with
    the same function."""
    users = sorted(_batch_ranks(stack.endpoints.database_url))
    deadline = time.monotonic() + 20
    while True:
        response = stack.client.post("/predict_batch", json={"user_ids": users})
        assert response.status_code == 200, response.text
        served = {answer["user_id"]: answer for answer in response.json()["predictions"]}
        if all(a["risk_percentile"] is not None for a in served.values()):
            break
        assert time.monotonic() < deadline, "the service never loaded the scoring population"
        time.sleep(0.5)
    ranks = _batch_ranks(stack.endpoints.database_url)
    assert set(served) == set(ranks)
    for user, (percentile, band) in ranks.items():
        assert abs(served[user]["risk_percentile"] - percentile) <= 1e-6, user
        assert served[user]["population_band"] == band, user
    assert len({band for _, band in ranks.values()}) >= 3


def test_predict_answers_every_field(stack):
    # The riskiest user: some feature must push the score up, so an empty list is wrong.
    batch = _batch_scores(stack.endpoints.database_url)
    user = max(batch, key=lambda scored: batch[scored][0])
    response = _predict(stack, user)
    assert response.status_code == 200, response.text
    answer = response.json()
    probability = answer["churn_probability"]
    assert answer["user_id"] == user
    assert answer["is_high_risk"] == (probability > 0.7)
    expected_action = (
        "call" if probability > 0.8 else "coupon" if probability >= 0.5 else "no_action"
    )
    assert answer["recommended_action"] == expected_action
    assert answer["expected_value"] == pytest.approx(probability * 150 * 0.30 - 10)
    # No campaign here: the contact decision is the retention list's labelled fallback.
    assert answer["list_basis"] == "churn_risk_fallback"
    assert answer["estimated_effect"] is None and answer["uplift_model_version"] is None
    assert answer["expected_incremental_value"] == pytest.approx(answer["expected_value"])
    assert answer["contact_recommended"] == (answer["expected_value"] > 0)
    assert answer["model_name"] == MODEL_NAME
    assert answer["model_version"] == stack.version
    assert 1 <= len(answer["top_features"]) <= 3, answer
    contributions = [c["contribution"] for c in answer["top_features"]]
    assert contributions == sorted(contributions, reverse=True)
    assert all(value > 0 for value in contributions)
    assert len({c["feature"] for c in answer["top_features"]}) == len(contributions)


def test_unknown_and_inactive_users_are_404(stack):
    inactive = sorted(set(stack.marts.features["user_id"]) - set(stack.marts.scoring["user_id"]))
    for user in (424242, inactive[0]):
        response = _predict(stack, user)
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "unknown_user"
        assert str(user) in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/predict", b'{"user_id": '),
        ("/predict", b'{"user_id": "abc"}'),
        ("/predict", b'{"user_id": 1.5}'),
        ("/predict", b'{"user": 1}'),
        ("/predict", b'{"user_id": 1, "extra": 2}'),
        ("/predict_batch", b'{"user_ids": []}'),
        ("/predict_batch", b'{"user_ids": "1,2"}'),
        ("/predict_batch", b'{"user_ids": [1, "x"]}'),
    ],
)
def test_every_bad_payload_is_400_with_a_json_body(stack, path, content):
    response = stack.client.post(
        path, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]


def test_a_batch_over_the_maximum_is_400(stack):
    response = stack.client.post("/predict_batch", json={"user_ids": list(range(MAX_BATCH + 1))})
    assert response.status_code == 400
    assert response.json()["error"] == "too_many_users"
    assert "ECOM_SERVING_MAX_BATCH" in response.json()["detail"]


def test_the_api_key_is_required(stack):
    user = int(stack.marts.scoring["user_id"].iloc[0])
    for headers in ({}, {"X-API-Key": "wrong"}):
        response = httpx.post(
            f"{stack.client.base_url}/predict", json={"user_id": user}, headers=headers
        )
        assert response.status_code == 401
        assert "X-API-Key".lower() in response.json()["detail"].lower()


def test_health_readiness_and_openapi(stack):
    assert stack.client.get("/healthz").status_code == 200
    assert stack.client.get("/readyz").status_code == 200
    spec = stack.client.get("/docs.json").json()
    assert {"/predict", "/predict_batch", "/reload"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    assert any("ChurnPrediction" in name for name in schemas)


def test_the_logged_model_encodes_raw_rows_the_same_through_mlflow_pyfunc(stack):
    import mlflow

    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{stack.version}")
    raw = scoring.read_scoring_features(stack.endpoints.database_url)
    predictor = scoring.champion_predictor(stack.settings, stack.version)
    inputs = raw[[*predictor.numeric, *predictor.categorical]]
    probabilities = np.asarray(model.predict(inputs))[:, 1]
    batch = _batch_scores(stack.endpoints.database_url)
    expected = np.array([batch[int(user)][0] for user in raw["user_id"]])
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-6)


def test_batch_reads_keep_text_like_na_as_text_and_null_as_missing(stack):
    database_url = stack.endpoints.database_url
    first, second = sorted(stack.marts.scoring["user_id"])[:2]
    with transaction(database_url) as cursor:
        cursor.execute(
            "update analytics.mart_churn_scoring set country = 'NA', gender = 'None' "
            "where user_id = %s",
            (first,),
        )
        cursor.execute(
            "update analytics.mart_churn_scoring set country = null where user_id = %s", (second,)
        )
    try:
        raw = scoring.read_scoring_features(database_url).set_index("user_id")
    finally:
        write_table(database_url, "mart_churn_scoring", stack.marts.scoring, FEATURE_COLUMNS_DDL)
    assert raw.loc[first, "country"] == "NA" and raw.loc[first, "gender"] == "None"
    assert pd.isna(raw.loc[second, "country"])


# --------------------------------------------------------------------------- failures


def test_redis_down_is_503_and_the_service_recovers_by_itself(stack):
    user = int(stack.marts.scoring["user_id"].iloc[0])
    before = _predict(stack, user).json()
    assert stop_services(stack.redis_home) == ["redis"]
    try:
        response = _predict(stack, user)
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "online_store_unavailable"
        assert "Redis" in response.json()["detail"]
        ready = stack.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/json"
        assert ready.json() == response.json()  # the same JSON body /predict answers
    finally:
        ensure_services(stack.redis_home)  # same port, same data (persisted under its home)
    response = _predict(stack, user)
    assert response.status_code == 200, response.text
    assert response.json() == before
    assert stack.client.get("/readyz").status_code == 200


def test_an_empty_store_is_503_naming_materialize(stack):
    user = int(stack.marts.scoring["user_id"].iloc[0])
    redis.Redis.from_url(stack.endpoints.redis_url).flushdb()
    try:
        time.sleep(1.1)  # the store state is cached for a second
        for response in (_predict(stack, user), stack.client.get("/readyz")):
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/json"
            assert response.json()["error"] == "online_store_not_ready"
            assert "ecom features materialize" in response.json()["detail"]
    finally:
        features.materialize_features(stack.settings, stack.endpoints)
    time.sleep(1.1)
    assert _predict(stack, user).status_code == 200


def test_a_store_older_than_the_snapshot_is_503(stack):
    user = int(stack.marts.scoring["user_id"].iloc[0])
    _shift_scoring_mart(stack.endpoints.database_url, days=1)
    try:
        stack.client.post("/reload")  # re-reads the snapshot at once
        response = _predict(stack, user)
        assert response.status_code == 503
        assert "older than the scoring snapshot" in response.json()["detail"]
        assert "ecom features materialize" in response.json()["detail"]
    finally:
        _shift_scoring_mart(stack.endpoints.database_url, days=-1)
        stack.client.post("/reload")
    assert _predict(stack, user).status_code == 200


def _shift_scoring_mart(database_url: str, days: int) -> None:
    with transaction(database_url) as cursor:
        cursor.execute(
            "update analytics.mart_churn_scoring set cutoff_date = cutoff_date + %s, "
            "feature_timestamp = feature_timestamp + make_interval(days => %s)",
            (days, days),
        )


# --------------------------------------------------------------------------- the model


def test_a_moved_champion_alias_is_picked_up_without_a_restart(stack):
    user = int(stack.marts.scoring["user_id"].iloc[0])
    client = MlflowClient(
        tracking_uri=stack.settings.tracking_uri, registry_uri=stack.settings.tracking_uri
    )
    current = client.get_model_version(MODEL_NAME, stack.version)
    copy = client.create_model_version(MODEL_NAME, current.source, run_id=current.run_id)
    try:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION_ALIAS, copy.version)
        deadline = time.monotonic() + 20  # the service checks the alias every second here
        while _predict(stack, user).json()["model_version"] != str(copy.version):
            assert time.monotonic() < deadline, "the service never followed the alias"
            time.sleep(0.5)
    finally:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION_ALIAS, stack.version)
    reloaded = stack.client.post("/reload").json()
    assert reloaded["model_version"] == stack.version
    assert _predict(stack, user).json()["model_version"] == stack.version


def test_a_missing_champion_is_a_clear_start_up_error(stack):
    client = MlflowClient(
        tracking_uri=stack.settings.tracking_uri, registry_uri=stack.settings.tracking_uri
    )
    client.delete_registered_model_alias(MODEL_NAME, CHAMPION_ALIAS)
    try:
        with pytest.raises(scoring.NoChampionModel, match="ecom train"):
            ModelHolder(stack.settings)
    finally:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION_ALIAS, stack.version)
    assert champion_version(client) == stack.version


# --------------------------------------------------------------------------- materialization


def _online_dump(redis_url: str) -> dict[bytes, dict[bytes, bytes]]:
    client = redis.Redis.from_url(redis_url)
    return {key: client.hgetall(key) for key in client.scan_iter(count=1000)}


def _feast_cli(stack: Stack, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        **connection_env(stack.settings.database_url, stack.endpoints.redis_url, stack.settings),
    }
    feast = Path(sys.executable).with_name("feast")
    result = subprocess.run(
        [str(feast), "-c", str(ROOT / "feature_repo"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if check:
        assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_materialize_is_idempotent_and_the_feast_cli_writes_the_same_store(stack):
    features.materialize_features(stack.settings, stack.endpoints)
    written = _online_dump(stack.endpoints.redis_url)
    assert len(written) == len(stack.marts.scoring)
    features.materialize_features(stack.settings, stack.endpoints)
    assert _online_dump(stack.endpoints.redis_url) == written

    # A fresh (emptied) store: Feast's registry remembers [as-of, as-of], so the CLI's
    # incremental run writes exactly the snapshot, byte for byte.
    redis.Redis.from_url(stack.endpoints.redis_url).flushdb()
    _feast_cli(stack, "materialize-incremental", f"{AS_OF.isoformat()}T00:00:00")
    assert _online_dump(stack.endpoints.redis_url) == written


def test_a_new_snapshot_replaces_the_old_one_and_an_older_one_never_overwrites_it(stack):
    database_url = stack.endpoints.database_url
    leavers = sorted(stack.marts.scoring["user_id"])[:10]
    stayers = set(stack.marts.scoring["user_id"]) - set(leavers)
    try:
        with transaction(database_url) as cursor:
            cursor.execute(
                "delete from analytics.mart_churn_scoring where user_id = any(%s)", (leavers,)
            )
        _shift_scoring_mart(database_url, days=7)
        stack.client.post("/reload")

        # `ecom features materialize` on the used store: the new snapshot's rows, and the
        # users who left it deleted, so Redis holds exactly the snapshot.
        summary = features.materialize_features(stack.settings, stack.endpoints)
        assert summary.removed == len(leavers)
        newest = _online_dump(stack.endpoints.redis_url)
        assert len(newest) == len(stayers)
        everyone = sorted(set(stack.marts.scoring["user_id"]))
        body = stack.client.post("/predict_batch", json={"user_ids": everyone}).json()
        assert {answer["user_id"] for answer in body["predictions"]} == stayers
        assert set(body["unknown_user_ids"]) == set(leavers)
        assert {answer["features_as_of"] for answer in body["predictions"]} == {"2024-07-08"}

        # The same through the `feast` CLI on a used store: one week on, five more leave, and
        # `feast materialize-incremental` leaves exactly what `ecom features materialize` does.
        more = sorted(stayers)[:5]
        with transaction(database_url) as cursor:
            cursor.execute(
                "delete from analytics.mart_churn_scoring where user_id = any(%s)", (more,)
            )
        _shift_scoring_mart(database_url, days=7)
        _feast_cli(stack, "materialize-incremental", "2024-07-15T00:00:00")
        by_cli = _online_dump(stack.endpoints.redis_url)
        assert len(by_cli) == len(stayers) - len(more)
        assert features.materialize_features(stack.settings, stack.endpoints).removed == 0
        assert _online_dump(stack.endpoints.redis_url) == by_cli
        _shift_scoring_mart(database_url, days=-7)
        redis.Redis.from_url(stack.endpoints.redis_url).flushdb()
        write_table(database_url, "mart_churn_scoring", stack.marts.scoring, FEATURE_COLUMNS_DDL)
        with transaction(database_url) as cursor:
            cursor.execute(
                "delete from analytics.mart_churn_scoring where user_id = any(%s)", (leavers,)
            )
        _shift_scoring_mart(database_url, days=7)
        features.materialize_features(stack.settings, stack.endpoints)
        assert _online_dump(stack.endpoints.redis_url) == newest

        # Back to the older snapshot in PostgreSQL: materializing it is refused, Redis stays.
        _shift_scoring_mart(database_url, days=-7)
        with pytest.raises(OlderSnapshot, match="2024-07-08"):
            features.materialize_features(stack.settings, stack.endpoints)
        assert _online_dump(stack.endpoints.redis_url) == newest
        # The feast CLI is refused the same way: the repo's engine checks before writing.
        refused = _feast_cli(
            stack, "materialize", "2024-06-30T00:00:00", "2024-07-01T00:00:00", check=False
        )
        assert refused.returncode != 0
        assert "an older snapshot never overwrites a newer one" in refused.stderr + refused.stdout
        assert _online_dump(stack.endpoints.redis_url) == newest
    finally:
        write_table(database_url, "mart_churn_scoring", stack.marts.scoring, FEATURE_COLUMNS_DDL)
        redis.Redis.from_url(stack.endpoints.redis_url).flushdb()
        features.materialize_features(stack.settings, stack.endpoints)
        stack.client.post("/reload")
    assert _predict(stack, leavers[0]).status_code == 200


# --------------------------------------------------------------------------- the command


def _readme_api_lines() -> tuple[str, list[str]]:
    """The README's churn API block: the line that picks a scored user, and the curl lines."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The churn API", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    lines = [line.strip() for line in block.splitlines()]
    (pick,) = [line for line in lines if line.startswith("USER_ID=")]
    return pick, [line for line in lines if line.startswith("curl ")]


def test_the_readme_curl_lines_answer_for_a_scored_user(stack, tmp_path):
    """Pasted as written (psql from `ecom services env`, the port swapped for the module's),
    each README line answers with a prediction, never the 404 of a guessed id."""
    pick, curls = _readme_api_lines()
    assert [("/predict " in line, "/predict_batch " in line) for line in curls] == [
        (True, False),
        (False, True),
    ]
    port = stack.client.base_url.port
    # The module's service wants an API key; curl reads it from CURL_HOME/.curlrc, so the
    # README's lines stay exactly as a reader pastes them.
    (tmp_path / ".curlrc").write_text(f'header = "X-API-Key: {API_KEY}"\n')
    pgserver_bin = Path(sys.executable).parent.parent / "lib"
    (psql,) = pgserver_bin.glob("python3*/site-packages/pgserver/pginstall/bin/psql")
    env = {
        **os.environ,
        **libpq_env(stack.endpoints.database_url),
        "PATH": f"{psql.parent}:{os.environ['PATH']}",
        "CURL_HOME": str(tmp_path),
    }
    scored = set(_batch_scores(stack.endpoints.database_url))
    answers = []
    for curl in curls:
        script = f"set -euo pipefail\n{pick}\n{curl.replace('localhost:8000', f'127.0.0.1:{port}')}"
        done = subprocess.run(
            ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        answers.append(json.loads(done.stdout))
    single, batch = answers
    assert single["user_id"] in scored, single
    assert 0 <= single["churn_probability"] <= 1
    assert [answer["user_id"] for answer in batch["predictions"]] == [single["user_id"]]
    assert batch["unknown_user_ids"] == [7]


def _descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def test_ecom_serve_names_scored_users_and_a_sigterm_stops_everything(stack, tmp_path):
    """`kill <pid>` of `ecom serve` (the parent only, as a supervisor sends it) leaves no
    server, worker or port behind."""
    port = free_port()
    env = {
        **os.environ,
        **connection_env(stack.endpoints.database_url, stack.endpoints.redis_url, stack.settings),
        "ECOM_HOME": str(tmp_path / "home"),
        "ECOM_API_KEY": API_KEY,
        "COLUMNS": "200",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "ecom"), "serve", "--port", str(port)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        first_line = server.stdout.readline()
        shown = [int(user) for user in first_line.split(":", 1)[1].split("(")[0].split(",")]
        assert first_line.startswith("scored users to try: ")
        assert set(shown) <= set(_batch_scores(stack.endpoints.database_url)) and shown
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            wait_for(client, "/readyz", 180)
            family = _descendants(server.pid)
            assert family, "bentoml serve runs its workers as children"
            os.kill(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
            _, alive = psutil.wait_procs(family, timeout=30)
            assert not alive, [process.cmdline() for process in alive]
            with pytest.raises(httpx.TransportError):
                client.get("/healthz")
        assert not port_in_use("127.0.0.1", port)
    finally:
        if server.poll() is None:
            stop_group(server)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
