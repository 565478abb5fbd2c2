"""The oracle comparison: how much of the planted signal the model found, on the right world.

With generated data the truth folder holds every user's true churn probability; the oracle's
AUC on the test rows is the ceiling. Before it is trusted, the truth folder's fingerprint
(written by the generator) is compared with the data loaded in `raw`, so a truth folder of
another seed is refused instead of giving a wrong ceiling.
"""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ecom.db import fetch_all
from ecom.features.store import ENTITY_KEY, EVENT_TIMESTAMP
from ecom.synth.fingerprint import FINGERPRINT_TABLES, read_fingerprint
from ecom.thelook import RAW_SCHEMA

log = logging.getLogger(__name__)


class TruthMismatch(ValueError):
    """The truth folder was generated for other data than the data in the database."""


# The last event's whole seconds since the epoch, in each engine's SQL.
POSTGRES_EPOCH_SECONDS = "floor(extract(epoch from max(created_at)))"
SPARK_EPOCH_SECONDS = "unix_seconds(max(created_at))"


def fingerprint_sql(epoch_seconds: str = POSTGRES_EPOCH_SECONDS) -> str:
    """The query for the generator's fingerprint over the `raw` tables: (field, value) rows.
    Only the epoch expression differs between engines (`SPARK_EPOCH_SECONDS` on Spark)."""
    counts = " union all ".join(
        f"select '{table}_rows', cast(count(*) as bigint) from {RAW_SCHEMA}.{table}"
        for table in FINGERPRINT_TABLES
    )
    last_event = (
        f"select 'events_last_epoch_second', cast({epoch_seconds} as bigint) "
        f"from {RAW_SCHEMA}.events"
    )
    return f"{counts} union all {last_event}"


def loaded_data_fingerprint(database_url: str) -> dict[str, int]:
    """The same fingerprint as the generator's, computed from PostgreSQL's `raw` tables."""
    return {name: int(value) for name, value in fetch_all(database_url, fingerprint_sql())}


def check_truth_matches(truth_dir: Path, loaded: dict[str, int]) -> None:
    """Raise `TruthMismatch`, naming each differing field, unless the truth belongs to `loaded`."""
    written = read_fingerprint(truth_dir)
    differing = [
        f"{field} truth {written.get(field)} vs loaded {loaded.get(field)}"
        for field in sorted(set(written) | set(loaded))
        if written.get(field) != loaded.get(field)
    ]
    if differing:
        raise TruthMismatch(
            f"the truth folder {Path(truth_dir)} does not belong to the loaded data "
            f"({'; '.join(differing)}): pass the folder the data was generated into"
        )


def oracle_ratios(model_auc: float, oracle_auc: float) -> dict[str, float]:
    """AUC / oracle, and (AUC - 0.5) / (oracle - 0.5): the first flatters (a coin already
    scores 0.5), the second says which share of the learnable signal the model found."""
    lift = (model_auc - 0.5) / (oracle_auc - 0.5) if oracle_auc > 0.5 else float("nan")
    return {"model_to_oracle_auc_ratio": model_auc / oracle_auc, "model_to_oracle_lift_ratio": lift}


def oracle_probabilities(truth_dir: Path, rows: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """The generator's exact churn probability for each (user, cutoff) of `rows`."""
    from ecom.synth.truth import load_truth, true_churn_probability

    cutoffs = pd.to_datetime(rows[EVENT_TIMESTAMP], utc=True).dt.tz_localize(None)
    return np.asarray(
        true_churn_probability(
            load_truth(Path(truth_dir)),
            rows[ENTITY_KEY].to_numpy(),
            cutoffs.to_numpy(dtype="datetime64[ns]"),
            horizon_days=horizon_days,
        ),
        dtype=float,
    )


def log_oracle_auc(
    truth_dir: Path,
    test_rows: pd.DataFrame,
    test_labels: np.ndarray,
    model_auc: float,
    horizon_days: int,
) -> float:
    """The oracle's AUC on the model's test rows, logged to the active run with both ratios."""
    oracle = oracle_probabilities(truth_dir, test_rows, horizon_days)
    oracle_auc = float(roc_auc_score(test_labels, oracle))
    ratios = oracle_ratios(model_auc, oracle_auc)
    mlflow.log_metrics({"oracle_test_roc_auc": oracle_auc, **ratios})
    log.info(
        "oracle AUC %.4f; the model reaches %.3f of it, %.3f of the lift above chance",
        oracle_auc,
        ratios["model_to_oracle_auc_ratio"],
        ratios["model_to_oracle_lift_ratio"],
    )
    return oracle_auc
