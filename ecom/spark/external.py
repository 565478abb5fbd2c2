"""The raw tables of one Spark metastore made visible to another, without copying a row.

A Thrift server keeps its own Hive metastore (Derby: one process each), so the `raw.<table>`
Parquet tables that a session's raw load wrote (`ecom.spark.raw`) are not in the server's
catalogue. Their files are: this reads each table's location from the session's catalogue and
creates `raw.<table>` on the server as an external Parquet table over those same files (the
schema is the files' own). Dropping such a table drops only the server's entry, never the data.
On a real cluster the catalogue is shared (a Hive metastore service, Glue, Unity) and this step
disappears; the files must be on storage both see (here: one machine's folder).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ecom.thelook import ALL_TABLES, RAW_SCHEMA

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from ecom.spark.thrift import ThriftServer


def raw_table_locations(spark: SparkSession) -> dict[str, str]:
    """Each contract table's `raw.<table>` location in `spark`'s catalogue (a file: URI)."""
    locations = {}
    for table in ALL_TABLES:
        details = spark.sql(f"describe table extended {RAW_SCHEMA}.{table.name}").collect()
        (location,) = [row.data_type for row in details if row.col_name == "Location"]
        locations[table.name] = location
    return locations


@contextlib.contextmanager
def thrift_connection(server: ThriftServer) -> Iterator[Any]:
    """A PyHive connection to the server (no authentication: loopback), closed at the end."""
    from pyhive import hive  # imported late: only the Thrift path needs it

    connection = hive.connect(host=server.host, port=server.port, username="ecom")
    try:
        yield connection
    finally:
        connection.close()


def register_external_tables(
    server: ThriftServer, locations: Mapping[str, str], schema: str = RAW_SCHEMA
) -> list[str]:
    """Create `schema.<table>` on the server over each location's Parquet files (replacing an
    entry of that name: the files may have been rewritten); returns the qualified names."""
    created = []
    with thrift_connection(server) as connection:
        cursor = connection.cursor()
        cursor.execute(f"create database if not exists {schema}")
        for name, location in locations.items():
            if "'" in location:
                raise ValueError(f"a quote in {location!r} would end the SQL string")
            cursor.execute(f"drop table if exists {schema}.{name}")
            cursor.execute(f"create table {schema}.{name} using parquet location '{location}'")
            created.append(f"{schema}.{name}")
        cursor.close()
    return created
