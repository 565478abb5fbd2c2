"""Provision Metabase from the dashboard files, idempotently, over its REST API (v0.50+).

One call does what an analyst would click through on a fresh Metabase, and on a second run
changes things in place instead of adding copies:

1. the admin user on first run (`POST /api/setup` with the instance's setup token), else a
   session for that admin (`POST /api/session`);
2. the warehouse connection (`/api/database`, engine `postgres`), then a schema sync;
3. one collection holding everything this command manages, so "already there" means "a card
   or dashboard of that name in that collection", never a guess across the whole instance;
4. every card as a native SQL question, and each dashboard with its cards laid out as in
   the file (`PUT /api/dashboard/:id` with the full `dashcards` list: existing dashcards keep
   their ids, new ones get negative ids, as Metabase expects);
5. the dbt models' and columns' descriptions from dbt's `manifest.json` onto the tables and
   fields Metabase synced (what dbt-metabase's `models` export does, for the marts only).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ecom.config import PostgresParts
from ecom.reports.dashboards import Card, Dashboard

log = logging.getLogger(__name__)

COLLECTION_NAME = "E-commerce analytics (managed by ecom)"
DATABASE_NAME = "ecom warehouse"
MARTS_SCHEMA = "analytics"
DISPLAY = {"funnel": "funnel", "bar": "bar", "line": "line", "heatmap": "table", "table": "table"}


class MetabaseError(RuntimeError):
    """A Metabase call failed; the message names the method, path, status and Metabase's reason."""


@dataclass(frozen=True)
class AdminAccount:
    """The admin this command creates on a fresh Metabase and logs in as afterwards."""

    email: str
    password: str
    first_name: str = "ecom"
    last_name: str = "admin"
    site_name: str = "E-commerce analytics"


@dataclass
class ProvisionSummary:
    """What one provisioning run did, per kind of object: created, updated or unchanged."""

    admin_created: bool = False
    database_id: int | None = None
    collection_id: int | None = None
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    dashboards: dict[str, int] = field(default_factory=dict)
    descriptions_pushed: int = 0

    def count(self, kind: str, created: bool) -> None:
        bucket = self.created if created else self.updated
        bucket[kind] = bucket.get(kind, 0) + 1

    def summary_line(self) -> str:
        created = ", ".join(f"{n} {kind}" for kind, n in sorted(self.created.items())) or "nothing"
        updated = ", ".join(f"{n} {kind}" for kind, n in sorted(self.updated.items())) or "nothing"
        admin = "admin created; " if self.admin_created else "logged in as the admin; "
        return (
            f"{admin}created {created}; updated {updated}; "
            f"{self.descriptions_pushed} dbt descriptions pushed"
        )


class MetabaseClient:
    """A thin session-authenticated client: JSON in, JSON out, errors that say what failed."""

    def __init__(
        self, url: str, *, timeout: float = 60, transport: httpx.BaseTransport | None = None
    ):
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout, transport=transport)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.http.request(method, path, json=body, params=params or None)
        if response.status_code >= 400:
            raise MetabaseError(
                f"Metabase {method} {path} answered {response.status_code}: {response.text[:500]}"
            )
        if not response.content:
            return None
        try:
            return response.json()
        except json.JSONDecodeError:
            return response.text

    def authenticate(self, admin: AdminAccount) -> bool:
        """Create the admin on a fresh instance, else log in; returns True when it created."""
        properties = self.call("GET", "/api/session/properties")
        created = False
        if not properties.get("has-user-setup"):
            token = properties.get("setup-token")
            if not token:
                raise MetabaseError("Metabase is not set up and offers no setup-token")
            session = self.call(
                "POST",
                "/api/setup",
                {
                    "token": token,
                    "user": {
                        "email": admin.email,
                        "password": admin.password,
                        "first_name": admin.first_name,
                        "last_name": admin.last_name,
                        "site_name": admin.site_name,
                    },
                    "prefs": {"site_name": admin.site_name, "allow_tracking": False},
                },
            )
            created = True
        else:
            session = self.call(
                "POST", "/api/session", {"username": admin.email, "password": admin.password}
            )
        self.http.headers["X-Metabase-Session"] = session["id"]
        return created


def _listing(payload: Any) -> list[dict]:
    """Metabase lists come bare or as {"data": [...]} depending on the endpoint and version."""
    return payload["data"] if isinstance(payload, dict) and "data" in payload else payload


def database_details(warehouse_url: str) -> dict[str, Any]:
    """Metabase's postgres connection details from a PostgreSQL URL (as Metabase reaches it)."""
    parts = PostgresParts(warehouse_url)
    if not parts.host or parts.host.startswith("/"):
        raise ValueError(
            f"Metabase needs a TCP host for the warehouse, not a unix socket ({parts.host!r}): "
            "pass --warehouse-url postgresql://user:password@host:5432/db"
        )
    return {
        "host": parts.host,
        "port": int(parts.port or 5432),
        "dbname": parts.dbname,
        "user": parts.user,
        "password": parts.password or "",
        "ssl": False,
        "schema-filters-type": "inclusion",
        "schema-filters-patterns": f"{MARTS_SCHEMA},staging",
    }


def _ensure_database(client: MetabaseClient, warehouse_url: str, summary: ProvisionSummary) -> int:
    body = {"engine": "postgres", "name": DATABASE_NAME, "details": database_details(warehouse_url)}
    existing = next(
        (db for db in _listing(client.call("GET", "/api/database")) if db["name"] == DATABASE_NAME),
        None,
    )
    if existing is None:
        database_id = client.call("POST", "/api/database", body)["id"]
    else:
        database_id = existing["id"]
        client.call("PUT", f"/api/database/{database_id}", body)
    summary.count("databases", existing is None)
    client.call("POST", f"/api/database/{database_id}/sync_schema")
    return database_id


def _ensure_collection(client: MetabaseClient, summary: ProvisionSummary) -> int:
    collections = _listing(client.call("GET", "/api/collection"))
    existing = next(
        (c for c in collections if c.get("name") == COLLECTION_NAME and not c.get("archived")),
        None,
    )
    if existing is not None:
        return existing["id"]
    summary.count("collections", True)
    body = {
        "name": COLLECTION_NAME,
        "color": "#509EE3",
        "description": "Provisioned by `ecom dashboards provision`; edits here are overwritten.",
    }
    return client.call("POST", "/api/collection", body)["id"]


def _items(client: MetabaseClient, collection_id: int, model: str) -> dict[str, int]:
    items = _listing(client.call("GET", f"/api/collection/{collection_id}/items", models=model))
    return {item["name"]: item["id"] for item in items if item.get("model", model) == model}


def visualization_settings(card: Card) -> dict[str, Any]:
    chart = card.chart
    if chart.kind == "funnel":
        return {"funnel.dimension": chart.x, "funnel.metric": chart.y_columns[0]}
    if chart.kind in ("bar", "line"):
        dimensions = [chart.x, chart.color] if chart.color else [chart.x]
        metrics = chart.y_columns
        if chart.interval:  # Metabase draws no error bars: the bounds as bars either side
            metrics = [chart.interval[0], *chart.y_columns, chart.interval[1]]
        return {"graph.dimensions": dimensions, "graph.metrics": metrics}
    if chart.kind == "heatmap":
        return {
            "table.pivot": False,
            "table.column_formatting": [
                {
                    "columns": [chart.z],
                    "type": "range",
                    "colors": ["#FFFFFF", "#509EE3"],
                    "min_type": None,
                    "max_type": None,
                    "highlight_row": False,
                },
            ],
        }
    return {}


def card_payload(card: Card, database_id: int, collection_id: int) -> dict[str, Any]:
    return {
        "name": card.name,
        "description": card.description,
        "display": DISPLAY[card.chart.kind],
        "collection_id": collection_id,
        "visualization_settings": visualization_settings(card),
        "dataset_query": {
            "type": "native",
            "database": database_id,
            "native": {"query": card.sql.strip(), "template-tags": template_tags(card)},
        },
        "parameters": [
            {
                "id": _parameter_id(card, parameter.name),
                "type": "number/=" if parameter.type == "number" else "category",
                "target": ["variable", ["template-tag", parameter.name]],
                "name": parameter.display_name,
                "slug": parameter.name,
                "default": parameter.default,
            }
            for parameter in card.parameters
        ],
    }


def _parameter_id(card: Card, name: str) -> str:
    """Stable across runs, so re-provisioning updates a question's filter instead of adding one."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ecom/{card.key}/{name}"))


def template_tags(card: Card) -> dict[str, Any]:
    """Metabase's variables for the card's `{{name}}` parameters."""
    return {
        parameter.name: {
            "id": _parameter_id(card, parameter.name),
            "name": parameter.name,
            "display-name": parameter.display_name,
            "type": parameter.type,
            "default": parameter.default,
            "required": True,
        }
        for parameter in card.parameters
    }


def _ensure_dashboard(
    client: MetabaseClient,
    dashboard: Dashboard,
    card_ids: dict[str, int],
    existing: dict[str, int],
    collection_id: int,
    summary: ProvisionSummary,
) -> int:
    dashboard_id = existing.get(dashboard.name)
    if dashboard_id is None:
        body = {
            "name": dashboard.name,
            "description": dashboard.description,
            "collection_id": collection_id,
        }
        dashboard_id = client.call("POST", "/api/dashboard", body)["id"]
    summary.count("dashboards", dashboard.name not in existing)
    current = client.call("GET", f"/api/dashboard/{dashboard_id}")
    dashcard_by_card = {
        dc["card_id"]: dc["id"] for dc in current.get("dashcards", []) if dc.get("card_id")
    }
    dashcards = []
    for index, card in enumerate(dashboard.cards, start=1):
        card_id = card_ids[card.key]
        layout = card.layout
        dashcards.append(
            {
                "id": dashcard_by_card.get(card_id, -index),
                "card_id": card_id,
                "row": layout.row,
                "col": layout.col,
                "size_x": layout.width,
                "size_y": layout.height,
                "parameter_mappings": [],
                "visualization_settings": {},
                "series": [],
            }
        )
    client.call(
        "PUT",
        f"/api/dashboard/{dashboard_id}",
        {"name": dashboard.name, "description": dashboard.description, "dashcards": dashcards},
    )
    return dashboard_id


def model_descriptions(
    manifest_path: Path, schema: str = MARTS_SCHEMA
) -> dict[str, dict[str, Any]]:
    """{table: {"description": ..., "columns": {column: description}}} for dbt models in `schema`."""
    manifest = json.loads(Path(manifest_path).read_text())
    out = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model" or node.get("schema") != schema:
            continue
        out[node.get("alias") or node["name"]] = {
            "description": (node.get("description") or "").strip(),
            "columns": {
                name: (column.get("description") or "").strip()
                for name, column in node.get("columns", {}).items()
            },
        }
    return out


def push_descriptions(client: MetabaseClient, database_id: int, manifest_path: Path) -> int:
    """Copy dbt descriptions onto Metabase's synced tables and fields; only changed ones."""
    models = model_descriptions(manifest_path)
    metadata = client.call("GET", f"/api/database/{database_id}/metadata")
    pushed = 0
    for table in metadata.get("tables", []):
        model = models.get(table["name"]) if table.get("schema") == MARTS_SCHEMA else None
        if model is None:
            continue
        if model["description"] and table.get("description") != model["description"]:
            client.call("PUT", f"/api/table/{table['id']}", {"description": model["description"]})
            pushed += 1
        for metabase_field in table.get("fields", []):
            text = model["columns"].get(metabase_field["name"])
            if text and metabase_field.get("description") != text:
                client.call("PUT", f"/api/field/{metabase_field['id']}", {"description": text})
                pushed += 1
    return pushed


def provision(
    client: MetabaseClient,
    admin: AdminAccount,
    warehouse_url: str,
    dashboards: list[Dashboard],
    manifest_path: Path | None = None,
) -> ProvisionSummary:
    """Bring Metabase to the state the dashboard files describe (see the module docstring)."""
    summary = ProvisionSummary(admin_created=client.authenticate(admin))
    summary.database_id = _ensure_database(client, warehouse_url, summary)
    summary.collection_id = _ensure_collection(client, summary)
    existing_cards = _items(client, summary.collection_id, "card")
    existing_dashboards = _items(client, summary.collection_id, "dashboard")
    for dashboard in dashboards:
        card_ids = {}
        for card in dashboard.cards:
            body = card_payload(card, summary.database_id, summary.collection_id)
            card_id = existing_cards.get(card.name)
            if card_id is None:
                card_id = client.call("POST", "/api/card", body)["id"]
            else:
                client.call("PUT", f"/api/card/{card_id}", body)
            summary.count("cards", card.name not in existing_cards)
            card_ids[card.key] = card_id
        summary.dashboards[dashboard.name] = _ensure_dashboard(
            client, dashboard, card_ids, existing_dashboards, summary.collection_id, summary
        )
    if manifest_path is not None and Path(manifest_path).exists():
        summary.descriptions_pushed = push_descriptions(client, summary.database_id, manifest_path)
    elif manifest_path is not None:
        log.warning(
            "no dbt manifest at %s: run `ecom transform` to push descriptions", manifest_path
        )
    return summary
