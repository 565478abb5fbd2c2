"""The dashboards as data: one YAML file per dashboard in `services/metabase/dashboards/`.

Metabase provisioning and the HTML report both read these files, so a card's SQL is written
once and both show the same numbers. A malformed file fails with its path and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from ecom.config import project_root
from ecom.db import connect

DASHBOARDS_DIR = project_root() / "services" / "metabase" / "dashboards"
DASHBOARD_ORDER = ("funnel", "retention", "churn_risk", "targeting", "experiments")

ChartKind = Literal["funnel", "bar", "line", "heatmap", "table"]


class Chart(BaseModel):
    """How a card is drawn: the kind and which result columns go where."""

    kind: ChartKind
    x: str | None = None
    y: str | list[str] | None = None
    z: str | None = None
    color: str | None = None
    # A bar chart's interval: the columns holding each bar's lower and upper bound, drawn as
    # error bars in the report (Metabase, which draws none, shows them as bars beside it).
    low: str | None = None
    high: str | None = None

    @model_validator(mode="after")
    def _interval_on_one_bar(self) -> Chart:
        if (self.low is None) != (self.high is None):
            raise ValueError("an interval needs both `low` and `high`")
        if self.low is not None and (self.kind != "bar" or len(self.y_columns) != 1):
            raise ValueError("`low`/`high` draw an interval on a bar chart with one `y`")
        return self

    @property
    def interval(self) -> tuple[str, str] | None:
        return (self.low, self.high) if self.low and self.high else None

    @property
    def y_columns(self) -> list[str]:
        if self.y is None:
            return []
        return [self.y] if isinstance(self.y, str) else list(self.y)


class Layout(BaseModel):
    """Position on Metabase's 24-column dashboard grid."""

    col: int = Field(ge=0, lt=24)
    row: int = Field(ge=0)
    width: int = Field(gt=0, le=24)
    height: int = Field(gt=0)


class Parameter(BaseModel):
    """A question variable: `{{name}}` in the card's SQL, a filter in Metabase; the report runs
    the card with the default."""

    name: str = Field(pattern=r"^[a-z_]+$")
    display_name: str
    type: Literal["number", "text"]
    default: str

    def literal(self) -> str:
        """The default as Metabase substitutes it: a number as is, text quoted."""
        if self.type == "number":
            float(self.default)  # a number, or ValueError before it reaches SQL
            return self.default
        return "'" + self.default.replace("'", "''") + "'"


class Card(BaseModel):
    key: str
    name: str
    description: str
    sql: str
    chart: Chart
    layout: Layout
    parameters: list[Parameter] = []

    def default_sql(self) -> str:
        """The SQL with every parameter at its default, as the report runs it."""
        query = self.sql
        for parameter in self.parameters:
            query = query.replace("{{" + parameter.name + "}}", parameter.literal())
        return query


class Dashboard(BaseModel):
    slug: str = ""
    name: str
    description: str
    cards: list[Card]


class DashboardFileError(ValueError):
    """A dashboard file that does not parse or lacks a field; the message names both."""


def load_dashboard(path: Path) -> Dashboard:
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise DashboardFileError(f"{path}: not valid YAML: {error}") from error
    try:
        dashboard = Dashboard.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}"
            for issue in error.errors()
        )
        raise DashboardFileError(f"{path}: {problems}") from error
    keys = [card.key for card in dashboard.cards]
    if len(set(keys)) != len(keys):
        raise DashboardFileError(f"{path}: card keys repeat: {keys}")
    return dashboard.model_copy(update={"slug": path.stem})


def load_dashboards(directory: Path = DASHBOARDS_DIR) -> list[Dashboard]:
    """The dashboards in DASHBOARD_ORDER (the order data flows), then any others by name."""
    paths = {path.stem: path for path in sorted(Path(directory).glob("*.yml"))}
    missing = [slug for slug in DASHBOARD_ORDER if slug not in paths]
    if missing:
        raise DashboardFileError(f"{directory}: no dashboard file for {', '.join(missing)}")
    ordered = [*DASHBOARD_ORDER, *sorted(set(paths) - set(DASHBOARD_ORDER))]
    return [load_dashboard(paths[slug]) for slug in ordered]


def run_card(database_url: str, card: Card) -> pd.DataFrame:
    """The card's result as a frame (the same SQL Metabase runs as a native question)."""
    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(card.default_sql())
            columns = [column.name for column in cursor.description]
            return pd.DataFrame(cursor.fetchall(), columns=columns)
    finally:
        connection.close()
