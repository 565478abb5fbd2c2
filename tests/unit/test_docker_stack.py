"""The Docker stack is valid and every name in it refers to something the project defines.

No Docker engine runs here, and Debian's docker-compose (1.29) rejects valid current files, so
the file is checked the way the engine would read it: against the Compose Specification's JSON
schema (as shipped by the dclint package on the npm registry, kept in tests/fixtures), then for its references —
build contexts, bind-mounted paths, commands, ports, health checks, variables — one by one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from ecom.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
# The Compose Specification's schema, from the dclint 3.1.0 npm package (see its README).
COMPOSE_SCHEMA = ROOT / "tests" / "fixtures" / "compose" / "compose.schema.json"
PUBLISHED_PORTS = {"prefect": 4200, "mlflow": 5001, "metabase": 3000, "churn-api": 8000}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose_schema() -> dict:
    """Kept in the repository (see its README), so these tests never skip for want of npm."""
    return json.loads(COMPOSE_SCHEMA.read_text())


def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


def long_running(compose: dict) -> dict[str, dict]:
    """Services `docker compose up` starts (one-off ones sit behind a profile)."""
    return {name: spec for name, spec in services(compose).items() if not spec.get("profiles")}


def command_words(spec: dict) -> list[str]:
    command = spec.get("command", [])
    return command.split() if isinstance(command, str) else [str(word) for word in command]


def test_the_file_follows_the_compose_specification(compose, compose_schema) -> None:
    jsonschema.Draft7Validator(compose_schema).validate(compose)


def test_the_schema_rejects_what_the_engine_would(compose, compose_schema) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["redis"]["healthcheck"]["interval"] = ["10s"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(compose_schema).validate(broken)


def test_the_stack_has_every_service_of_the_platform(compose) -> None:
    assert set(services(compose)) == {
        "postgres",
        "redis",
        "mlflow",
        "prefect",
        "prefect-worker",
        "churn-api",
        "metabase",
        "pipeline",
    }
    assert services(compose)["postgres"]["image"].startswith("postgres:15")
    assert services(compose)["redis"]["image"].startswith("redis:7")


def test_every_long_running_service_has_a_health_check(compose) -> None:
    missing = [name for name, spec in long_running(compose).items() if "healthcheck" not in spec]
    assert missing == []


def test_dependencies_wait_for_health_of_services_that_report_it(compose) -> None:
    for name, spec in services(compose).items():
        for dependency, condition in spec.get("depends_on", {}).items():
            assert dependency in services(compose), f"{name} depends on unknown {dependency}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services(compose)[dependency], (name, dependency)


def test_published_ports_are_the_platforms_and_never_collide(compose) -> None:
    host_ports: list[str] = []
    for name, spec in services(compose).items():
        for mapping in spec.get("ports", []):
            host, _, container = str(mapping).rpartition(":")
            host_ports.append(host)
            if name in PUBLISHED_PORTS:
                assert container == str(PUBLISHED_PORTS[name]), (name, mapping)
    assert len(host_ports) == len(set(host_ports))
    for name, port in PUBLISHED_PORTS.items():
        assert f"{port}:{port}" in services(compose)[name]["ports"]


def test_build_contexts_and_bind_mounts_exist(compose) -> None:
    for name, spec in services(compose).items():
        if "build" in spec:
            context = ROOT / (
                spec["build"] if isinstance(spec["build"], str) else spec["build"]["context"]
            )
            assert (context / "Dockerfile").is_file(), name
        else:
            assert "image" in spec, f"{name} has neither build nor image"
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"


def test_the_image_installs_from_the_lock_file_and_nothing_installs_at_start(compose) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY pyproject.toml uv.lock" in dockerfile
    assert "uv sync --frozen" in dockerfile
    assert "pip install" not in dockerfile
    for name, spec in services(compose).items():
        words = " ".join(command_words(spec))
        assert "pip install" not in words and "uv sync" not in words, name


def test_every_variable_is_documented_in_env_example() -> None:
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", COMPOSE_FILE.read_text()))
    assert used <= documented, f"undocumented: {sorted(used - documented)}"
    assert "POSTGRES_PASSWORD" in used


def test_no_credential_is_written_in_the_file() -> None:
    text = COMPOSE_FILE.read_text()
    assert not re.search(r"(PASSWORD|PASS):[ \t]+[^$\s]", text), "a password literal in the file"
    references_removed = re.sub(r"\$\{[^}]*\}", "VAR", text)
    literal = re.search(r"://[^:/@\s]+:(?!VAR@)[^@\s]+@", references_removed)
    assert literal is None, "a URL with a literal password"


def test_commands_name_what_the_project_defines(compose) -> None:
    runner = CliRunner()
    for name, spec in services(compose).items():
        words = command_words(spec)
        if not words:
            continue
        if words[0] == "ecom":
            result = runner.invoke(app, [*words[1:], "--help"])
            assert result.exit_code == 0, f"{name}: `{' '.join(words)}` is not an ecom command"
        if words[:2] == ["bentoml", "serve"]:
            module, _, cls = words[2].partition(":")
            folder = next(
                (w.split("=", 1)[1] for w in words if w.startswith("--working-dir=")), "."
            )
            source = ROOT / folder / (module.replace(".", "/") + ".py")
            assert source.is_file(), f"{name} serves {module}, which does not exist"
            assert re.search(rf"^class {cls}\b", source.read_text(), re.M), (name, cls)
    worker = " ".join(command_words(services(compose)["prefect-worker"]))
    pools = {
        d["work_pool"]["name"]
        for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    }
    assert pools == {"ecom-local"} and "--pool ecom-local" in worker


def test_every_database_a_service_names_is_created_at_first_start(compose) -> None:
    init = (ROOT / "services/postgres/init-databases.sh").read_text()
    created = set(re.search(r"ECOM_EXTRA_DATABASES:-([a-z ]+)\}", init).group(1).split())
    named = set(re.findall(r"@postgres:5432/([a-z]+)", COMPOSE_FILE.read_text()))
    named.add(services(compose)["metabase"]["environment"]["MB_DB_DBNAME"])
    assert named == {"mlflow", "prefect", "metabase"}
    assert named <= created
