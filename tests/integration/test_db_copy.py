"""The one COPY reader: its NULL rules, on a real PostgreSQL."""

from __future__ import annotations

import pandas as pd

from ecom.db import read_query_frame

# Text a pandas default would take for missing, beside a real SQL NULL.
ROWS_SQL = (
    "select * from (values ('NA', 1), ('None', 2), ('', 3), (null, 4)) as t(traffic_source, id)"
)


def test_only_sql_null_keeps_text_that_looks_missing(database_url: str) -> None:
    frame = read_query_frame(
        database_url, ROWS_SQL, dtype={"traffic_source": "object"}, only_sql_null=True
    )
    assert frame["traffic_source"].iloc[:3].tolist() == ["NA", "None", ""]
    assert pd.isna(frame["traffic_source"].iloc[3])
    assert frame["id"].tolist() == [1, 2, 3, 4]


def test_by_default_pandas_missing_markers_apply(database_url: str) -> None:
    frame = read_query_frame(database_url, ROWS_SQL, dtype={"traffic_source": "object"})
    assert frame["traffic_source"].isna().tolist() == [True, True, True, True]
