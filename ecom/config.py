"""The one place that reads the environment.

Every other module takes a `Settings` (or values derived from it) as an argument, so the
same code runs against the embedded services, docker compose or any real server.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
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

    # Churn windows: features look back 60 days, the label looks 30 days ahead.
    feature_window_days: int = Field(default=60, validation_alias="ECOM_FEATURE_WINDOW_DAYS")
    label_horizon_days: int = Field(default=30, validation_alias="ECOM_LABEL_HORIZON_DAYS")

    # Retention targeting economics (expected value = p * ltv * win_back - cost).
    customer_ltv: float = Field(default=150.0, validation_alias="ECOM_CUSTOMER_LTV")
    win_back_rate: float = Field(default=0.30, validation_alias="ECOM_WIN_BACK_RATE")
    contact_cost: float = Field(default=10.0, validation_alias="ECOM_CONTACT_COST")
    retention_target_count: int = Field(default=500, validation_alias="ECOM_RETENTION_TARGETS")

    # The churn service: an API key required in `X-API-Key` when set, the largest
    # /predict_batch, and how often it checks the champion alias and the scoring snapshot.
    api_key: str | None = Field(default=None, validation_alias="ECOM_API_KEY")
    serving_max_batch: int = Field(default=1000, validation_alias="ECOM_SERVING_MAX_BATCH")
    serving_refresh_seconds: float = Field(
        default=30.0, validation_alias="ECOM_SERVING_REFRESH_SECONDS"
    )

    def with_overrides(self, **fields: object) -> Settings:
        """A copy with fields replaced by name (init kwargs only take the ECOM_* aliases,
        and matching env vars by field name would pick up HOME or DATABASE_URL by accident)."""
        return self.model_copy(update=fields)

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.resolved_home / 'mlflow.db'}"

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


def connection_env(database_url: str, redis_url: str, settings: Settings) -> dict[str, str]:
    """The variables that `dbt/profiles.yml` and `feature_repo/feature_store.yaml` read.

    dbt and Feast only substitute plain environment variables, so the URLs are split here once.
    """
    pg = PostgresParts(database_url)
    redis = RedisParts(redis_url)
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
        "ECOM_PG_SQLALCHEMY_URL": pg.sqlalchemy_url(),
        "ECOM_REDIS_CONNECTION": redis.feast_connection_string,
    }


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
