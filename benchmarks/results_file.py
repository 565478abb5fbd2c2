"""A benchmark's report goes to the terminal and, unless asked not to, to benchmarks/results/,
so the figures the README quotes are always the last run's own output."""

from __future__ import annotations

from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def publish(report: str, name: str, *, write: bool = True) -> Path | None:
    """Print `report`; with `write`, also store it as results/<name> and say where."""
    print(report)
    if not write:
        return None
    path = RESULTS_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report)
    print(f"wrote {path}")
    return path
