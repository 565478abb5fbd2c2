"""Private databases for the dbt integration tests.

Each dbt test module builds the warehouse into its own database on the session's server, so
its raw data and marts never collide with another module's (or another engineer's) tables in
the shared session database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ecom.config import Settings
from ecom.db import create_database, drop_database
from ecom.ingest.load import load_raw_tables
from ecom.services import Endpoints

TINY_FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "thelook_tiny"


@contextmanager
def private_database(settings: Settings, prefix: str) -> Iterator[tuple[Settings, Endpoints]]:
    """A fresh database beside the session's one, dropped afterwards; yields settings and
    endpoints naming it."""
    assert settings.database_url and settings.redis_url
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = create_database(settings.database_url, name)
    try:
        yield (
            settings.with_overrides(database_url=url),
            Endpoints(url, settings.redis_url, embedded=False),
        )
    finally:
        drop_database(settings.database_url, name)


def load_directory(endpoints: Endpoints, data_dir: Path) -> None:
    load_raw_tables(endpoints.database_url, data_dir, progress=False)
