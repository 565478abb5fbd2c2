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

from ecom.db import table_exists

RESULTS_TABLE = ("analytics", "mart_experiment_results")


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


def read_lifts(path: Path) -> tuple[list[MetricLift], str | None]:
    """Lifts with intervals from one `ecom experiment analyze` file, or a note saying why none.

    The file is `ExperimentAnalysis.to_dict()`: one entry per metric with a plain and a CUPED
    reading; the report shows the CUPED relative lift, the analysis's narrower interval.
    """
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        return [], f"{path}: not readable JSON ({error})"
    if not isinstance(document, dict) or document.get("status") != "analysed":
        reason = document.get("reason") if isinstance(document, dict) else None
        return [], f"{path}: no analysed experiment ({reason or 'status is not analysed'})"
    experiment = str(document.get("experiment_id") or Path(path).stem.removeprefix("experiment_"))
    lifts = []
    for metric in document.get("metrics") or []:
        reading = metric.get("cuped") or metric.get("plain") or {}
        values = [
            reading.get(key) for key in ("relative_effect", "relative_lower", "relative_upper")
        ]
        if any(value is None for value in values):
            continue
        lifts.append(
            MetricLift(
                experiment=experiment,
                metric=str(metric["name"]),
                effect_name="relative lift (CUPED)" if metric.get("cuped") else "relative lift",
                effect=float(values[0]),
                ci_lower=float(values[1]),
                ci_upper=float(values[2]),
                p_value=float(reading["pvalue"]) if reading.get("pvalue") is not None else None,
            )
        )
    if not lifts:
        return [], f"{path}: no metric with a relative lift and its interval"
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
