"""`/readyz`'s error bodies are JSON objects whatever produced them."""

import json

from ecom.serving.readiness import json_body


def test_a_json_object_passes_unchanged():
    raw = json.dumps({"error": "online_store_unavailable", "detail": "Redis is unreachable"})
    assert json_body(raw.encode()) == raw.encode()


def test_plain_text_is_wrapped_naming_the_problem():
    body = json.loads(json_body(b"Service is not ready because .__is_ready__() returns False.\n"))
    assert body == {
        "error": "not_ready",
        "detail": "Service is not ready because .__is_ready__() returns False.",
    }


def test_json_that_is_not_an_object_is_wrapped_too():
    assert json.loads(json_body(b'"text"')) == {"error": "not_ready", "detail": '"text"'}


def test_the_middleware_turns_a_plain_text_503_into_json_and_leaves_other_paths_alone():
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from ecom.serving.readiness import JsonReadiness

    def not_ready(request):
        raise HTTPException(503, detail=json.dumps({"error": "x", "detail": "why"}))

    def text(request):
        return PlainTextResponse("plain", status_code=503)

    app = Starlette(routes=[Route("/readyz", not_ready), Route("/other", text)])
    app.add_middleware(JsonReadiness)
    client = TestClient(app)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/json"
    assert ready.json() == {"error": "x", "detail": "why"}
    other = client.get("/other")
    assert other.headers["content-type"].startswith("text/plain") and other.text == "plain"
