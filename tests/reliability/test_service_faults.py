"""The churn service under faults and load: Redis lost under load, the API fuzzed from its OpenAPI schema, a steady rate for a minute, and a champion that cannot be loaded.

One `bentoml serve` for the module (the serving tests' `stack`: its own embedded Redis, marts
of 300 users, one trained champion, batch scores written), so every answer can be checked
against `analytics.churn_scores`. Every loop here is bounded in count and in time.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest
import redis
from mlflow.tracking import MlflowClient

from ecom.churn.registry import CHAMPION_ALIAS, MODEL_NAME, publish_version
from ecom.features import store as features
from ecom.services import ensure_services, stop_services
from tests.integration import test_serving
from tests.integration.test_serving import API_KEY, Stack, _batch_scores

stack = test_serving.stack  # the serving tests' module fixture: one server for this module too

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

PROBABILITY_TOLERANCE = 1e-6


@dataclass
class Answer:
    sent_at: float  # seconds since the load began (the scheduled send time at a fixed rate)
    seconds: float  # from the scheduled send time to the whole answer
    status: int  # 0: no HTTP answer at all (connection refused or reset)
    body: object = None  # the parsed JSON body, or None when it was not JSON
    user_id: int = 0


@dataclass
class Load:
    """Requests to `/predict` from `threads` clients, until stopped or bounded by count/time."""

    stack: Stack
    users: list[int]
    threads: int = 4
    rate: float | None = None  # requests per second in all; None: as fast as answered
    max_requests: int = 20_000
    max_seconds: float = 90.0
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=str(self.stack.client.base_url), headers={"X-API-Key": API_KEY}, timeout=10
        )

    def _run(self, worker: int, started: float) -> None:
        with self._client() as client:
            n = worker
            while n < self.max_requests and not self._stop.is_set():
                scheduled = started + n / self.rate if self.rate else time.perf_counter()
                if scheduled - started > self.max_seconds:
                    return
                delay = scheduled - time.perf_counter()
                if delay > 0 and self._stop.wait(delay):
                    return
                user = self.users[n % len(self.users)]
                try:
                    response = client.post("/predict", json={"user_id": user})
                    status, body = response.status_code, _json_or_none(response)
                except httpx.TransportError:
                    status, body = 0, None
                answer = Answer(
                    scheduled - started, time.perf_counter() - scheduled, status, body, user
                )
                with self._lock:
                    self.answers.append(answer)
                n += self.threads

    @contextlib.contextmanager
    def running(self) -> Iterator[Load]:
        started = time.perf_counter()
        workers = [
            threading.Thread(target=self._run, args=(k, started), daemon=True)
            for k in range(self.threads)
        ]
        for worker in workers:
            worker.start()
        try:
            yield self
        finally:
            self._stop.set()
            for worker in workers:
                worker.join(timeout=15)
            assert not any(worker.is_alive() for worker in workers), "a load client hung"

    def wait_until(self, seconds: float) -> None:
        """Until the load has run `seconds` (a fixed-rate load) or all clients are done."""
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline and not self._stop.is_set():
            time.sleep(0.2)


def _json_or_none(response: httpx.Response) -> object:
    try:
        return response.json()
    except json.JSONDecodeError:
        return None


def _wrong_predictions(answers: list[Answer], batch: dict) -> list[Answer]:
    """200 answers that are not the batch score of that user (e.g. scored on empty features)."""
    wrong = []
    for answer in answers:
        if answer.status != 200:
            continue
        probability, band, version = batch[answer.user_id]
        body = answer.body
        if (
            not isinstance(body, dict)
            or abs(body["churn_probability"] - probability) > PROBABILITY_TOLERANCE
            or body["risk_band"] != band
            or body["model_version"] != version
        ):
            wrong.append(answer)
    return wrong


def _scored_users(stack: Stack) -> list[int]:
    return sorted(int(user) for user in stack.marts.scoring["user_id"])


def _wait_for_answers(stack: Stack, user: int, seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        response = stack.client.post("/predict", json={"user_id": user})
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


# --------------------------------------------------------------------------- Redis lost


def test_redis_lost_under_load_is_503_never_500_and_recovers_without_a_restart(stack, figures):
    users = _scored_users(stack)
    batch = _batch_scores(stack.endpoints.database_url)
    load = Load(stack, users, threads=4, max_requests=20_000, max_seconds=60)
    with load.running():
        load.wait_until(1.5)
        assert stop_services(stack.redis_home) == ["redis"]
        load.wait_until(2.0)
        # Redis comes back empty (its data lost with it): the service must say so, not guess.
        ensure_services(stack.redis_home)
        redis.Redis.from_url(stack.endpoints.redis_url).flushdb()
        load.wait_until(2.0)
        features.materialize_features(stack.settings, stack.endpoints)
        recovered = _wait_for_answers(stack, users[0], 10)
        load.wait_until(1.5)
    answers = load.answers

    statuses = {answer.status for answer in answers}
    assert statuses <= {200, 503}, sorted(statuses)
    assert all(isinstance(answer.body, dict) for answer in answers)
    unavailable = [answer for answer in answers if answer.status == 503]
    assert unavailable, "the load never met the outage: no 503 at all"
    # Down: Redis unreachable; back but empty: not ready until materialized. Nothing else.
    reasons = {answer.body["error"] for answer in unavailable}
    assert reasons <= {"online_store_unavailable", "online_store_not_ready"}, reasons
    assert all(answer.body["detail"] for answer in unavailable)
    assert _wrong_predictions(answers, batch) == []
    assert answers[-1].status == 200  # answering again, the same process
    assert recovered.status_code == 200, recovered.text

    everyone = stack.client.post("/predict_batch", json={"user_ids": users}).json()["predictions"]
    served = {answer["user_id"]: answer["churn_probability"] for answer in everyone}
    assert set(served) == set(batch)
    np.testing.assert_allclose(
        [served[user] for user in users], [batch[user][0] for user in users], atol=1e-6, rtol=0
    )
    figures.add("Redis stops under load, survived (503s, then correct answers)")
    figures.add("requests during the Redis outage test", len(answers))
    figures.add("of them 503 with a JSON body", len(unavailable))
    figures.add("of them 500 or a prediction not equal to batch", 0)


# --------------------------------------------------------------------------- OpenAPI fuzzing

FUZZ_EXAMPLES = 60  # per operation and generation mode; derandomized, so every run is the same


def test_the_api_fuzzed_from_its_openapi_schema_never_answers_500_and_errors_are_json(
    stack, figures
):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    base_url = str(stack.client.base_url)
    schema = schemathesis.openapi.from_dict(stack.client.get("/docs.json").json())
    # BentoML lists its /metrics in every schema; the service turns metrics off (SERVICE_CONFIG),
    # so it answers BentoML's plain-text 404 there: not an endpoint of this API.
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if op.path != "/metrics"
    ]
    assert {"/predict", "/predict_batch", "/reload"} <= {op.path for op in operations}
    tried: list[tuple[str, int]] = []
    failures: list[str] = []

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=FUZZ_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case) -> None:
                response = case.call(base_url=base_url, headers={"X-API-Key": API_KEY}, timeout=10)
                tried.append((case.operation.label, response.status_code))
                if response.status_code >= 500 and response.status_code != 503:
                    failures.append(f"{case.operation.label} {response.status_code}: {case.body!r}")
                elif response.status_code >= 400:
                    try:
                        body = response.json()
                    except ValueError:
                        failures.append(f"{case.operation.label} {response.status_code} not JSON")
                    else:
                        if not body:
                            failures.append(f"{case.operation.label} {response.status_code} empty")

            try:
                call()
            except Unsatisfiable:  # no invalid input exists (an operation without parameters)
                assert mode == GenerationMode.NEGATIVE, operation.label

    assert failures == [], failures[:10]
    statuses = {status for _, status in tried}
    assert 200 in statuses and 400 in statuses, statuses  # both valid and invalid inputs landed
    figures.add("operations fuzzed from /docs.json (schemathesis)", len(operations))
    figures.add("fuzzed requests sent", len(tried))
    figures.add("of them answered 4xx with a JSON body", sum(400 <= s < 500 for _, s in tried))
    figures.add("of them answered 500", 0)


# --------------------------------------------------------------------------- sustained load

RATE = 100  # requests per second, scheduled (open loop: a slow answer does not slow the rate)
SECONDS = 60
WARM_UP = 5  # first seconds left out of the comparison (connections, caches, first GC)
WINDOW = 10
# A leak that slows each request moves the whole distribution, its median too: the last 10 s's
# median latency must stay within 2x the median of seconds 5-15 plus 20 ms. A stall (a lock, a
# pool running dry) puts seconds on the slowest 1% of every window it lasts through: no more
# than one 5 s window may have a p99 over 2 s. One such window is allowed because, on the
# shared 2-core machine CI runs on, the other test worker once took the CPU for about two seconds
# in the last window (p99 1.94 s, median unaffected); the earlier rule that compared the last
# window's p99 with the first's failed on that alone, with nothing wrong in the service.
MEDIAN_RATIO, MEDIAN_SLACK = 2.0, 0.020
P99_CEILING, WINDOWS_OVER_CEILING = 2.0, 1
# 5,500 requests after warm-up: growth past 32 MiB means about 6 KiB kept per request, the size
# of a kept response or feature frame; a healthy process levels off within a few MiB.
RSS_GROWTH_BYTES = 32 * 2**20


def _server_rss(port: int) -> int:
    """Resident bytes of the `bentoml serve` on `port` and every process under it (workers)."""
    for process in psutil.process_iter(["cmdline"]):
        command = process.info["cmdline"] or []
        if "serve" in command and "--port" in command and str(port) in command:
            family = [process, *process.children(recursive=True)]
            return sum(member.memory_info().rss for member in family)
    raise LookupError(f"no bentoml serve on port {port}")


def _percentile(answers: list[Answer], q: float) -> float:
    return float(np.percentile([answer.seconds for answer in answers], q))


def test_a_steady_rate_for_a_minute_has_no_errors_no_slowdown_no_stall_and_flat_memory(
    stack, figures
):
    users = _scored_users(stack)
    port = stack.client.base_url.port
    load = Load(
        stack, users, threads=8, rate=RATE, max_requests=RATE * SECONDS, max_seconds=SECONDS
    )
    for user in users[:50]:  # first requests of a fresh process: imports, caches, pools
        stack.client.post("/predict", json={"user_id": user})
    with load.running():
        load.wait_until(WARM_UP)
        rss_after_warm_up = _server_rss(port)
        load.wait_until(SECONDS - WARM_UP + 5)  # the clients stop at SECONDS by themselves
        rss_at_end = _server_rss(port)
    answers = sorted(load.answers, key=lambda answer: answer.sent_at)

    errors = [answer for answer in answers if answer.status != 200]
    assert errors == [], [(a.status, a.body) for a in errors[:5]]
    assert len(answers) == RATE * SECONDS
    first = [a for a in answers if WARM_UP <= a.sent_at < WARM_UP + WINDOW]
    last = [a for a in answers if a.sent_at >= SECONDS - WINDOW]
    first_median, last_median = _percentile(first, 50), _percentile(last, 50)
    first_p99, last_p99 = _percentile(first, 99), _percentile(last, 99)
    windows = [
        round(_percentile([a for a in answers if k <= a.sent_at < k + 5], 99) * 1000)
        for k in range(WARM_UP, SECONDS, 5)
    ]
    print("p99 by 5 s window, ms:", windows)
    print(
        f"median first {first_median * 1000:.1f} ms, last {last_median * 1000:.1f} ms; "
        f"p99 first {first_p99 * 1000:.1f} ms, last {last_p99 * 1000:.1f} ms; "
        f"RSS {rss_after_warm_up / 2**20:.1f} -> {rss_at_end / 2**20:.1f} MiB"
    )
    assert last_median <= MEDIAN_RATIO * first_median + MEDIAN_SLACK, (first_median, last_median)
    over_ceiling = [ms for ms in windows if ms > P99_CEILING * 1000]
    assert len(over_ceiling) <= WINDOWS_OVER_CEILING, windows
    assert rss_at_end - rss_after_warm_up <= RSS_GROWTH_BYTES, (rss_after_warm_up, rss_at_end)
    assert _wrong_predictions(answers, _batch_scores(stack.endpoints.database_url)) == []
    figures.add(f"/predict requests at {RATE} req/s for {SECONDS} s", len(answers))
    figures.add("of them errors", len(errors))
    figures.add("worst p99 of a 5 s window, ms", max(windows))
    figures.add("median ms, seconds 5-15", round(first_median * 1000))
    figures.add("median ms, last 10 s", round(last_median * 1000))
    figures.add("p99 ms, seconds 5-15", round(first_p99 * 1000))
    figures.add("p99 ms, last 10 s", round(last_p99 * 1000))
    figures.add(
        "service RSS growth after warm-up, MiB", round((rss_at_end - rss_after_warm_up) / 2**20)
    )


# --------------------------------------------------------------------------- a broken model


def _broken_copy_of_the_champion(stack: Stack, tmp_path) -> str:
    """The champion's logged model, copied with its model file cut short: registrable, not
    loadable (a disk that filled up mid-write, an interrupted upload)."""
    import mlflow

    source = mlflow.artifacts.download_artifacts(
        f"models:/{MODEL_NAME}/{stack.version}", dst_path=str(tmp_path / "model")
    )
    files = [path for path in sorted(Path(source).iterdir()) if path.suffix in {".skops", ".pkl"}]
    assert files, sorted(Path(source).iterdir())
    for path in files:
        path.write_bytes(path.read_bytes()[:100])
    return Path(source).as_uri()


def test_a_model_that_cannot_be_loaded_never_takes_the_alias_and_the_old_champion_serves_on(
    stack, tmp_path, figures
):
    client = MlflowClient(
        tracking_uri=stack.settings.tracking_uri, registry_uri=stack.settings.tracking_uri
    )
    user = _scored_users(stack)[0]
    before = stack.client.post("/predict", json={"user_id": user}).json()
    versions_before = {v.version for v in client.search_model_versions(f"name='{MODEL_NAME}'")}
    broken = _broken_copy_of_the_champion(stack, tmp_path)

    # Training's last step: the gate said promote, but the artifacts do not load.
    with pytest.raises(Exception, match="cannot be loaded"):
        publish_version(client, broken, {"champion_decision": "promoted"}, make_champion=True)
    assert client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS).version == int(
        stack.version
    )
    after = {v.version for v in client.search_model_versions(f"name='{MODEL_NAME}'")}
    assert after == versions_before  # the broken version was deleted again

    # Someone moves the alias by hand anyway: the service keeps answering with the old model.
    forced = client.create_model_version(MODEL_NAME, broken)
    try:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION_ALIAS, forced.version)
        reload = stack.client.post("/reload")
        assert reload.status_code == 503, reload.text
        assert reload.json()["error"] == "champion_not_loadable"
        assert f"still serving v{stack.version}" in reload.json()["detail"]
        time.sleep(2.5)  # the background check (every second here) fails the same way
        assert stack.client.post("/predict", json={"user_id": user}).json() == before
    finally:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION_ALIAS, stack.version)
        client.delete_model_version(MODEL_NAME, forced.version)
    assert stack.client.post("/reload").json()["model_version"] == stack.version
    figures.add("unloadable models refused the champion alias at publication", 1)
    figures.add("unloadable champions forced on a running service, old champion kept", 1)
