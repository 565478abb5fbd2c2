"""Query results as data frames through COPY: monitoring reads whole marts (every labelled
cutoff of every user), where COPY is 10x faster than fetching rows."""

from __future__ import annotations

import pandas as pd

from ecom.db import read_query_frame

# Text columns of the churn feature marts: read as text even when a sample looks numeric.
TEXT_COLUMNS = {"traffic_source": "object", "gender": "object", "country": "object"}


def read_query(database_url: str, sql: str) -> pd.DataFrame:
    return read_query_frame(database_url, sql, dtype=TEXT_COLUMNS)
