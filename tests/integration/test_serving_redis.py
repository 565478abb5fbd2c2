"""The embedded Redis keeps the online store and its port across `ecom services down`/`up`."""

from __future__ import annotations

import redis

from ecom.config import RedisParts, Settings
from ecom.services import ensure_services, services_status, stop_services


def test_embedded_redis_keeps_its_data_and_port_across_a_restart(tmp_path):
    settings = Settings(_env_file=None).with_overrides(
        home=tmp_path / "home", database_url="postgresql://unused@127.0.0.1/none", redis_url=None
    )
    try:
        first = ensure_services(settings)
        client = redis.Redis.from_url(first.redis_url)
        client.hset("user:7", mapping={"recency_days": "3.5"})
        assert stop_services(settings) == ["redis"]
        assert not any(s.running for s in services_status(settings) if s.name == "redis")

        second = ensure_services(settings)
        assert RedisParts(second.redis_url).port == RedisParts(first.redis_url).port
        assert redis.Redis.from_url(second.redis_url).hget("user:7", "recency_days") == b"3.5"
    finally:
        stop_services(settings, purge=True)
    assert not (tmp_path / "home" / "redis").exists()
