"""Alerts on a failed quality gate or drift alarm: a Prefect notification block and automations.

The automations live in `automations.yaml` beside `prefect.yaml`, in the format of
`prefect automation create --from-file`. A file cannot know a block's id, so each
send-notification action names its block (`block: custom-webhook/ecom-alerts`) and
`configure_alerts` saves that block with the webhook from `ECOM_ALERT_WEBHOOK_URL`, puts the
block's id in the action, and creates or updates each automation by name, so running it again
changes nothing. The server's trigger and action services do the rest: a flow run of a
deployment tagged `alerting` that ends Failed or Crashed makes the server POST to the webhook.

The webhook URL is kept among the block's secrets (Slack's incoming-webhook URLs are
credentials) and is never printed whole.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from ecom.config import project_root

AUTOMATIONS_FILE = project_root() / "automations.yaml"
BLOCK_TYPE = "custom-webhook"
BLOCK_NAME = "ecom-alerts"
WEBHOOK_VARIABLE = "ECOM_ALERT_WEBHOOK_URL"
# Slack's incoming webhooks read `text`; other receivers get the subject and body apart too.
WEBHOOK_JSON = {"text": "{{subject}}\n{{body}}", "subject": "{{subject}}", "body": "{{body}}"}


class AlertConfigError(ValueError):
    """The webhook variable or the automations file is unusable; the message says where."""


@dataclass
class AlertSetup:
    """What one `configure_alerts` did: the block it saved, the automations by what happened."""

    block: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)


def shown_url(url: str) -> str:
    """Scheme and host only: the path of a Slack webhook is its secret."""
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}/…" if parsed.path.strip("/") else url


def check_webhook_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise AlertConfigError(
            f"{WEBHOOK_VARIABLE} must be an http(s) URL such as "
            f"https://hooks.slack.com/services/..., got {url[:12]!r}…"
        )
    return url


def read_automations(path: Path = AUTOMATIONS_FILE) -> list[dict[str, Any]]:
    """The automations in `path` as plain mappings (a list, or a mapping with `automations`)."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise AlertConfigError(f"{path}: cannot read the automations: {error}") from error
    items = data.get("automations") if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise AlertConfigError(f"{path}: expected a list of automations under `automations:`")
    return items


def block_references(automations: list[dict[str, Any]]) -> set[str]:
    """Every `block: type/name` a send-notification action names."""
    return {
        action["block"]
        for automation in automations
        for action in automation.get("actions", [])
        if isinstance(action, dict) and "block" in action
    }


def resolve_automations(
    automations: list[dict[str, Any]], block_ids: Mapping[str, object], path: Path
) -> list[Any]:
    """Each automation with its `block:` names replaced by ids, validated as Prefect's
    AutomationCore (what `prefect automation create --from-file` validates)."""
    from prefect.events.schemas.automations import AutomationCore
    from pydantic import ValidationError

    resolved = []
    for index, automation in enumerate(automations):
        name = automation.get("name", f"automation {index}")
        actions = []
        for number, action in enumerate(automation.get("actions", [])):
            action = dict(action)
            if "block" in action:
                reference = action.pop("block")
                if reference not in block_ids:
                    raise AlertConfigError(
                        f"{path}: automation {name!r}, action {number}: block {reference!r} "
                        f"is not on the server (known: {sorted(block_ids)})"
                    )
                action["block_document_id"] = block_ids[reference]
            actions.append(action)
        try:
            resolved.append(AutomationCore.model_validate({**automation, "actions": actions}))
        except ValidationError as error:
            fields = "; ".join(
                f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
                for item in error.errors()
            )
            raise AlertConfigError(f"{path}: automation {name!r}: {fields}") from error
    return resolved


def webhook_block(url: str):
    """The notification block: the URL itself is a secret the block substitutes when it posts."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    return CustomWebhookNotificationBlock(
        name=BLOCK_NAME,
        url="{{webhook_url}}",
        method="POST",
        json_data=WEBHOOK_JSON,
        secrets={"webhook_url": check_webhook_url(url)},
    )


def configure_alerts(api_url: str, webhook_url: str, path: Path = AUTOMATIONS_FILE) -> AlertSetup:
    """Save the webhook block and create or update every automation in `path` on the server
    at `api_url`; idempotent (one block, one automation per name, however often it runs)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    automations = read_automations(path)
    setup = AlertSetup(block=f"{BLOCK_TYPE}/{BLOCK_NAME}")
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        block_id = webhook_block(webhook_url).save(BLOCK_NAME, overwrite=True)
        with get_client(sync_client=True) as client:
            block_ids: dict[str, object] = {setup.block: block_id}
            for reference in block_references(automations) - set(block_ids):
                slug, _, name = reference.partition("/")
                with contextlib.suppress(ObjectNotFound):  # resolve_automations names it
                    document = client.read_block_document_by_name(name, slug)
                    block_ids[reference] = document.id
            for automation in resolve_automations(automations, block_ids, path):
                existing = client.read_automations_by_name(automation.name)
                if not existing:
                    client.create_automation(automation)
                    setup.created.append(automation.name)
                    continue
                client.update_automation(existing[0].id, automation)
                for duplicate in existing[1:]:  # made by hand; one per name is the contract
                    client.delete_automation(duplicate.id)
                setup.updated.append(automation.name)
    return setup


def describe_alerts(setup: AlertSetup | None, webhook_url: str | None) -> str:
    """The line `ecom ui up` prints about alerting."""
    if setup is None or not webhook_url:
        return (
            f"off: set {WEBHOOK_VARIABLE} to post failed quality-gate and drift runs to a webhook"
        )
    names = ", ".join(setup.created + setup.updated)
    return f"{names} -> {setup.block} -> {shown_url(webhook_url)}"
