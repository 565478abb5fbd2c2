"""`ecom experiment list|design|analyze|memo`: A/B tests on the experiment marts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ecom.cli.common import console, fail, failing_on, runtime
from ecom.config import get_settings

app = typer.Typer(help="A/B tests: list, design (power), analyze, and write the memo.")

ExperimentOption = Annotated[
    str | None, typer.Option("--experiment", help="Experiment id (default: the newest).")
]


def _database_url() -> str:
    _, endpoints = runtime()
    return endpoints.database_url


@app.command("list")
def list_command() -> None:
    """The experiments in the warehouse, with users per variant."""
    from ecom.experiments.data import list_experiments

    experiments = list_experiments(_database_url())
    if not experiments:
        console.print("no experiment: raw.experiment_assignments has no rows")
        return
    table = Table(title="experiments")
    table.add_column("experiment", no_wrap=True)
    for column in ("users", "variants", "first exposure", "ends"):
        table.add_column(column)
    for summary in experiments:
        variants = ", ".join(f"{name} {count:,}" for name, count in summary.variants.items())
        table.add_row(
            summary.experiment_id,
            f"{summary.users:,}",
            variants,
            f"{summary.started_at:%Y-%m-%d %H:%M}",
            f"{summary.ended_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@app.command()
def design(
    metric: Annotated[
        str, typer.Option(help="checkout_conversion, add_to_cart_rate or revenue_per_user.")
    ] = "checkout_conversion",
    mde: Annotated[float, typer.Option(help="Minimum detectable relative lift, e.g. 0.05.")] = 0.05,
    alpha: Annotated[float, typer.Option(help="Two-sided significance level.")] = 0.05,
    power: Annotated[float, typer.Option(help="Power to detect the MDE.")] = 0.80,
    experiment: ExperimentOption = None,
) -> None:
    """Sample size for an MDE (and the running test's own MDE and power), from the marts' baselines."""
    from ecom.experiments.design import DESIGN_METRICS, achieved_power, sample_size
    from ecom.experiments.reporting import design_baselines

    if metric not in DESIGN_METRICS:
        raise fail(f"unknown metric {metric!r}; choose one of {', '.join(DESIGN_METRICS)}")
    if not mde > 0:
        raise fail(f"--mde must be a positive relative lift, got {mde}")
    baselines, frame, experiment_id = design_baselines(_database_url(), experiment)
    if metric not in baselines:
        raise fail(f"no experiment: {metric} takes its baseline from mart_experiment_results")
    baseline = baselines[metric]
    with failing_on(ValueError):
        plan = sample_size(baseline, mde, alpha=alpha, power=power)
    table = Table(title=f"design: {metric}, MDE {mde:.1%}, alpha {alpha}, power {power:.0%}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("baseline", f"{baseline.mean:.4g}")
    table.add_row("per-unit variance", f"{baseline.variance:.4g}")
    table.add_row(f"{plan.unit} per arm", f"{plan.units_per_arm:,}")
    table.add_row(f"{plan.unit} total", f"{plan.units_total:,}")
    if frame is not None:
        units = int(frame["reached_cart"].sum()) if metric == "checkout_conversion" else len(frame)
        reached = achieved_power(baseline, mde, units, alpha=alpha)
        table.add_row(f"{plan.unit} in {experiment_id}", f"{units:,}")
        table.add_row(f"power of {experiment_id} at this MDE", f"{reached:.1%}")
    console.print(table)
    console.print(f"baseline from {baseline.source}")


@app.command()
def analyze(
    experiment: ExperimentOption = None,
    reports: Annotated[Path | None, typer.Option(help="Folder for JSON and PNG.")] = None,
) -> None:
    """SRM check, every metric's lift with CIs (CUPED), Holm, segments, sequential and Bayes."""
    from ecom.experiments.reporting import write_analysis_report

    report = write_analysis_report(
        _database_url(), experiment, reports or get_settings().reports_dir
    )
    analysis = report.analysis
    if analysis is None:
        console.print(f"{report.message}\nwrote {report.json_path}")
        return
    srm = analysis.srm
    table = Table(
        title=f"{analysis.experiment_id}: {analysis.treatment} vs {analysis.control}, CUPED"
    )
    table.add_column("check / metric", no_wrap=True)
    for column in ("lift", "95% CI", "p", "Holm p", "CI -%"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_row(
        f"SRM {srm.control_users:,}/{srm.treatment_users:,} {'pass' if srm.passed else 'FAIL'}",
        f"χ² {srm.chi_square:.1f}",
        "",
        f"{srm.pvalue:.2g}",
        "",
        "",
        style=None if srm.passed else "bold red",
    )
    for metric in analysis.metrics:
        reading = metric.cuped
        table.add_row(
            f"{metric.name}{' *' if metric.role == 'primary' else ''}",
            f"{reading.relative_effect:+.1%}",
            f"[{reading.relative_lower:+.1%}, {reading.relative_upper:+.1%}]",
            f"{reading.pvalue:.2g}",
            f"{metric.pvalue_holm:.2g}",
            f"{metric.ci_narrowing:.1%}",
        )
    console.print(table)
    console.print("* primary; CI -%: how much CUPED narrowed the interval; details in the JSON")
    console.print(f"[bold]{analysis.verdict.decision}[/]: {analysis.verdict.reason}")
    console.print(f"wrote {report.json_path} and {report.plot_path}")


@app.command()
def memo(
    experiment: ExperimentOption = None,
    docs: Annotated[Path | None, typer.Option(help="Folder for the two documents.")] = None,
) -> None:
    """Write ab_test_design.md and decision_memo.md from the analysis (ECOM_DOCS_DIR, default
    reports/); `make docs` writes the committed examples in docs/."""
    from ecom.experiments.reporting import write_docs

    design_path, memo_path = write_docs(
        _database_url(), experiment, docs or get_settings().docs_dir
    )
    console.print(f"wrote {design_path} and {memo_path}")
