"""The embedded servers start once, are reused, report their state and stop."""

from __future__ import annotations

import redis

from ecom.config import Settings
from ecom.db import fetch_all
from ecom.services import ensure_services, services_status, stop_services


def test_embedded_services_start_once_and_stop(tmp_path):
    settings = Settings(_env_file=None).with_overrides(
        home=tmp_path / "home", database_url=None, redis_url=None
    )
    try:
        first = ensure_services(settings)
        second = ensure_services(settings)
        assert first == second, "a second call must reuse the running servers"
        assert first.embedded
        assert fetch_all(first.database_url, "select 1") == [(1,)]
        assert redis.Redis.from_url(first.redis_url).ping()
        assert all(status.running for status in services_status(settings))
    finally:
        stopped = stop_services(settings, purge=True)
    assert set(stopped) == {"postgres", "redis"}
    assert not any(status.running for status in services_status(settings))


def test_configured_urls_start_nothing(tmp_path, database_url, redis_url):
    settings = Settings(_env_file=None).with_overrides(
        home=tmp_path / "h", database_url=database_url, redis_url=redis_url
    )
    endpoints = ensure_services(settings)
    assert not endpoints.embedded
    assert endpoints.database_url == database_url
    assert not (tmp_path / "h" / "pg").exists()
