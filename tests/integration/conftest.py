"""Fixtures several integration modules share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ecom.config import Settings
from ecom.services import Endpoints
from ecom.transform import DbtRunSummary, build_warehouse
from tests.integration.dbt_databases import TINY_FIXTURE, load_directory, private_database


@pytest.fixture(scope="session")
def tiny_warehouse(ecom_settings: Settings) -> Iterator[tuple[Settings, Endpoints, DbtRunSummary]]:
    """The real dbt project built once on the handcrafted TheLook fixture, in a database of its
    own: the hand-counted mart tests and the feature-contract test read the same build."""
    with private_database(ecom_settings, "dbt_tiny") as (settings, endpoints):
        load_directory(endpoints, TINY_FIXTURE)
        summary = build_warehouse(settings, endpoints)
        yield settings, endpoints, summary
