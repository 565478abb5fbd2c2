"""The lift-with-intervals chart: each metric's relative lift and 95% CI, plain and CUPED."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers or in flows

import matplotlib.pyplot as plt

from ecom.experiments.analysis import ExperimentAnalysis
from ecom.figures import save_figure


def plot_lifts(analysis: ExperimentAnalysis, path: Path) -> Path:
    """Write a PNG of every metric's relative lift with its interval, zero marked."""
    metrics = analysis.metrics
    figure, axes = plt.subplots(figsize=(8, 0.8 + 0.7 * len(metrics)))
    for row, metric in enumerate(reversed(metrics)):
        for offset, (label, reading, color) in enumerate(
            (("plain", metric.plain, "#9aa5b1"), ("CUPED", metric.cuped, "#1f6feb"))
        ):
            y = row + (0.15 if offset else -0.15)
            axes.errorbar(
                100 * reading.relative_effect,
                y,
                xerr=[
                    [100 * (reading.relative_effect - reading.relative_lower)],
                    [100 * (reading.relative_upper - reading.relative_effect)],
                ],
                fmt="o",
                color=color,
                capsize=3,
                label=label if row == 0 else None,
            )
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(metrics)))
    axes.set_yticklabels([f"{metric.name} ({metric.role})" for metric in reversed(metrics)])
    axes.set_xlabel(f"relative lift of {analysis.treatment} over {analysis.control} (%, 95% CI)")
    axes.set_title(f"{analysis.experiment_id}: {analysis.verdict.decision}")
    axes.legend(loc="best")
    return save_figure(figure, path)
