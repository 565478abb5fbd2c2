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
