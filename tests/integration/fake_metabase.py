"""A FAKE of Metabase's REST API (v0.50 shapes), for testing provisioning without Metabase.

This is not Metabase: Metabase (a JVM app) cannot run on these machines. It is a small,
stateful HTTP server on loopback that answers the endpoints `ecom dashboards provision`
uses, with the request and response shapes of Metabase's API documentation
(metabase.com/docs/latest/api): setup once with the setup token, then a session header on
every call, `{"data": [...]}` listings, dashcards replaced by `PUT /api/dashboard/:id` with
negative ids for new ones. It rejects what Metabase rejects for these calls (no session,
a reused setup token, a card without `dataset_query`, a dashcard without its size). Every
request is recorded, so a test can assert what a second run did and did not do.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    body: Any


@dataclass
class FakeMetabaseState:
    setup_token: str = field(default_factory=lambda: str(uuid.uuid4()))
    admin: dict | None = None
    sessions: set[str] = field(default_factory=set)
    databases: dict[int, dict] = field(default_factory=dict)
    collections: dict[int, dict] = field(default_factory=dict)
    cards: dict[int, dict] = field(default_factory=dict)
    dashboards: dict[int, dict] = field(default_factory=dict)
    tables: dict[int, dict] = field(default_factory=dict)
    fields: dict[int, dict] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    next_id: int = 1
    # What a schema sync finds: {(schema, table): [column, ...]}
    warehouse_tables: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


class _Reject(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _require(body: dict, *keys: str) -> None:
    missing = [key for key in keys if key not in body]
    if missing:
        raise _Reject(
            400, json.dumps({"errors": {key: "value must be provided" for key in missing}})
        )


class FakeMetabase:
    """Start with `with FakeMetabase(tables) as fake:`; `fake.url` is its base URL."""

    def __init__(self, warehouse_tables: dict[tuple[str, str], list[str]] | None = None) -> None:
        self.state = FakeMetabaseState(warehouse_tables=dict(warehouse_tables or {}))
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeMetabase:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        return [
            r for r in self.state.requests if r.method == method and re.fullmatch(pattern, r.path)
        ]

    # -- routing ---------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                path = self.path.split("?", 1)[0]
                query = self.path.split("?", 1)[1] if "?" in self.path else ""
                with fake.lock:
                    fake.state.requests.append(Recorded(method, path, body))
                    try:
                        status, payload = fake.route(
                            method, path, query, body, self.headers.get("X-Metabase-Session")
                        )
                    except _Reject as reject:
                        status, payload = reject.status, str(reject)
                data = payload if isinstance(payload, str) else json.dumps(payload)
                encoded = data.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PUT(self) -> None:
                self._serve("PUT")

        return Handler

    def route(self, method: str, path: str, query: str, body: Any, session: str | None):
        state = self.state
        if (method, path) == ("GET", "/api/session/properties"):
            return 200, {
                "has-user-setup": state.admin is not None,
                "setup-token": None if state.admin else state.setup_token,
                "version": {"tag": "v0.50.20"},
            }
        if (method, path) == ("POST", "/api/setup"):
            if state.admin is not None or body.get("token") != state.setup_token:
                raise _Reject(
                    403, "The /api/setup route can only be used to create the first user."
                )
            _require(body["user"], "email", "password", "first_name", "last_name")
            state.admin = dict(body["user"])
            return 200, {"id": self._session()}
        if (method, path) == ("POST", "/api/session"):
            admin = state.admin
            if not admin or (body["username"], body["password"]) != (
                admin["email"],
                admin["password"],
            ):
                raise _Reject(
                    401, json.dumps({"errors": {"password": "did not match stored password"}})
                )
            return 200, {"id": self._session()}
        if session not in state.sessions:
            raise _Reject(401, "Unauthenticated")
        return self._authenticated(method, path, query, body)

    def _session(self) -> str:
        token = str(uuid.uuid4())
        self.state.sessions.add(token)
        return token

    def _authenticated(self, method: str, path: str, query: str, body: Any):
        state = self.state
        match = re.fullmatch(r"/api/(\w+)(?:/(\d+))?(?:/(\w+))?", path)
        if not match:
            raise _Reject(404, "API endpoint does not exist.")
        kind, raw_id, action = match.group(1), match.group(2), match.group(3)
        item_id = int(raw_id) if raw_id else None
        store = {
            "database": state.databases,
            "collection": state.collections,
            "card": state.cards,
            "dashboard": state.dashboards,
            "table": state.tables,
            "field": state.fields,
        }.get(kind)
        if store is None or (item_id is not None and item_id not in store):
            raise _Reject(404, "Not found.")
        if method == "GET" and item_id is None:
            rows = list(store.values())
            return 200, {"data": rows, "total": len(rows)} if kind == "database" else rows
        if method == "POST" and item_id is None:
            return 200, self._create(kind, store, body)
        if kind == "database" and action == "sync_schema" and method == "POST":
            self._sync(item_id)
            return 200, {"status": "ok"}
        if kind == "database" and action == "metadata" and method == "GET":
            tables = [t for t in state.tables.values() if t["db_id"] == item_id]
            for table in tables:
                table["fields"] = [f for f in state.fields.values() if f["table_id"] == table["id"]]
            return 200, {**state.databases[item_id], "tables": tables}
        if kind == "collection" and action == "items" and method == "GET":
            model = re.search(r"models=(\w+)", query)
            wanted = model.group(1) if model else None
            items = [
                {"id": i, "name": o["name"], "model": m}
                for m, objects in (("card", state.cards), ("dashboard", state.dashboards))
                for i, o in objects.items()
                if o.get("collection_id") == item_id and wanted in (None, m)
            ]
            return 200, {"data": items, "total": len(items)}
        if method == "GET" and action is None:
            return 200, store[item_id]
        if method == "PUT" and action is None:
            return 200, self._update(kind, store[item_id], body)
        raise _Reject(404, "API endpoint does not exist.")

    def _create(self, kind: str, store: dict, body: dict) -> dict:
        required = {
            "database": ("engine", "name", "details"),
            "collection": ("name",),
            "card": ("name", "dataset_query", "display", "visualization_settings"),
            "dashboard": ("name",),
        }.get(kind)
        if required is None:
            raise _Reject(404, "API endpoint does not exist.")
        _require(body, *required)
        item = {**body, "id": self.state.new_id(), "archived": False}
        if kind == "dashboard":
            item["dashcards"] = []
        store[item["id"]] = item
        return item

    def _update(self, kind: str, item: dict, body: dict) -> dict:
        if kind == "dashboard" and "dashcards" in body:
            dashcards = []
            existing = {dc["id"] for dc in item["dashcards"]}
            for dashcard in body["dashcards"]:
                _require(dashcard, "id", "size_x", "size_y", "row", "col")
                if dashcard["id"] >= 0 and dashcard["id"] not in existing:
                    raise _Reject(400, f"dashcard {dashcard['id']} is not on this dashboard")
                if dashcard.get("card_id") not in self.state.cards:
                    raise _Reject(400, f"card {dashcard.get('card_id')} does not exist")
                new_id = dashcard["id"] if dashcard["id"] >= 0 else self.state.new_id()
                dashcards.append({**dashcard, "id": new_id, "dashboard_id": item["id"]})
            item["dashcards"] = dashcards
            body = {k: v for k, v in body.items() if k != "dashcards"}
        item.update(body)
        return item

    def _sync(self, database_id: int) -> None:
        state = self.state
        known = {
            (t["schema"], t["name"]) for t in state.tables.values() if t["db_id"] == database_id
        }
        for (schema, name), columns in state.warehouse_tables.items():
            if (schema, name) in known:
                continue
            table_id = self._add(state.tables, db_id=database_id, schema=schema, name=name)
            for column in columns:
                self._add(state.fields, table_id=table_id, name=column)

    def _add(self, store: dict[int, dict], **values: Any) -> int:
        """A synced table or field as Metabase lists it: an id, no description yet."""
        item_id = self.state.new_id()
        store[item_id] = {"id": item_id, **values, "description": None}
        return item_id
