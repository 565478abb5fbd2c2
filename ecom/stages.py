"""The pipeline's stages as plain functions, shared by the `ecom` command and the Prefect flows.

Each stage wraps one module's function with the project's decisions (generate data when the
folder is empty, stop at a failed quality gate) and returns a small summary; nothing here
knows about Prefect or the terminal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecom.config import Settings
from ecom.services import Endpoints

log = logging.getLogger(__name__)


def load_stage(
    settings: Settings,
    endpoints: Endpoints,
    data_dir: Path,
    *,
    users: int,
    seed: int,
    announce: Callable[[str], object] = log.info,
):
    """Load `data_dir` into `raw`; when it holds no CSVs, generate a TheLook dataset there first,
    as the original platform did, and say so."""
    from ecom.ingest.load import has_thelook_csvs, load_raw_tables

    data_dir = Path(data_dir)
    if not has_thelook_csvs(data_dir):
        from ecom.synth import generate_dataset

        announce(
            f"{data_dir} holds no TheLook CSVs: generating {users:,} users (seed {seed}) there first"
        )
        generate_dataset(users, seed, data_dir, None, progress=True)
    return load_raw_tables(endpoints.database_url, data_dir, progress=True)


def quality_stage(settings: Settings, endpoints: Endpoints, *, include_marts: bool = True):
    """Run the gate and raise `QualityGateFailed` (naming table and expectation) when it fails,
    so nothing downstream trains on bad data."""
    from ecom.quality.gate import QualityGateFailed, run_quality_gate

    report = run_quality_gate(settings, endpoints, include_marts=include_marts)
    if not report.passed:
        raise QualityGateFailed(report)
    return report


@dataclass
class PipelineSummary:
    """What `make demo` prints at the end: one line per stage, from the stage's own report."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, stage: str, text: str, detail: Any = None) -> None:
        self.lines.append((stage, text))
        if detail is not None:
            self.details[stage] = detail


def render_pipeline_summary(summary: PipelineSummary, console) -> None:
    """One line per stage, then the model comparison and the top retention targets."""
    from rich.table import Table

    table = Table(title="pipeline summary")
    table.add_column("stage")
    table.add_column("result")
    for stage, text in summary.lines:
        table.add_row(stage, text)
    for stage in ("train", "score", "monitor"):
        detail = summary.details.get(stage)
        if detail is not None and hasattr(detail, "as_rich_table"):
            console.print(detail.as_rich_table())
    console.print(table)
