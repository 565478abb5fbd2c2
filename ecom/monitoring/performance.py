"""Performance over time: how right the champion was at every cutoff whose outcome is known.

A drift report says the inputs changed; only realised performance says the model stopped
working. `analytics.model_performance` holds one row per (cutoff, model version, source) for
every cutoff whose 30-day label horizon has passed:
- `history_cutoff`: the weekly cutoffs of the labels mart, scored now by the champion and
  marked `in_sample` when the model trained or was validated on them (up to its last
  validation cutoff, as recorded in its run) and `out_of_sample` otherwise (its test cutoffs
  and every later one);
- `stored_scores`: the scores batch scoring actually stored (any model version), once the
  horizon after their features' date has passed; always `out_of_sample`.
Each row carries the realised ROC-AUC, Brier score and precision among the top k scores
(k = the retention target count, 500 by default: what the retention team contacted).
Writing replaces the rows it recomputes in one transaction, so a re-run gives the same table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from ecom.churn import models as churn_models
from ecom.churn.registry import MODEL_NAME
from ecom.config import Settings
from ecom.db import copy_frame, table_exists, transaction
from ecom.monitoring.tables import read_query
from ecom.services import Endpoints

log = logging.getLogger(__name__)

PERFORMANCE_TABLE = "analytics.model_performance"
IN_SAMPLE, OUT_OF_SAMPLE = "in_sample", "out_of_sample"
HISTORY, STORED = "history_cutoff", "stored_scores"

PERFORMANCE_DDL = f"""
create table if not exists {PERFORMANCE_TABLE} (
    cutoff_date date not null,
    model_name text not null,
    model_version text not null,
    source text not null,
    sample text not null,
    users integer not null,
    churn_rate double precision not null,
    roc_auc double precision,
    brier double precision not null,
    precision_at_k double precision not null,
    k integer not null,
    computed_at timestamptz not null,
    primary key (cutoff_date, model_version, source)
)"""

LABELLED_FEATURES_SQL = """
select features.*, labels.churned
from analytics.mart_churn_features as features
inner join analytics.mart_churn_labels as labels
    on labels.user_id = features.user_id and labels.cutoff_date = features.cutoff_date
"""

# Stored scores whose horizon has passed, each with what really happened. Dates become
# midnight UTC explicitly, so the answer does not depend on the session's time zone.
MATURED_SCORES_SQL = """
with clock as (
    select data_max_at from intermediate.int_data_clock
),
latest as (
    select distinct on (features_as_of, model_version, user_id)
        features_as_of, model_version, user_id, churn_probability
    from analytics.churn_scores
    order by features_as_of, model_version, user_id, scored_at desc
)
select
    latest.features_as_of as cutoff_date,
    latest.model_version,
    latest.user_id,
    latest.churn_probability,
    case when exists (
        select 1 from staging.stg_thelook__orders as orders
        where orders.user_id = latest.user_id
          and orders.created_at >= latest.features_as_of::timestamp at time zone 'UTC'
          and orders.created_at < (latest.features_as_of + {horizon})::timestamp at time zone 'UTC'
    ) then 0 else 1 end as churned
from latest
cross join clock
where (latest.features_as_of + {horizon})::timestamp at time zone 'UTC' <= clock.data_max_at
"""


@dataclass
class PerformanceSummary:
    rows: pd.DataFrame
    model_version: str

    def latest(self, count: int = 8) -> pd.DataFrame:
        return self.rows.sort_values(["cutoff_date", "source"]).tail(count)

    def summary_line(self) -> str:
        out = self.rows[self.rows["sample"] == OUT_OF_SAMPLE]
        if out.empty:
            return f"model_performance: {len(self.rows)} rows, none out of sample yet"
        last = out.sort_values("cutoff_date").iloc[-1]
        return (
            f"model_performance: {len(self.rows)} rows; latest out-of-sample cutoff "
            f"{last.cutoff_date} (v{last.model_version}, {last.source}): AUC "
            f"{last.roc_auc:.3f}, Brier {last.brier:.3f}, precision@{last.k} "
            f"{last.precision_at_k:.3f}"
        )

    def as_rich_table(self, count: int = 8):
        from rich.table import Table

        k = int(self.rows["k"].max()) if len(self.rows) else 0
        table = Table(title=f"{PERFORMANCE_TABLE}: latest rows (precision among the top {k})")
        for column in ("cutoff", "v", "sample", "users", "churn", "AUC", "Brier", f"p@{k}"):
            table.add_column(column, justify="right", no_wrap=True)
        for row in self.latest(count).itertuples():
            sample = "in" if row.sample == IN_SAMPLE else "out"
            table.add_row(
                str(row.cutoff_date), str(row.model_version),
                f"{sample} (stored)" if row.source == STORED else sample, f"{row.users:,}",
                f"{row.churn_rate:.3f}", "-" if pd.isna(row.roc_auc) else f"{row.roc_auc:.3f}",
                f"{row.brier:.3f}", f"{row.precision_at_k:.3f}",
            )  # fmt: skip
        return table


def cutoff_metrics(y_true: np.ndarray, scores: np.ndarray, k: int) -> dict[str, float]:
    """AUC (None with one class), Brier and precision among the top `k` scores of one cutoff."""
    y_true = np.asarray(y_true).astype(int)
    scores = np.asarray(scores, dtype=float)
    top = np.argsort(-scores, kind="stable")[: min(k, len(scores))]
    return {
        "users": len(y_true),
        "churn_rate": float(y_true.mean()),
        "roc_auc": float(roc_auc_score(y_true, scores)) if len(np.unique(y_true)) == 2 else None,
        "brier": float(brier_score_loss(y_true, scores, labels=[0, 1])),
        "precision_at_k": float(y_true[top].mean()),
        "k": min(k, len(scores)),
    }


def sample_of(cutoff: date, last_in_sample: date) -> str:
    return IN_SAMPLE if cutoff <= last_in_sample else OUT_OF_SAMPLE


def performance_rows(
    frame: pd.DataFrame, score_column: str, source: str, k: int, last_in_sample: date | None
) -> pd.DataFrame:
    """One row per (cutoff_date, model_version) of `frame` (labels `churned`, scores)."""
    rows = []
    for (cutoff, version), group in frame.groupby(["cutoff_date", "model_version"], sort=True):
        cutoff = pd.Timestamp(cutoff).date()
        sample = OUT_OF_SAMPLE if last_in_sample is None else sample_of(cutoff, last_in_sample)
        metrics = cutoff_metrics(group["churned"].to_numpy(), group[score_column].to_numpy(), k)
        rows.append(
            {"cutoff_date": cutoff, "model_name": MODEL_NAME, "model_version": str(version),
             "source": source, "sample": sample, **metrics}
        )  # fmt: skip
    return pd.DataFrame(rows)


def write_performance(database_url: str, rows: pd.DataFrame) -> None:
    """Replace the (model version, source) slices being written, in one transaction."""
    with transaction(database_url) as cursor:
        cursor.execute("create schema if not exists analytics")
        cursor.execute(PERFORMANCE_DDL)
        cursor.execute("select pg_advisory_xact_lock(hashtext('model_performance'))")
        for version, source in (
            rows[["model_version", "source"]].drop_duplicates().itertuples(index=False)
        ):
            cursor.execute(
                f"delete from {PERFORMANCE_TABLE} where model_version = %s and source = %s",
                (version, source),
            )
        copy_frame(cursor, PERFORMANCE_TABLE, rows)


def read_performance(database_url: str) -> pd.DataFrame:
    if not table_exists(database_url, "analytics", "model_performance"):
        return pd.DataFrame()
    return read_query(database_url, f"select * from {PERFORMANCE_TABLE} order by cutoff_date")


def _can_mature_stored_scores(database_url: str) -> bool:
    """Stored scores mature against the warehouse's orders and clock; without a dbt-built
    warehouse (or before any scoring) there is nothing to mature."""
    needed = [("analytics", "churn_scores"), ("intermediate", "int_data_clock"),
              ("staging", "stg_thelook__orders")]  # fmt: skip
    absent = [f"{s}.{t}" for s, t in needed if not table_exists(database_url, s, t)]
    if absent:
        log.info("stored scores not evaluated: %s absent", ", ".join(absent))
    return not absent


def update_model_performance(settings: Settings, endpoints: Endpoints) -> PerformanceSummary:
    """Score every labelled cutoff with the champion, evaluate matured stored scores, and
    replace those rows of `analytics.model_performance`."""
    from ecom.monitoring.champion import load_champion_run

    champion = load_champion_run(settings)
    last_in_sample = date.fromisoformat(champion.params["validation_last_cutoff"])
    k = settings.retention_target_count
    url = endpoints.database_url
    labelled = read_query(url, LABELLED_FEATURES_SQL)
    labelled["model_version"] = champion.version
    labelled["churn_probability"] = churn_models.predict_churn(champion.model, labelled)
    parts = [performance_rows(labelled, "churn_probability", HISTORY, k, last_in_sample)]
    if _can_mature_stored_scores(url):
        horizon = int(settings.label_horizon_days)
        matured = read_query(url, MATURED_SCORES_SQL.format(horizon=horizon))
        if len(matured):
            parts.append(performance_rows(matured, "churn_probability", STORED, k, None))
    rows = pd.concat([p for p in parts if len(p)], ignore_index=True)
    rows["computed_at"] = datetime.now(UTC).isoformat()
    write_performance(url, rows)
    summary = PerformanceSummary(rows=read_performance(url), model_version=champion.version)
    log.info("%s", summary.summary_line())
    return summary
