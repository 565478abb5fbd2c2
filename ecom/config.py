"""The one place that reads the environment.

Every other module takes a `Settings` (or values derived from it) as an argument, so the
same code runs against the embedded services, docker compose or any real server.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def project_root() -> Path:
    """The checkout this package lives in (where `pyproject.toml` is), else the working directory.

    Defaults are anchored here rather than at the working directory so that `cd dbt && dbt build`
    and `ecom ...` from the project root agree on where the embedded services live.
    """
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


class Settings(BaseSettings):
    """Connection values and tunables, from the environment or a `.env` file."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str | None = Field(default=None, validation_alias="ECOM_DATABASE_URL")
    redis_url: str | None = Field(default=None, validation_alias="ECOM_REDIS_URL")
    mlflow_tracking_uri: str | None = Field(default=None, validation_alias="MLFLOW_TRACKING_URI")
    home: Path = Field(
        default_factory=lambda: project_root() / ".ecom", validation_alias="ECOM_HOME"
    )
    # The one default folder for TheLook CSVs: `make demo`, `ecom load`, `ecom pipeline` and the
    # Prefect deployments all read (or generate into) it unless told otherwise.
    data_dir: Path = Field(
        default_factory=lambda: project_root() / "data" / "thelook",
        validation_alias="ECOM_DATA_DIR",
    )

    # The engine the data stages run on: PostgreSQL (default) or Apache Spark (ecom/spark/),
    # where raw tables, dbt's models and batch scoring run; scores still reach PostgreSQL.
    engine: Literal["postgres", "spark"] = Field(default="postgres", validation_alias="ECOM_ENGINE")
    # Spark's master (`local[2]`, or `spark://host:7077` for a standalone cluster) and the folder
    # for its warehouse, Hive metastore (Derby) and scratch files; unset: $ECOM_HOME/spark.
    spark_master: str = Field(default="local[2]", validation_alias="ECOM_SPARK_MASTER")
    spark_dir: Path | None = Field(default=None, validation_alias="ECOM_SPARK_DIR")
    # Extra JVM flags for the driver and the executors, e.g. ecom.spark.session's
    # SHORT_LIVED_JVM_OPTIONS for a small world whose JVMs live a few minutes (tests, a quick look).
    spark_java_options: str = Field(default="", validation_alias="ECOM_SPARK_JAVA_OPTIONS")

    # Churn windows: features look back 60 days, the label looks 30 days ahead.
    feature_window_days: int = Field(default=60, validation_alias="ECOM_FEATURE_WINDOW_DAYS")
    label_horizon_days: int = Field(default=30, validation_alias="ECOM_LABEL_HORIZON_DAYS")
    # The data clock's scoring date when the data cannot say it (int_data_clock): rows on or
    # after it are rows after the clock. Unset: the day after the last order or session.
    data_as_of: date | None = Field(default=None, validation_alias="ECOM_DATA_AS_OF")

    # Retention targeting economics (expected value = p * ltv * win_back - cost).
    customer_ltv: float = Field(default=150.0, validation_alias="ECOM_CUSTOMER_LTV")
    win_back_rate: float = Field(default=0.30, validation_alias="ECOM_WIN_BACK_RATE")
    contact_cost: float = Field(default=10.0, validation_alias="ECOM_CONTACT_COST")
    retention_target_count: int = Field(default=500, validation_alias="ECOM_RETENTION_TARGETS")

    # The champion gate: a challenger takes the alias only when the lower bound of the paired,
    # user-clustered bootstrap interval of its AUC gain clears this margin, and its Brier score
    # is not worse than the champion's by more than the allowance.
    champion_min_auc_gain: float = Field(default=0.0, validation_alias="ECOM_CHAMPION_MIN_AUC_GAIN")
    champion_max_brier_increase: float = Field(
        default=0.002, validation_alias="ECOM_CHAMPION_MAX_BRIER_INCREASE"
    )
    gate_bootstrap_samples: int = Field(
        default=1000, validation_alias="ECOM_GATE_BOOTSTRAP_SAMPLES"
    )
    gate_confidence: float = Field(default=0.95, validation_alias="ECOM_GATE_CONFIDENCE")

    # Drift: `ecom drift` fails when more than the threshold's share of the features drifted.
    # The threshold is calibrated on the data's own history (ecom/monitoring/drift_history.py):
    # the `drift_history_quantile` of the shares drifted between historical cutoffs and their
    # windows at the live check's lag, plus `drift_history_margin`, never under
    # `drift_share_floor`. A feature counts as drifted only when its distance passes its own bar
    # (`drift_column_margin` below) and a two-sample test confirms it
    # (ecom/monitoring/column_drift.py). Against the champion's test rows, worlds without
    # planted drift move 0-4 of 20 features (default world, June: 8k users, seeds 6-7: 0 and
    # 0; December 2026, 20k users, seed 42: 0, and 4 with the planted campaign; TheLook's
    # process, 3k users, seeds 5 and 7: 0), eight planted weeks move 5-7 (seed 5, June: 7 at
    # 16k users, 5 at 20k; seed 42, December, with the campaign: 5 at 100k); the features'
    # bars absorb the history, so its shares sit at 0.00-0.03. The floor, 0.2 (an alarm at 5 of
    # 20), sits between. `python benchmarks/drift_power.py --help` reproduces each figure.
    # ECOM_DRIFT_SHARE_THRESHOLD sets a fixed threshold instead (no calibration).
    drift_share_threshold: float | None = Field(
        default=None, validation_alias="ECOM_DRIFT_SHARE_THRESHOLD"
    )
    drift_share_floor: float = Field(default=0.2, validation_alias="ECOM_DRIFT_SHARE_FLOOR")
    # A column counts as drifted only when its two-sample test (KS, chi-square) is significant
    # at this level as well as its distance over 0.1 (ecom/monitoring/column_drift.py).
    drift_column_significance: float = Field(
        default=0.01, gt=0.0, lt=1.0, validation_alias="ECOM_DRIFT_COLUMN_SIGNIFICANCE"
    )
    drift_history_quantile: float = Field(
        default=0.95, validation_alias="ECOM_DRIFT_HISTORY_QUANTILE"
    )
    drift_history_margin: float = Field(default=0.1, validation_alias="ECOM_DRIFT_HISTORY_MARGIN")
    # Each feature also has its own distance bar: the `drift_history_quantile` of its distances
    # over the same-lag and same-season analogs plus this margin, never under 0.1
    # (ecom/monitoring/drift_history.py says why: correlated features move together).
    drift_column_margin: float = Field(default=0.05, validation_alias="ECOM_DRIFT_COLUMN_MARGIN")

    # Where runs write: the drift report and summary, the experiment analysis, the generated
    # model card, ab_test_design.md and decision_memo.md. All under reports/ (ignored by git),
    # so a run never rewrites the committed examples in docs/: `make docs` does, on purpose.
    reports_dir: Path = Field(
        default_factory=lambda: project_root() / "reports", validation_alias="ECOM_REPORTS_DIR"
    )
    model_card_path: Path = Field(
        default_factory=lambda: project_root() / "reports" / "model_card.md",
        validation_alias="ECOM_MODEL_CARD",
    )
    docs_dir: Path = Field(
        default_factory=lambda: project_root() / "reports", validation_alias="ECOM_DOCS_DIR"
    )

    # The churn service: an API key required in `X-API-Key` when set, the largest
    # /predict_batch, and how often it checks the champion alias and the scoring snapshot.
    api_key: str | None = Field(default=None, validation_alias="ECOM_API_KEY")
    serving_max_batch: int = Field(default=1000, validation_alias="ECOM_SERVING_MAX_BATCH")
    serving_refresh_seconds: float = Field(
        default=30.0, validation_alias="ECOM_SERVING_REFRESH_SECONDS"
    )

    # Where a failed quality-gate or drift run is reported: a webhook (Slack's incoming webhook
    # or any endpoint taking a JSON POST). Kept secret in Prefect's notification block.
    alert_webhook_url: str | None = Field(default=None, validation_alias="ECOM_ALERT_WEBHOOK_URL")

    def with_overrides(self, **fields: object) -> Settings:
        """A copy with fields replaced by name (init kwargs only take the ECOM_* aliases,
        and matching env vars by field name would pick up HOME or DATABASE_URL by accident)."""
        return self.model_copy(update=fields)

    def data_folder(self, override: Path | str | None = None) -> Path:
        """The folder a command was given (`--data`, a flow's `data_dir`), else `data_dir`."""
        return Path(override) if override else self.data_dir

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.resolved_home / 'mlflow.db'}"

    @property
    def resolved_spark_dir(self) -> Path:
        return (self.spark_dir or self.resolved_home / "spark").expanduser().resolve()

    @property
    def artifact_root(self) -> Path:
        return self.resolved_home / "mlartifacts"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


class PostgresParts:
    """A libpq URL split into the fields that dbt profiles and Feast's YAML want one by one."""

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        self.url = url
        self.user = unquote(parsed.username or "postgres")
        self.password = unquote(parsed.password or "")
        # pgserver listens on a unix socket only; libpq takes its directory as the host.
        self.host = query.get("host") or parsed.hostname or "127.0.0.1"
        self.port = int(query.get("port") or parsed.port or 5432)
        self.dbname = (parsed.path or "/postgres").lstrip("/") or "postgres"
        self.sslmode = query.get("sslmode", "disable" if self.is_local else "prefer")

    @property
    def is_local(self) -> bool:
        return self.host.startswith("/") or self.host in {"127.0.0.1", "localhost", "::1"}

    def dsn(self, dbname: str | None = None) -> str:
        """A keyword DSN for psycopg2 that works for sockets and TCP alike."""
        parts = {
            "host": self.host,
            "port": str(self.port),
            "user": self.user,
            "dbname": dbname or self.dbname,
            "sslmode": self.sslmode,
            "options": "-c timezone=UTC",  # set in the startup packet: no extra round trip
        }
        if self.password:
            parts["password"] = self.password
        return " ".join(f"{key}='{value}'" for key, value in parts.items())

    def sqlalchemy_url(self, driver: str = "psycopg") -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        if self.host.startswith("/"):
            return f"postgresql+{driver}://{auth}@/{self.dbname}?host={self.host}&port={self.port}"
        return f"postgresql+{driver}://{auth}@{self.host}:{self.port}/{self.dbname}?sslmode={self.sslmode}"

    def with_database(self, dbname: str) -> PostgresParts:
        parsed = urlparse(self.url)
        return PostgresParts(parsed._replace(path=f"/{dbname}").geturl())


class RedisParts:
    """A redis:// URL split into what Feast's `connection_string` wants."""

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        self.url = url
        self.host = parsed.hostname or "127.0.0.1"
        self.port = int(parsed.port or 6379)
        self.password = unquote(parsed.password or "")
        self.db = int((parsed.path or "/0").lstrip("/") or 0)

    @property
    def feast_connection_string(self) -> str:
        extra = f",password={self.password}" if self.password else ""
        return f"{self.host}:{self.port},db={self.db}{extra}"


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***`, for logs and status tables.

    Connection URLs carry credentials; anything a person or a log collector reads gets this
    form, and only `ecom services env` (whose output is meant for `eval`) prints the real one.
    """
    parsed = urlparse(url)
    if not parsed.password:
        return url
    user = parsed.username or ""
    host = parsed.netloc.rpartition("@")[2]
    return parsed._replace(netloc=f"{user}:***@{host}").geturl()


def connection_env(database_url: str, redis_url: str, settings: Settings) -> dict[str, str]:
    """The variables the project's tools read: the URLs (Feast's config classes take them from
    there) and their parts for `dbt/profiles.yml`, which can only substitute plain variables
    (it parses the URL too, but cannot undo %-escapes in a user or password)."""
    pg = PostgresParts(database_url)
    return {
        "ECOM_DATABASE_URL": database_url,
        "ECOM_REDIS_URL": redis_url,
        "ECOM_HOME": str(settings.resolved_home),
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "ECOM_PG_HOST": pg.host,
        "ECOM_PG_PORT": str(pg.port),
        "ECOM_PG_USER": pg.user,
        "ECOM_PG_PASSWORD": pg.password,
        "ECOM_PG_DATABASE": pg.dbname,
        "ECOM_PG_SSLMODE": pg.sslmode,
    }


def libpq_env(database_url: str) -> dict[str, str]:
    """The PG* variables, so plain `psql` in a shell reaches the project's server.

    Only for a shell's export: inside the process every client gets its connection explicitly,
    and PG* defaults there would silently fill in whatever a DSN leaves out.
    """
    pg = PostgresParts(database_url)
    env = {
        "PGHOST": pg.host,
        "PGPORT": str(pg.port),
        "PGUSER": pg.user,
        "PGDATABASE": pg.dbname,
        "PGSSLMODE": pg.sslmode,
    }
    if pg.password:
        env["PGPASSWORD"] = pg.password
    return env


@contextlib.contextmanager
def temporary_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Export `values` for the length of the block, then put back what was there before.

    dbt and Feast read their connection from the process environment; a run (or a test
    session) must not leave its database's variables behind for whatever runs next.
    """
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
