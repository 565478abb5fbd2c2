"""No credential lives in the repository, and nothing the platform prints shows a password.

Connection URLs carry passwords. The repository must hold only references to them (`${VAR}`,
`env_var(...)`), and every log line and status table must show a URL's password as `***`:
logs end up in Prefect's database, CI output and terminals that others read.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from ecom.config import PostgresParts, Settings, redact_url
from ecom.ingest.load import load_raw_tables
from ecom.services import Endpoints
from ecom.transform import build_warehouse
from tests.integration.dbt_databases import TINY_FIXTURE, private_database

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cr3t-Pa55word"

# What a leaked credential looks like in a text file.
CREDENTIAL_PATTERNS = {
    "URL with a literal password": re.compile(
        r"[a-z+]+://[^\s:/@'\"()\[\]]+:([^\s@'\"$%{<()\[\]]+)@"
    ),
    "private key": re.compile(r"-----BEGIN (RSA |EC |OPENSSH )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "password assignment": re.compile(
        r"(?i)\b(password|passwd|secret|api_key|token)\b\s*[:=]\s*['\"]([^'\"${}\s]{6,})['\"]"
    ),
}
# Placeholders that say "put yours here", and values the tests make up, not credentials: a
# made-up value says so in its own text ("secret", "test-", "example", "fake", "...").
PLACEHOLDERS = {"password", "PASSWORD", "user", "pass", "secret", "changeme", "change-me", "..."}
MADE_UP = re.compile(r"(?i)secret|s3cret|password|test-|example|fake|dummy|\.\.\.")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    files = []
    for name in names:
        path = ROOT / name
        if path.suffix in {".lock", ".png", ".gz", ".parquet"} or not path.is_file():
            continue
        try:
            files.append((path, path.read_text()))
        except UnicodeDecodeError:
            continue
    return files


def leaks(text: str) -> list[str]:
    found = []
    for kind, pattern in CREDENTIAL_PATTERNS.items():
        for match in pattern.finditer(text):
            secret = match.group(match.lastindex or 0)
            if secret not in PLACEHOLDERS and not MADE_UP.search(secret):
                found.append(f"{kind}: {match.group(0)[:60]}")
    return found


def test_the_scanner_finds_what_it_is_for() -> None:
    assert leaks("ECOM_DATABASE_URL=postgresql://ecom:hunter22@db:5432/ecom")
    assert leaks('password = "correct-horse-battery"')
    assert leaks("-----BEGIN RSA PRIVATE KEY-----")
    assert not leaks("postgresql://ecom:${POSTGRES_PASSWORD}@postgres:5432/ecom")
    assert not leaks("postgresql://user:password@127.0.0.1:5432/ecom")
    assert not leaks('API_KEY = "test-key-7f3a"')
    assert leaks('API_KEY = "7f3a9c2e1b"')
    assert not leaks("password: \"{{ env_var('ECOM_PG_PASSWORD', '') }}\"")


def test_no_tracked_file_holds_a_credential() -> None:
    found = {
        str(path.relative_to(ROOT)): hits
        for path, text in tracked_text_files()
        if path.name != Path(__file__).name and (hits := leaks(text))
    }
    assert found == {}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://ecom:pw@db:5432/ecom", "postgresql://ecom:***@db:5432/ecom"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("postgresql://postgres@/x?host=/tmp/pg", "postgresql://postgres@/x?host=/tmp/pg"),
    ],
)
def test_redaction_hides_only_the_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def with_password(url: str) -> str:
    """The same server, with a password in the URL (trust authentication ignores it)."""
    parsed = urlparse(url)
    host = parsed.netloc.rpartition("@")[2]
    user = PostgresParts(url).user
    return parsed._replace(netloc=f"{user}:{PASSWORD}@{host}").geturl()


@pytest.mark.integration
def test_a_load_and_a_dbt_run_never_log_the_password(
    ecom_settings: Settings, caplog, capfd
) -> None:
    with private_database(ecom_settings, "secrets") as (settings, endpoints):
        url = with_password(endpoints.database_url)
        settings = settings.with_overrides(database_url=url)
        endpoints = Endpoints(url, endpoints.redis_url, embedded=False)
        with caplog.at_level(logging.DEBUG):
            load_raw_tables(url, TINY_FIXTURE, progress=False)
            build_warehouse(settings, endpoints, select="stg_thelook__users")
    printed = capfd.readouterr()
    assert caplog.records, "the run logged nothing to check"
    assert "***" in caplog.text
    assert PASSWORD not in caplog.text + printed.out + printed.err


@pytest.mark.integration
def test_the_status_table_never_prints_the_password(ecom_settings: Settings) -> None:
    env = {
        **os.environ,
        "ECOM_DATABASE_URL": with_password(ecom_settings.database_url),
        "ECOM_REDIS_URL": ecom_settings.redis_url.replace("redis://", f"redis://:{PASSWORD}@"),
        "ECOM_HOME": str(ecom_settings.resolved_home),
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [sys.executable, "-m", "ecom.cli", "services", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "postgres" in result.stdout and "***" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr
