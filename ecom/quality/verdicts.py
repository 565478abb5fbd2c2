"""The gate's verdict on each load, kept in the database so later stages can ask for it.

The pipeline stops at a failed gate, but `ecom train` (or a deployment) can run on its own
after one. Every gate run records whether it passed for the load it checked, and training
reads the latest verdict on the load now in `raw`: a model fitted on data the gate refused
never takes the `champion` alias. A load is identified by its raw tables' object ids, since
every `ecom load` swaps in new tables; re-loading identical data is a new load, gated anew.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ecom.db import fetch_all, transaction
from ecom.thelook import RAW_SCHEMA

VERDICTS_TABLE = "analytics.quality_verdicts"

_CREATE = f"""
create schema if not exists analytics;
create table if not exists {VERDICTS_TABLE} (
    checked_at timestamptz not null default now(),
    load_id text not null,
    passed boolean not null,
    summary text not null
)
"""

_LOAD_ID = """
select coalesce(string_agg(c.relname || ':' || c.oid::text, ',' order by c.relname), '')
from pg_catalog.pg_class as c
join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
where n.nspname = %s and c.relkind = 'r'
"""


@dataclass(frozen=True)
class GateVerdict:
    checked_at: datetime
    passed: bool
    summary: str

    def refusal(self) -> str | None:
        """Why a model trained on this load must not be crowned, or None when it may be."""
        if self.passed:
            return None
        when = f"{self.checked_at:%Y-%m-%d %H:%M %Z}".strip()
        return f"the quality gate failed on this load at {when}: {self.summary}"


def current_load_id(database_url: str) -> str:
    """The raw tables' names and object ids: new with every load's swap ('' before any)."""
    return fetch_all(database_url, _LOAD_ID, (RAW_SCHEMA,))[0][0]


def record_verdict(database_url: str, passed: bool, summary: str) -> None:
    """Keep the verdict on the load now in `raw` (nothing when no raw table exists yet)."""
    load_id = current_load_id(database_url)
    if not load_id:
        return
    with transaction(database_url) as cursor:
        cursor.execute(_CREATE)
        cursor.execute(
            f"insert into {VERDICTS_TABLE} (load_id, passed, summary) values (%s, %s, %s)",
            (load_id, passed, summary),
        )


def latest_verdict(database_url: str) -> GateVerdict | None:
    """The last gate verdict on the load now in `raw`; None when it was never gated."""
    if not fetch_all(database_url, "select to_regclass(%s) is not null", (VERDICTS_TABLE,))[0][0]:
        return None
    rows = fetch_all(
        database_url,
        f"select checked_at, passed, summary from {VERDICTS_TABLE} where load_id = %s "
        "order by checked_at desc limit 1",
        (current_load_id(database_url),),
    )
    return GateVerdict(*rows[0]) if rows else None
