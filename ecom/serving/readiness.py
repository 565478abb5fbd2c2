"""`GET /readyz` answers its 503 as JSON, like every other error of the churn service.

BentoML's built-in `/readyz` turns the `HTTPException` that `__is_ready__` raises into a
`text/plain` body, and a mounted app cannot replace the built-in route. This ASGI middleware
sits in front of it and touches only `/readyz` responses with a status >= 400: a body that is
already a JSON object (the service raises with one) gets the JSON content type; anything else
(BentoML's own text) becomes `{"error": "not_ready", "detail": <the text>}`.
"""

from __future__ import annotations

import json
from typing import Any

READYZ = "/readyz"


def json_body(raw: bytes) -> bytes:
    """`raw` if it is a JSON object, else the text wrapped as one."""
    try:
        if isinstance(json.loads(raw), dict):
            return raw
    except ValueError:
        pass
    text = raw.decode("utf-8", "replace").strip()
    return json.dumps({"error": "not_ready", "detail": text}).encode()


class JsonReadiness:
    """Pure ASGI middleware; every other path passes straight through."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") != READYZ:
            await self.app(scope, receive, send)
            return
        start: dict | None = None
        chunks: list[bytes] = []

        async def rewrite(message: dict) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] >= 400:
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = json_body(b"".join(chunks))
            headers = [
                (name, value)
                for name, value in start.get("headers", [])
                if name.lower() not in (b"content-type", b"content-length")
            ]
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)
