"""One card's result drawn twice: a plotly figure for the HTML page and a matplotlib PNG.

plotly cannot write PNGs here (its export needs kaleido, which is not installed), so the
images come from matplotlib's Agg backend; both read the same frame and the same chart spec.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from ecom.reports.dashboards import Card

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6")

# Axis titles and legend entries for people: a column name says how a mart stores a number,
# not what a reader sees. Columns not named here get their name with spaces (`users` -> Users).
COLUMN_LABELS = {
    "mean_churn_probability": "Mean churn probability",
    "probability_band": "Churn probability band",
    "view_to_cart_rate": "Sessions that carted, of those that viewed",
    "overall_conversion_rate": "Sessions that purchased, of those that viewed",
    "conversion_rate": "Conversion rate (sessions that purchased)",
    "period_start": "Week starting",
    "assigned_week": "Week assigned",
    "cohort_week": "Cohort (first week)",
    "weeks_since": "Weeks since the cohort's first week",
    "retention_rate": "Retained share of the cohort",
    "unbounded_retention_rate": "Active that week or later",
    "relative_lift": "Relative lift (treatment vs control)",
    "share_contacted": "Users contacted, highest score first (% of held-out campaign users)",
    "incremental_conversions_ipw": "Incremental conversions (IPW estimate)",
    "budget": "Budget (share of held-out campaign users contacted)",
}


def column_label(column: str) -> str:
    """What a reader calls a column: its label, else its name with spaces, capitalised."""
    if column in COLUMN_LABELS:
        return COLUMN_LABELS[column]
    words = column.replace("_", " ")
    return words[:1].upper() + words[1:]


def axis_title(columns: list[str]) -> str:
    """One axis for several columns: their shared kind ("Rate") when the legend names each."""
    if len(columns) == 1:
        return column_label(columns[0])
    if all(column.endswith("_rate") for column in columns):
        return "Rate"
    return " / ".join(column_label(column) for column in columns)


def _series(frame: pd.DataFrame, card: Card) -> list[tuple[str, pd.DataFrame, str]]:
    """(label, rows, y column) per line or bar group: one per y column, split by `color`."""
    chart = card.chart
    groups = (
        [(str(value), rows) for value, rows in frame.groupby(chart.color, sort=True)]
        if chart.color
        else [("", frame)]
    )
    out = []
    for group, rows in groups:
        for column in chart.y_columns:
            label = " · ".join(
                part
                for part in (group, column_label(column) if len(chart.y_columns) > 1 else "")
                if part
            )
            out.append((label or column_label(column), rows, column))
    return out


def heatmap_matrix(frame: pd.DataFrame, card: Card) -> pd.DataFrame:
    """Rows = y (e.g. cohort week), columns = x (e.g. weeks since), values = z."""
    chart = card.chart
    return frame.pivot_table(index=chart.y, columns=chart.x, values=chart.z, aggfunc="first")


def plotly_figure(frame: pd.DataFrame, card: Card) -> go.Figure:
    chart = card.chart
    figure = go.Figure()
    if chart.kind == "funnel":
        figure.add_trace(
            go.Funnel(
                y=frame[chart.x], x=frame[chart.y_columns[0]], textinfo="value+percent initial"
            )
        )
    elif chart.kind == "bar":
        for label, rows, column in _series(frame, card):
            error = None
            if chart.interval:
                low, high = (rows[c].astype(float) for c in chart.interval)
                middle = rows[column].astype(float)
                error = {"type": "data", "array": high - middle, "arrayminus": middle - low}
            figure.add_trace(
                go.Bar(x=rows[chart.x].astype(str), y=rows[column], name=label, error_y=error)
            )
        figure.update_layout(barmode="group")
    elif chart.kind == "line":
        for label, rows, column in _series(frame, card):
            figure.add_trace(
                go.Scatter(x=rows[chart.x], y=rows[column], mode="lines+markers", name=label)
            )
    elif chart.kind == "heatmap":
        matrix = heatmap_matrix(frame, card)
        figure.add_trace(
            go.Heatmap(
                z=matrix.to_numpy(dtype=float),
                x=[str(column) for column in matrix.columns],
                y=[str(index) for index in matrix.index],
                colorscale="Blues",
                zmin=0,
                hovertemplate=f"{column_label(chart.y)} %{{y}}<br>{column_label(chart.x)} %{{x}}"
                f"<br>{column_label(chart.z)} %{{z:.1%}}<extra></extra>",
                colorbar={"title": {"text": column_label(chart.z), "side": "right"}},
            )
        )
        # Category axes: cohort weeks are labels of rows, not a time scale to space rows by.
        figure.update_yaxes(autorange="reversed", title=column_label(chart.y), type="category")
        figure.update_xaxes(title=column_label(chart.x), type="category")
    else:
        cells = [_formatted(frame[column]) for column in frame.columns]
        labels = [column_label(column) for column in frame.columns]
        figure.add_trace(
            go.Table(
                columnwidth=table_column_widths(labels, cells),
                header={"values": labels, "fill_color": "#dde6f0", "align": "left"},
                cells={"values": cells, "align": "left"},
            )
        )
    if chart.kind in ("bar", "line"):
        figure.update_xaxes(title=column_label(chart.x))
        figure.update_yaxes(title=axis_title(chart.y_columns))
        # Under the plot, not beside it: a half-width card keeps its width for the data.
        figure.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.22, "x": 0})
    figure.update_layout(
        title=card.name,
        margin={"l": 60, "r": 20, "t": 50, "b": 60},
        height=420,
        template="plotly_white",
    )
    return figure


# A wide table card (more columns than this) spans the page: in a half-width card a dozen
# columns left the retention list's reason a few letters wide and one row tall.
WIDE_TABLE_COLUMNS = 6


def table_column_widths(labels: list[str], cells: list[list[str]]) -> list[int]:
    """Relative widths from what each column holds (its label's longest word, its typical
    value, capped), so a free-text reason gets room and an id does not."""
    widths = []
    for label, values in zip(labels, cells, strict=True):
        typical = sorted(len(value) for value in values)[len(values) // 2] if values else 0
        longest_word = max((len(word) for word in label.split()), default=0)
        widths.append(min(max(typical + 3, longest_word, 7), 40))
    return widths


def _formatted(column: pd.Series) -> list[str]:
    if pd.api.types.is_float_dtype(column):  # a missing value (no recency yet) stays blank
        return ["" if pd.isna(value) else f"{value:,.3f}" for value in column]
    return [str(value) for value in column]


def write_png(frame: pd.DataFrame, card: Card, path: Path) -> Path:
    """The same chart as a PNG (matplotlib Agg), for the README and for readers without a browser."""
    chart = card.chart
    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=110)
    if chart.kind == "funnel":
        _draw_funnel(axes, frame, card)
    elif chart.kind in ("bar", "line"):
        series = _series(frame, card)
        (_draw_bars if chart.kind == "bar" else _draw_lines)(axes, frame, card, series)
        axes.set_xlabel(column_label(chart.x))
        axes.set_ylabel(axis_title(chart.y_columns))
        if len(series) > 1:
            axes.legend(fontsize=8)
    elif chart.kind == "heatmap":
        _draw_heatmap(figure, axes, frame, card)
    else:
        _draw_table(axes, frame)
    axes.set_title(card.name)
    return _save(figure, path)


def _draw_funnel(axes: plt.Axes, frame: pd.DataFrame, card: Card) -> None:
    """Horizontal bars, first step on top, each labelled with its count and share of the first."""
    column = card.chart.y_columns[0]
    values = frame[column].astype(float).to_numpy()
    labels = frame[card.chart.x].astype(str).tolist()
    axes.barh(labels[::-1], values[::-1], color=PALETTE[0])
    for position, value in enumerate(values[::-1]):
        share = value / values[0] if values[0] else 0
        axes.text(value, position, f" {value:,.0f} ({share:.0%})", va="center")
    axes.set_xlabel(column_label(column))


def _draw_bars(
    axes: plt.Axes, frame: pd.DataFrame, card: Card, series: list[tuple[str, pd.DataFrame, str]]
) -> None:
    """Grouped bars, one group per x category, with the card's interval as error bars."""
    chart = card.chart
    categories = list(dict.fromkeys(frame[chart.x].astype(str)))
    width = 0.8 / max(len(series), 1)
    for index, (label, rows, column) in enumerate(series):
        positions = [categories.index(value) + index * width for value in rows[chart.x].astype(str)]
        error = None
        if chart.interval:
            low, high = (rows[c].astype(float).to_numpy() for c in chart.interval)
            middle = rows[column].astype(float).to_numpy()
            error = [middle - low, high - middle]
        axes.bar(
            positions,
            rows[column],
            width=width,
            label=label,
            color=PALETTE[index % len(PALETTE)],
            yerr=error,
            capsize=4 if error is not None else 0,
        )
    axes.set_xticks(
        [i + 0.4 - width / 2 for i in range(len(categories))], categories, rotation=30, ha="right"
    )


def _draw_lines(
    axes: plt.Axes, frame: pd.DataFrame, card: Card, series: list[tuple[str, pd.DataFrame, str]]
) -> None:
    for index, (label, rows, column) in enumerate(series):
        axes.plot(
            rows[card.chart.x],
            rows[column],
            marker="o",
            markersize=3,
            label=label,
            color=PALETTE[index % len(PALETTE)],
        )


def _draw_heatmap(figure: Figure, axes: plt.Axes, frame: pd.DataFrame, card: Card) -> None:
    chart = card.chart
    matrix = heatmap_matrix(frame, card)
    image = axes.imshow(matrix.to_numpy(dtype=float), aspect="auto", cmap="Blues", vmin=0)
    axes.set_xticks(range(len(matrix.columns)), [str(c) for c in matrix.columns])
    axes.set_yticks(range(len(matrix.index)), [str(i) for i in matrix.index], fontsize=7)
    axes.set_xlabel(column_label(chart.x))
    axes.set_ylabel(column_label(chart.y))
    figure.colorbar(image, ax=axes, label=column_label(chart.z))


def _draw_table(axes: plt.Axes, frame: pd.DataFrame) -> None:
    """The first 15 rows as a table: a PNG is a glance, the page holds the rest."""
    shown = frame.head(15)
    cells = {column: _formatted(shown[column]) for column in shown.columns}
    axes.axis("off")
    table = axes.table(
        cellText=[[cells[column][row] for column in shown.columns] for row in range(len(shown))],
        colLabels=[column_label(column) for column in shown.columns],
        loc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(7)


def _save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def write_interval_png(frame: pd.DataFrame, title: str, path: Path) -> Path:
    """Point estimates with their intervals (columns metric, effect, lower, upper) as a PNG."""
    figure, axes = plt.subplots(figsize=(8, max(2.5, 0.6 * len(frame) + 1.5)), dpi=110)
    positions = range(len(frame))
    axes.errorbar(
        frame["effect"],
        list(positions),
        xerr=[frame["effect"] - frame["lower"], frame["upper"] - frame["effect"]],
        fmt="o",
        color=PALETTE[0],
        capsize=4,
    )
    axes.axvline(0, color="#888", linestyle="--")
    axes.set_yticks(list(positions), frame["metric"].tolist())
    axes.set_title(title)
    return _save(figure, path)
