"""`ecom report`: the dashboards, the experiment lift and the champion's SHAP summary as one
HTML file that opens anywhere, plus a PNG of every chart.

The page carries plotly.js inline (no CDN: a laptop demo may have no network) and the SHAP
image as a data URI, so `reports/index.html` is the whole report. A card whose table does not
exist yet (no scores before `ecom score`) becomes a panel that says so and how to fill it,
never an empty chart.
"""

from __future__ import annotations

import base64
import html
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import psycopg2
from plotly.offline import get_plotlyjs

from ecom.config import Settings
from ecom.db import fetch_all
from ecom.reports import analytics, charts
from ecom.reports.champion import ChampionShap, champion_shap
from ecom.reports.dashboards import Card, Dashboard, load_dashboards, run_card
from ecom.reports.experiments import ExperimentFindings, experiment_findings
from ecom.services import Endpoints

log = logging.getLogger(__name__)

# Which command fills each table a card may read, for the "not there yet" panels.
FILLED_BY = {
    "churn_scores": "ecom score",
    "retention_targets": "ecom score",
    # Written when a model becomes the uplift champion: without campaign data there is none.
    "uplift_": "ecom uplift train",
    "mart_": "ecom transform",
    "stg_": "ecom transform",
}
SHAP_TOP_FEATURES = 15
# Two lift charts sit side by side on purpose, and say so: the card reads the experiment marts
# (the unadjusted lift Metabase also shows), this one the analysis's CUPED reading, whose
# intervals are narrower and whose metric names are the analysis's own.
LIFT_TITLE = "Experiment analysis: CUPED-adjusted relative lift, 95% intervals"
LIFT_SUBTITLE = "ecom experiment analyze; the card beside it is the marts' unadjusted lift"


@dataclass
class ReportSummary:
    """What `ecom report` wrote: the page, one PNG per drawn chart, and what was missing."""

    page: Path
    images: list[Path] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def summary_line(self) -> str:
        line = f"{self.page} ({len(self.charts)} charts, {len(self.images)} PNGs)"
        return f"{line}; not yet: {len(self.missing)}" if self.missing else line


def _missing_hint(error: psycopg2.Error) -> str:
    message = str(error).splitlines()[0]
    for prefix, command in FILLED_BY.items():
        if prefix in message:
            return f"{message}: run `{command}`"
    return message


def _panel(title: str, text: str, css: str = "missing") -> str:
    return f'<div class="panel {css}"><h3>{html.escape(title)}</h3><p>{html.escape(text)}</p></div>'


def _figure_div(figure: go.Figure, div_id: str) -> str:
    return figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )


class _Page:
    """Collects sections and PNGs while the report is built."""

    def __init__(self, image_dir: Path) -> None:
        self.image_dir = image_dir
        self.sections: list[str] = []
        self.summary_images: list[Path] = []
        self.chart_ids: list[str] = []
        self.missing: list[str] = []

    def chart(self, figure: go.Figure, key: str, png: Path | None, *, wide: bool = False) -> str:
        div_id = f"chart-{key}"
        self.chart_ids.append(div_id)
        if png is not None:
            self.summary_images.append(png)
        css = "chart wide" if wide else "chart"
        return f'<div class="{css}" data-chart="{key}">{_figure_div(figure, div_id)}</div>'

    def card(self, database_url: str, card: Card, frame: pd.DataFrame | None = None) -> str:
        """The card drawn from `frame` when given (rows the page already holds), else from its
        SQL; a panel saying what is missing when its table is not there yet."""
        try:
            frame = run_card(database_url, card) if frame is None else frame
        except psycopg2.errors.UndefinedTable as error:
            hint = _missing_hint(error)
            self.missing.append(f"{card.name}: {hint}")
            return _panel(card.name, f"Not available yet: {hint}.")
        if frame.empty:
            self.missing.append(f"{card.name}: no rows")
            return _panel(card.name, "The query returned no rows yet.")
        png = charts.write_png(frame, card, self.image_dir / f"{card.key}.png")
        wide = card.chart.kind == "table" and len(frame.columns) > charts.WIDE_TABLE_COLUMNS
        return self.chart(charts.plotly_figure(frame, card), card.key, png, wide=wide)


def _dashboard_section(
    page: _Page,
    database_url: str,
    dashboard: Dashboard,
    extra: str = "",
    answered: dict[str, pd.DataFrame] | None = None,
) -> str:
    answered = answered or {}
    cards = "".join(
        page.card(database_url, card, answered.get(card.key)) for card in dashboard.cards
    )
    return (
        f'<section id="{dashboard.slug}"><h2>{html.escape(dashboard.name)}</h2>'
        f'<p class="lede">{html.escape(dashboard.description)}</p>'
        f'<div class="grid">{cards}{extra}</div></section>'
    )


def lift_figure(findings: ExperimentFindings) -> go.Figure:
    """Each metric's effect with its interval, a zero line for "no effect"."""
    lifts = findings.lifts
    labels = [f"{lift.experiment}: {lift.metric}" for lift in lifts]
    figure = go.Figure(
        go.Scatter(
            x=[lift.effect for lift in lifts],
            y=labels,
            mode="markers",
            marker={"size": 10, "color": charts.PALETTE[0]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [lift.ci_upper - lift.effect for lift in lifts],
                "arrayminus": [lift.effect - lift.ci_lower for lift in lifts],
            },
            hovertext=[
                f"{lift.effect_name} {lift.effect:.4f} [{lift.ci_lower:.4f}, {lift.ci_upper:.4f}]"
                + (f", p = {lift.p_value:.4f}" if lift.p_value is not None else "")
                for lift in lifts
            ],
        )
    )
    figure.add_vline(x=0, line_dash="dash", line_color="#888")
    figure.update_layout(
        title={"text": f"{LIFT_TITLE}<br><sup>{LIFT_SUBTITLE}</sup>"},
        xaxis_title="Relative lift (treatment vs control)",
        height=max(300, 80 + 40 * len(lifts)),
        template="plotly_white",
    )
    return figure


def _lift_png(findings: ExperimentFindings, path: Path) -> Path:
    frame = pd.DataFrame(
        {
            "metric": [f"{lift.experiment}: {lift.metric}" for lift in findings.lifts],
            "effect": [lift.effect for lift in findings.lifts],
            "lower": [lift.ci_lower for lift in findings.lifts],
            "upper": [lift.ci_upper for lift in findings.lifts],
        }
    )
    return charts.write_interval_png(frame, f"{LIFT_TITLE}\n({LIFT_SUBTITLE})", path)


def _experiment_panel(page: _Page, findings: ExperimentFindings) -> str:
    if not findings.analysed:
        page.missing.append("experiment lift: no experiment analysed yet")
        notes = "; ".join(findings.notes)
        return _panel(
            "No experiment analysed yet",
            f"Lift with intervals appears here once an analysis exists ({notes}).",
        )
    png = _lift_png(findings, page.image_dir / "experiment_lift.png")
    return page.chart(lift_figure(findings), "experiment_lift", png)


def shap_figure(shap: ChampionShap) -> go.Figure:
    top = sorted(shap.mean_abs_shap.items(), key=lambda item: item[1], reverse=True)[
        :SHAP_TOP_FEATURES
    ]
    figure = go.Figure(
        go.Bar(
            x=[value for _, value in top][::-1], y=[name for name, _ in top][::-1], orientation="h"
        )
    )
    figure.update_layout(
        title=f"Mean |SHAP| per feature, champion v{shap.version}",
        height=480,
        template="plotly_white",
        xaxis_title="mean |SHAP| (log-odds)",
    )
    return figure


def _shap_section(page: _Page, shap: ChampionShap) -> str:
    if shap.missing and not shap.mean_abs_shap:
        page.missing.append(f"SHAP summary: {shap.missing}")
        body = _panel("Champion's SHAP summary", f"Not available yet: {shap.missing}.")
    else:
        body = page.chart(shap_figure(shap), "shap_importance", None)
        if shap.summary_png:
            png = page.image_dir / "shap_summary.png"
            png.write_bytes(shap.summary_png)
            page.summary_images.append(png)
            encoded = base64.b64encode(shap.summary_png).decode("ascii")
            body += (
                '<div class="chart"><h3>SHAP summary (test sample)</h3>'
                f'<img id="shap-summary" alt="SHAP summary of champion v{shap.version}" '
                f'src="data:image/png;base64,{encoded}"></div>'
            )
    caption = (
        f"Champion v{shap.version}, MLflow run {shap.run_id}."
        if shap.version
        else "No champion model yet."
    )
    if shap.test_lift_top_decile is not None and shap.test_base_rate is not None:
        caption += (
            f" On its test split the riskiest 10% churned {shap.test_lift_top_decile:.2f}x as "
            f"often as everyone (base rate {shap.test_base_rate:.3f}); scores are ranked by "
            "percentile in the population (top 5%, 5-20%, 20-50%, bottom 50%)."
        )
    return (
        '<section id="champion"><h2>What drives the churn model</h2>'
        f'<p class="lede">{html.escape(caption)}</p><div class="grid">{body}</div></section>'
    )


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2733; background: #f5f7fa; }
header { background: #1d3557; color: #fff; padding: 18px 32px; }
header p { margin: 4px 0 0; opacity: .8; }
nav a { color: #fff; margin-right: 16px; }
section { padding: 8px 32px 24px; }
.lede { color: #4a5868; margin-top: 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 520px), 1fr)); gap: 16px; }
.chart, .panel { min-width: 0; background: #fff; border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.12); padding: 8px; }
.panel.missing { border-left: 4px solid #e0a030; padding: 12px 16px; }
.chart img { max-width: 100%; }
.wide { grid-column: 1 / -1; }
"""
# `auto-fill`, not `auto-fit`: with auto-fit the first card, drawn while it is still the grid's
# only item, took the whole row, and plotly sized its chart to that; the cards parsed after it
# then halved its column and a plain `chromium --screenshot` clipped it. auto-fill fixes the
# columns from the page's width alone. The resize on load is for any browser that drew early.
RESIZE_ON_LOAD = (
    "window.addEventListener('load', () => document.querySelectorAll('.plotly-graph-div')"
    ".forEach(div => Plotly.Plots.resize(div)));"
)


def render_page(sections: list[str], generated_at: datetime, data_as_of: str) -> str:
    nav = " ".join(
        f'<a href="#{slug}">{label}</a>'
        for slug, label in (
            ("funnel", "Funnel"),
            ("retention", "Retention"),
            ("churn_risk", "Churn risk"),
            ("targeting", "Targeting"),
            ("experiments", "Experiments"),
            ("champion", "Model"),
        )
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>E-commerce analytics report</title>"
        f"<style>{STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        "<header><h1>E-commerce analytics report</h1>"
        f"<p>Data up to {html.escape(data_as_of)} · generated {generated_at:%Y-%m-%d %H:%M} UTC "
        "by <code>ecom report</code></p>"
        f"<nav>{nav}</nav></header>{''.join(sections)}"
        f"<script>{RESIZE_ON_LOAD}</script></body></html>"
    )


def _data_as_of(database_url: str) -> str:
    """The data's own clock (int_data_clock), which every mart is measured against."""
    try:
        rows = fetch_all(database_url, "select data_max_at from intermediate.int_data_clock")
    except psycopg2.Error:
        return "unknown (no warehouse yet: run `ecom transform`)"
    return f"{rows[0][0]:%Y-%m-%d %H:%M} UTC" if rows and rows[0][0] else "unknown"


def write_report(
    settings: Settings,
    endpoints: Endpoints,
    out_dir: Path = Path("reports"),
    image_dir: Path | None = None,
) -> ReportSummary:
    """Write `out_dir/index.html` and a PNG per chart (in `image_dir`, default `out_dir/img`)."""
    out_dir = Path(out_dir)
    image_dir = Path(image_dir) if image_dir else out_dir / "img"
    out_dir.mkdir(parents=True, exist_ok=True)
    image_dir.mkdir(parents=True, exist_ok=True)
    page = _Page(image_dir)
    database_url = endpoints.database_url
    sections = []
    for dashboard in load_dashboards():
        extra, answered = "", {}
        if dashboard.slug == "experiments":
            # Read where the analysis writes it, wherever this page goes (`--out`).
            findings = experiment_findings(database_url, settings.reports_dir)
            extra = _experiment_panel(page, findings)
        if dashboard.slug == "funnel":
            # The funnel over every event, counted once: the time-to-convert panel and the
            # ad-hoc funnel card both read it.
            extra, missing, answered = analytics.funnel_panel(
                database_url, page.chart, image_dir, dashboard.cards
            )
            page.missing.extend(missing)
        sections.append(_dashboard_section(page, database_url, dashboard, extra, answered))
    sections.append(_shap_section(page, champion_shap(settings)))
    target = out_dir / "index.html"
    target.write_text(render_page(sections, datetime.now(UTC), _data_as_of(database_url)))
    for missing in page.missing:
        log.info("report: not yet: %s", missing)
    return ReportSummary(target, page.summary_images, page.chart_ids, page.missing)
