"""Feast's PostgreSQL offline store with planner settings for its point-in-time query.

Feast's historical-retrieval SQL filters every feature view by `MIN/MAX(entity_timestamp)`
sub-selects and joins CTEs on computed keys, so PostgreSQL cannot estimate row counts: it
plans a few rows per CTE and nests loops over them, at a cost that grows with the square of
the labels (benchmarks/results/features.md); at TheLook scale it never finishes. The query
has only equality joins, so hash joins are always right: this store runs Feast's own query
unchanged, with `enable_nestloop = off` (configurable as
`session_settings` in feature_store.yaml) set for that transaction only. It is a regular Feast
offline-store plugin (`type: ecom.features.offline_store.PlannedPostgreSQLOfflineStore`), so the
`feast` CLI uses it as well. Its config takes the connection from the project's database
(`ecom.features.connection`) for any field `feature_store.yaml` leaves out. The job's query and
connection are Feast's private parts, reached through `ecom.features.feast_internals`;
`_to_arrow_internal` is the method Feast's `RetrievalJob` asks every offline store to implement.
"""

from __future__ import annotations

from typing import Any, Literal

import pyarrow as pa
from feast.errors import ZeroColumnQueryResult
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres import (
    PostgreSQLOfflineStore,
    PostgreSQLOfflineStoreConfig,
    PostgreSQLRetrievalJob,
)
from feast.infra.offline_stores.offline_store import RetrievalJob
from feast.type_map import pg_type_code_to_arrow
from psycopg import sql
from pydantic import Field, model_validator

from ecom.features.connection import fill_postgres_fields
from ecom.features.feast_internals import postgres_connection, retrieval_query

STORE_TYPE = "ecom.features.offline_store.PlannedPostgreSQLOfflineStore"


class PlannedPostgreSQLOfflineStoreConfig(PostgreSQLOfflineStoreConfig):
    type: Literal["ecom.features.offline_store.PlannedPostgreSQLOfflineStore"] = STORE_TYPE  # type: ignore[assignment]
    session_settings: dict[str, str] = Field(default_factory=lambda: {"enable_nestloop": "off"})
    """PostgreSQL settings applied (SET LOCAL) to historical-retrieval queries only."""

    @model_validator(mode="before")
    @classmethod
    def _connect_to_the_project(cls, values: Any) -> Any:
        return fill_postgres_fields(values)


class PlannedRetrievalJob(PostgreSQLRetrievalJob):
    """Feast's retrieval job, with session settings applied before the query runs."""

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        settings: dict[str, str] = getattr(self.config.offline_store, "session_settings", {})
        with (
            retrieval_query(self)() as query,
            postgres_connection(self.config.offline_store) as conn,
            conn.transaction(),
            conn.cursor() as cur,
        ):
            for name, value in settings.items():
                cur.execute(
                    sql.SQL("SELECT set_config({}, {}, true)").format(
                        sql.Literal(name), sql.Literal(str(value))
                    )
                )
            cur.execute(query)
            if not cur.description:
                raise ZeroColumnQueryResult(query)
            schema = pa.schema(
                [(c.name, pg_type_code_to_arrow(c.type_code)) for c in cur.description]
            )
            rows = cur.fetchall()
            columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
            return pa.Table.from_arrays(
                [
                    _to_arrow(column, field.type)
                    for column, field in zip(columns, schema, strict=True)
                ],
                names=schema.names,
            )


def _to_arrow(values, arrow_type: pa.DataType) -> pa.Array:
    """Typed when the values fit the column's type (also for all-NULL columns), else inferred
    (for example NUMERIC arrives as Decimal), as Feast's own job does."""
    try:
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(values)


class PlannedPostgreSQLOfflineStore(PostgreSQLOfflineStore):
    @staticmethod
    def get_historical_features(*args: Any, **kwargs: Any) -> RetrievalJob:
        job = PostgreSQLOfflineStore.get_historical_features(*args, **kwargs)
        assert isinstance(job, PostgreSQLRetrievalJob)
        return PlannedRetrievalJob(
            query=retrieval_query(job),
            config=job.config,
            full_feature_names=job.full_feature_names,
            on_demand_feature_views=job.on_demand_feature_views,
            metadata=job.metadata,
        )
