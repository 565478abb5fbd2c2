"""automations.yaml is a valid Prefect automation for the deployments prefect.yaml tags
`alerting`, and bad alert configuration fails with a message naming what is wrong.
(tests/integration/test_prefect_deployments.py sends a real alert through a real server.)"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml

from ecom.alerts import (
    AUTOMATIONS_FILE,
    BLOCK_NAME,
    BLOCK_TYPE,
    WEBHOOK_VARIABLE,
    AlertConfigError,
    AlertSetup,
    block_references,
    check_webhook_url,
    describe_alerts,
    read_automations,
    resolve_automations,
    shown_url,
    webhook_block,
)

ROOT = Path(__file__).resolve().parents[2]
OUR_BLOCK = f"{BLOCK_TYPE}/{BLOCK_NAME}"


def test_the_automation_file_validates_and_matches_the_alerting_tag_of_prefect_yaml() -> None:
    automations = read_automations(ROOT / "automations.yaml")
    assert AUTOMATIONS_FILE == ROOT / "automations.yaml"
    assert block_references(automations) == {OUR_BLOCK}
    block_id = uuid.uuid4()
    (automation,) = resolve_automations(automations, {OUR_BLOCK: block_id}, AUTOMATIONS_FILE)
    trigger = automation.trigger
    assert trigger.posture.value == "Reactive" and trigger.threshold == 1
    assert trigger.expect == {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
    assert trigger.match.root == {"prefect.resource.id": "prefect.flow-run.*"}
    related = trigger.match_related.root
    assert related["prefect.resource.role"] == "tag"
    tag = related["prefect.resource.id"].removeprefix("prefect.tag.")
    assert trigger.for_each == {"prefect.resource.id"}  # one alert per failed run
    (action,) = automation.actions
    assert action.type == "send-notification" and action.block_document_id == block_id
    assert "{{ flow_run.name }}" in action.subject and "{{ flow_run.id }}" in action.body

    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    tagged = {item["name"] for item in deployments if tag in item.get("tags", [])}
    assert tagged == {"nightly", "quality", "daily-monitoring"}  # the gate (alone or in the
    # nightly pipeline) and the drift alarm


def test_a_block_that_is_not_on_the_server_is_named(tmp_path: Path) -> None:
    path = tmp_path / "automations.yaml"
    path.write_text((ROOT / "automations.yaml").read_text().replace(OUR_BLOCK, "slack/nope"))
    with pytest.raises(AlertConfigError, match=r"automations.yaml: automation .*'slack/nope'"):
        resolve_automations(read_automations(path), {OUR_BLOCK: uuid.uuid4()}, path)


def test_an_invalid_automation_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "automations.yaml"
    path.write_text(
        (ROOT / "automations.yaml").read_text().replace("threshold: 1", "threshold: many")
    )
    with pytest.raises(AlertConfigError, match=r"automations.yaml: .*threshold"):
        resolve_automations(read_automations(path), {OUR_BLOCK: uuid.uuid4()}, path)
    path.write_text("name: [unclosed")
    with pytest.raises(AlertConfigError, match="cannot read the automations"):
        read_automations(path)
    path.write_text("automations: just text")
    with pytest.raises(AlertConfigError, match="expected a list of automations"):
        read_automations(path)


def test_the_webhook_url_must_be_http_and_is_never_shown_whole() -> None:
    url = "https://hooks.slack.com/services/T000/B000/fake-token"
    assert check_webhook_url(url) == url
    assert shown_url(url) == "https://hooks.slack.com/…"
    for bad in ("hooks.slack.com/services/T000", "ftp://example.org/hook", "https:///x"):
        with pytest.raises(AlertConfigError, match=WEBHOOK_VARIABLE):
            check_webhook_url(bad)
    block = webhook_block(url)
    assert url not in block.url and url not in str(block.model_dump())
    assert block.secrets.get_secret_value() == {"webhook_url": url}


def test_the_status_line_says_how_to_turn_alerts_on_or_what_was_set_up() -> None:
    assert WEBHOOK_VARIABLE in describe_alerts(None, None)
    setup = AlertSetup(block=OUR_BLOCK, created=["ecom-alert-on-failed-run"])
    line = describe_alerts(setup, "http://127.0.0.1:9/hooks/secret")
    assert line == f"ecom-alert-on-failed-run -> {OUR_BLOCK} -> http://127.0.0.1:9/…"
