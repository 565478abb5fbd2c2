"""The generated data's fingerprint, written beside the truth so the oracle can refuse a truth
folder that does not belong to the data in the database.

A truth folder of another seed (or size, or end date) still has a probability for every user
id, so the oracle would silently compare the model with the wrong world. The fingerprint is
what both sides can compute cheaply and what differs between seeds: the row counts of the
tables churn depends on and the time of the last event, to the second.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ecom.synth.truth import TRUTH_DIR

FINGERPRINT_FILE = "fingerprint.json"
FINGERPRINT_TABLES = ("users", "orders", "order_items", "events")


def data_fingerprint(rows: dict[str, int], event_times: np.ndarray) -> dict[str, int]:
    """{table}_rows for the fingerprinted tables plus `events_last_epoch_second`."""
    fingerprint = {f"{table}_rows": int(rows[table]) for table in FINGERPRINT_TABLES}
    last = np.asarray(event_times).max().astype("datetime64[s]").astype(np.int64)
    fingerprint["events_last_epoch_second"] = int(last)
    return fingerprint


def write_fingerprint(out_dir: Path, fingerprint: dict[str, int]) -> Path:
    path = Path(out_dir) / TRUTH_DIR / FINGERPRINT_FILE
    path.write_text(json.dumps(fingerprint, indent=2, sort_keys=True) + "\n")
    return path


def read_fingerprint(data_dir: Path) -> dict[str, int]:
    path = Path(data_dir) / TRUTH_DIR / FINGERPRINT_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: regenerate the data with `ecom generate` (older truth folders "
            "carry no fingerprint, so they cannot be matched to the loaded data)"
        )
    return json.loads(path.read_text())
