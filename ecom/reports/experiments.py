"""What the report can say about experiments: the analysis if one was run, else that none was.

The experiment analysis (`ecom experiment analyze`) writes `reports/experiment_<id>.json`; the
experiment marts (`analytics.mart_experiment_results`) come with it. The report reads whatever
of those exists and names what does not, so it never invents a verdict. A result file is read
tolerantly: the first list of objects carrying a `metric` key, with an effect and its interval
under tea-tasting's names (`rel_effect_size`, `rel_effect_size_ci_lower`/`_ci_upper`) or the
plain ones (`lift`, `ci_lower`, `ci_upper`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecom.db import table_exists

RESULTS_TABLE = ("analytics", "mart_experiment_results")
EFFECT_KEYS = (
    "rel_effect_size", "relative_lift", "rel_lift", "lift",
    "abs_effect_size", "absolute_lift", "abs_lift", "effect_size",
)  # fmt: skip


@dataclass
class MetricLift:
    experiment: str
    metric: str
    effect_name: str
    effect: float
    ci_lower: float
    ci_upper: float
    p_value: float | None = None


@dataclass
class ExperimentFindings:
    lifts: list[MetricLift] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    results_table: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def analysed(self) -> bool:
        return bool(self.lifts)


def _metric_rows(document: Any) -> list[dict]:
    """The first list of objects with a `metric` key, searched depth first."""
    if isinstance(document, list):
        if document and all(isinstance(row, dict) and "metric" in row for row in document):
            return document
        candidates = document
    elif isinstance(document, dict):
        candidates = list(document.values())
    else:
        return []
    for value in candidates:
        rows = _metric_rows(value)
        if rows:
            return rows
    return []


def _interval(row: dict, effect_key: str) -> tuple[float, float] | None:
    for lower, upper in (
        (f"{effect_key}_ci_lower", f"{effect_key}_ci_upper"),
        ("ci_lower", "ci_upper"),
        ("lower", "upper"),
    ):
        if row.get(lower) is not None and row.get(upper) is not None:
            return float(row[lower]), float(row[upper])
    return None


def read_lifts(path: Path) -> tuple[list[MetricLift], str | None]:
    """Lifts with intervals from one result file, or a note saying why there are none."""
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        return [], f"{path}: not readable JSON ({error})"
    experiment = (
        str(document.get("experiment_id") or document.get("experiment") or "")
        if isinstance(document, dict)
        else ""
    ) or Path(path).stem.removeprefix("experiment_")
    lifts = []
    for row in _metric_rows(document):
        effect_key = next((key for key in EFFECT_KEYS if row.get(key) is not None), None)
        interval = _interval(row, effect_key) if effect_key else None
        if effect_key is None or interval is None:
            continue
        p_value = row.get("pvalue", row.get("p_value"))
        lifts.append(
            MetricLift(
                experiment=experiment,
                metric=str(row["metric"]),
                effect_name=effect_key,
                effect=float(row[effect_key]),
                ci_lower=interval[0],
                ci_upper=interval[1],
                p_value=float(p_value) if p_value is not None else None,
            )
        )
    if not lifts:
        return [], f"{path}: no metric rows with an effect and its interval"
    return lifts, None


def experiment_findings(database_url: str, reports_dir: Path) -> ExperimentFindings:
    findings = ExperimentFindings(results_table=table_exists(database_url, *RESULTS_TABLE))
    findings.files = sorted(Path(reports_dir).glob("experiment_*.json"))
    for path in findings.files:
        lifts, note = read_lifts(path)
        findings.lifts.extend(lifts)
        if note:
            findings.notes.append(note)
    if not findings.results_table:
        findings.notes.append(f"{'.'.join(RESULTS_TABLE)} does not exist yet")
    if not findings.files:
        findings.notes.append(
            f"no experiment analysis in {reports_dir} (experiment_*.json): "
            "run `ecom experiment analyze --experiment ID`"
        )
    return findings
