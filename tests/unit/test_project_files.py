"""Static checks of the files users run directly: prefect.yaml, docker-compose.yml, the Makefile.

Docker cannot run on the development machines, so compose is checked here for what can be
checked without it; Prefect deployments are checked against the flows they point at.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _deployments() -> list[dict]:
    return yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]


@pytest.mark.parametrize("deployment", _deployments(), ids=lambda d: d["name"])
def test_prefect_deployment_points_at_a_flow_with_those_parameters(deployment):
    path, _, attribute = deployment["entrypoint"].partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    flow = getattr(module, attribute)
    assert flow.__class__.__name__ == "Flow", f"{deployment['entrypoint']} is not a Prefect flow"
    accepted = set(inspect.signature(flow.fn).parameters)
    unknown = set(deployment.get("parameters", {})) - accepted
    assert not unknown, f"{deployment['name']}: parameters {unknown} not accepted by {attribute}"
    for schedule in deployment.get("schedules", []):
        assert len(schedule["cron"].split()) == 5


def test_compose_runs_the_stack_without_credentials_in_the_file():
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    assert {"postgres", "redis", "mlflow", "prefect", "metabase", "pipeline"} <= set(
        compose["services"]
    )
    assert compose["services"]["postgres"]["image"].startswith("postgres:15")
    assert compose["services"]["redis"]["image"].startswith("redis:7")
    # every password is an interpolated variable, never a literal
    for match in re.finditer(r"^\s*\w*(PASSWORD|PASS)\s*:\s*(\S+)", text, flags=re.M):
        assert match.group(2).startswith("${"), (
            f"literal credential in docker-compose.yml: {match.group(0)}"
        )


def test_makefile_has_the_verbs_the_readme_promises():
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), flags=re.M))
    assert {"install", "demo", "test", "lint", "bench", "ui"} <= targets
