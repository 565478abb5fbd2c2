"""The churn service: `POST /predict`, `POST /predict_batch`, `POST /reload`, plus BentoML's
`GET /healthz`, `GET /readyz` and the OpenAPI document at `/docs.json`.

Run it with `ecom serve [--port 8000]` or, from this folder, `bentoml serve service:ChurnService`.
Everything that lives for the process (the champion, one Feast store and the resolved feature
service) is built in `__init__`; each endpoint authorises, calls `ecom.serving`, and shapes the
answer. Status codes:

- 200 an answer; 400 any bad payload (malformed JSON, wrong type, missing/extra field, empty
  or too long `user_ids`); 401 `ECOM_API_KEY` is set and `X-API-Key` does not carry it;
- 404 the user has no row in the current scoring snapshot (unknown or inactive);
- 503 Redis unreachable (answers again by itself once Redis is back), or the online store
  empty/older than the snapshot (the body says: run `ecom features materialize`); `/readyz`
  answers the same JSON body (`{"error": ..., "detail": ...}`) as `/predict`.

The champion alias is re-checked every `ECOM_SERVING_REFRESH_SECONDS` (default 30) on a
background thread and at once on `POST /reload`. Tracing, metrics and access logs are off for
the endpoints: they cost more CPU than a prediction (see benchmarks/results/serving.md).

What may block runs off the event loop: `/reload` (an MLflow model load, seconds) is a plain
`def` endpoint, which BentoML runs in its thread pool, and readiness (PostgreSQL and Redis) goes
to a thread. `/predict` and `/predict_batch` stay `async`: one HMGET on loopback (Redis made to
fail in a millisecond, `ecom.serving.online.fail_fast`) and a prediction of tens of microseconds
cost less than the hop to a thread (about 40% more CPU per request, FACTS.md). The endpoints
return the JSON bytes themselves (`Response`); `output_spec` gives `/docs.json` the model.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import bentoml
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from ecom.runtime import start_runtime
from ecom.serving.predictions import ChurnServing, ServingError
from ecom.serving.readiness import JsonReadiness
from ecom.serving.schemas import (
    BatchPrediction,
    ChurnPrediction,
    PredictBatchRequest,
    PredictRequest,
    ReloadResult,
)

ROUTES = ["/predict", "/predict_batch", "/reload", "/healthz", "/livez", "/readyz"]
# Also the settings of the trivial endpoint benchmarks/bench_serving.py compares against.
SERVICE_CONFIG = {
    "name": "churn_api",
    "workers": 1,
    "http": {"port": 8000},
    "traffic": {"timeout": 30},
    "metrics": {"enabled": False},
    "logging": {"access": {"enabled": False}},
    "tracing": {"excluded_urls": ROUTES},
}


@bentoml.service(**SERVICE_CONFIG)
class ChurnService:
    def __init__(self) -> None:
        self.serving = ChurnServing(*start_runtime())

    async def __is_ready__(self) -> bool:
        state = await asyncio.to_thread(self.serving.readiness)
        if not state.ready:  # JsonReadiness gives this body its JSON content type
            body = ServingError(503, state.error, state.detail).body()
            raise HTTPException(status_code=503, detail=json.dumps(body))
        return True

    def _answer(self, ctx: bentoml.Context, work: Callable[[], BaseModel]) -> Response:
        """The answer as JSON bytes: the models are built typed, so BentoML's re-validation
        of the return value against the annotation is skipped (it cost more than encoding)."""
        try:
            self.serving.authorize(ctx.request.headers)
            return Response(work().model_dump_json(), media_type="application/json")
        except ServingError as error:
            ctx.response.status_code = error.status
            return JSONResponse(error.body(), status_code=error.status)

    @bentoml.api(route="/predict", input_spec=PredictRequest, output_spec=ChurnPrediction)
    async def predict(self, user_id: int, ctx: bentoml.Context) -> Response:
        """Churn probability, risk band, action, expected value, risk percentile and population
        band (as `ecom score` stored them for the snapshot) and top features of one user."""
        return self._answer(ctx, lambda: self.serving.predict_user(user_id))

    @bentoml.api(
        route="/predict_batch", input_spec=PredictBatchRequest, output_spec=BatchPrediction
    )
    async def predict_batch(self, user_ids: list[int], ctx: bentoml.Context) -> Response:
        """The same for many users in one Feast read; users without a row are listed apart."""
        return self._answer(ctx, lambda: self.serving.predict_users(user_ids))

    @bentoml.api(route="/reload", output_spec=ReloadResult)
    def reload(self, ctx: bentoml.Context) -> Response:
        """Follow the champion alias and re-read the scoring snapshot now."""
        return self._answer(ctx, self.serving.reload)


ChurnService.add_asgi_middleware(JsonReadiness)
