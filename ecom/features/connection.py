"""Where Feast's stores connect, so `feast -c feature_repo ...` works without a preparatory step.

Feast reads `feature_store.yaml` with `os.path.expandvars` and nothing else: a `${VAR}` nobody
exported stays in the text, and pydantic then fails with "unable to parse string as an integer:
${ECOM_PG_PORT}". So the YAML names no connection at all. The offline store, the online store
and the SQL registry each take theirs from here: `ECOM_DATABASE_URL` / `ECOM_REDIS_URL` when
set, else the embedded servers recorded under `ECOM_HOME` if they are running. Nothing is
started from a config file; with neither, `ConnectionNotConfigured` says which command fixes it.

The registry is Feast's SQL registry, whose `path` goes straight to SQLAlchemy's
`create_engine`; Feast offers no hook of its own there, so the URL is filled in by a SQLAlchemy
engine plugin (`plugins: [ecom]` in the YAML). It is registered when this module is imported,
which Feast does (through the store configs the YAML names) while it reads the YAML, before it
builds the registry's engine; a package entry point would do the same but only after every
existing venv was reinstalled.

In-process, none of that is used: `repo_config` writes the given connections into the config
Feast builds the store from, so a store never depends on what the environment says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml
from sqlalchemy.dialects import plugins
from sqlalchemy.engine import URL, CreateEnginePlugin, make_url

from ecom.config import PostgresParts, RedisParts, Settings
from ecom.services import services_status

FIX = 'eval "$(ecom services env)"'


class ConnectionNotConfigured(click.ClickException):
    """No URL is configured for a service and no embedded one is running.

    A `click.ClickException` on purpose: pydantic lets it through Feast's config validation
    unchanged, and click-based commands (`feast`, `dbt`, `ecom`) print it as one `Error:` line
    with exit code 1 instead of a traceback. To any other caller it is an ordinary exception.
    """


def _running_url(service: str, variable: str) -> str:
    """`variable`'s URL, else the recorded embedded server's if it answers."""
    settings = Settings()  # not the cached one: the caller may have exported other URLs since
    for status in services_status(settings):
        if status.name == service and status.running and status.url:
            return status.url
    raise ConnectionNotConfigured(
        f"no {service} to connect to: {variable} is not set and the embedded {service} under "
        f"{settings.resolved_home} is not running. Start it and export its connection "
        f"with:  {FIX}"
    )


def database_url() -> str:
    return _running_url("postgres", "ECOM_DATABASE_URL")


def redis_url() -> str:
    return _running_url("redis", "ECOM_REDIS_URL")


def fill_postgres_fields(values: Any) -> Any:
    """Feast's PostgreSQL config fields (host, port, database, user, password, sslmode) from
    the project's database, for each one the YAML leaves out."""
    if not isinstance(values, dict) or all(
        key in values for key in ("host", "database", "user", "password")
    ):
        return values
    return {**postgres_fields(database_url()), **values}


def postgres_fields(url: str) -> dict[str, Any]:
    """Feast's PostgreSQL config fields for the database at `url`."""
    pg = PostgresParts(url)
    return {
        "host": pg.host,
        "port": pg.port,
        "database": pg.dbname,
        "user": pg.user,
        "password": pg.password,
        "sslmode": pg.sslmode,
    }


def fill_redis_connection(values: Any) -> Any:
    """Feast's Redis `connection_string` from the project's Redis, unless the YAML gives one."""
    if not isinstance(values, dict) or "connection_string" in values:
        return values
    return {**values, "connection_string": RedisParts(redis_url()).feast_connection_string}


class DatabaseUrlPlugin(CreateEnginePlugin):
    """SQLAlchemy engine plugin that points an engine at the project's database.

    Feast's SQL registry passes `registry.path` and `sqlalchemy_config_kwargs` to
    `create_engine`; with `plugins: [ecom]` there, the URL in `path` is a placeholder
    (`postgresql+psycopg://`) and this plugin replaces it.
    """

    def update_url(self, url: URL) -> URL:
        return make_url(PostgresParts(database_url()).sqlalchemy_url())


plugins.register("ecom", __name__, "DatabaseUrlPlugin")


def repo_config(repo_path: Path, database_url: str, redis_url: str):
    """`repo_path`'s `feature_store.yaml` as a Feast `RepoConfig` with these connections
    written in: the registry's URL (so its engine needs no plugin), the offline store's fields
    and the online store's connection string. The YAML's own fields still win."""
    from feast.repo_config import RepoConfig

    raw = yaml.safe_load((Path(repo_path) / "feature_store.yaml").read_text())
    registry = dict(raw["registry"])
    engine_options = dict(registry.get("sqlalchemy_config_kwargs", {}))
    engine_options.pop("plugins", None)
    registry.update(
        path=PostgresParts(database_url).sqlalchemy_url(), sqlalchemy_config_kwargs=engine_options
    )
    redis = {"connection_string": RedisParts(redis_url).feast_connection_string}
    config = RepoConfig(
        **{
            **raw,
            "registry": registry,
            "offline_store": {**postgres_fields(database_url), **raw["offline_store"]},
            "online_store": {**redis, **raw["online_store"]},
        }
    )
    config.repo_path = Path(repo_path)
    return config
