"""The oracle comparison: how much of the planted signal the model found, on the right world.

With generated data the truth folder holds every user's true churn probability; the oracle's
AUC on the test rows is the ceiling. Before it is trusted, the truth folder's fingerprint
(written by the generator) is compared with the data loaded in `raw`, so a truth folder of
another seed is refused instead of giving a wrong ceiling.
"""

from __future__ import annotations

from pathlib import Path

from ecom.db import fetch_all
from ecom.synth.fingerprint import FINGERPRINT_TABLES, read_fingerprint
from ecom.thelook import RAW_SCHEMA


class TruthMismatch(ValueError):
    """The truth folder was generated for other data than the data in the database."""


def loaded_data_fingerprint(database_url: str) -> dict[str, int]:
    """The same fingerprint as the generator's, computed from the `raw` tables."""
    counts = " union all ".join(
        f"select '{table}_rows', count(*)::bigint from {RAW_SCHEMA}.{table}"
        for table in FINGERPRINT_TABLES
    )
    last_event = (
        "select 'events_last_epoch_second', "
        f"floor(extract(epoch from max(created_at)))::bigint from {RAW_SCHEMA}.events"
    )
    return {
        name: int(value)
        for name, value in fetch_all(database_url, f"{counts} union all {last_event}")
    }


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
