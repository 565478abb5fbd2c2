"""Query results as data frames through COPY: monitoring reads whole marts (every labelled
cutoff of every user), where COPY is 10x faster than fetching rows."""

from __future__ import annotations

import io

import pandas as pd

from ecom.db import connect

# Text columns of the churn feature marts: read as text even when a sample looks numeric.
TEXT_COLUMNS = {"traffic_source": "object", "gender": "object", "country": "object"}


def read_query(database_url: str, sql: str) -> pd.DataFrame:
    buffer = io.StringIO()
    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH CSV HEADER", buffer)
    finally:
        connection.close()
    buffer.seek(0)
    return pd.read_csv(buffer, dtype=TEXT_COLUMNS)
