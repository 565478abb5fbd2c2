"""A Spark Thrift server (HiveThriftServer2) on loopback: how dbt reaches a shared cluster.

dbt-spark's session method runs dbt's SQL in the calling process's SparkSession, so dbt must
live in the driver. On a shared cluster dbt is a client instead: it connects to a Thrift server
(Spark's `HiveThriftServer2`, whose jar ships in the pyspark wheel, or Databricks/EMR) and the
server's own driver runs the SQL on the cluster's executors. This starts one such server as its
own process (`spark-class ...deploy.SparkSubmit --class ...HiveThriftServer2 spark-internal`,
what `sbin/start-thriftserver.sh` runs, which the wheel does not ship) with `master` as its
master, the project's session configuration (`ecom.spark.session.session_config`: UTC, UI
off, the JVM options) and its own warehouse, Derby metastore, scratch and logs under a folder
the caller owns. Derby allows one process per metastore, so the server cannot share the
metastore of a session that is running; `ecom.spark.external` registers tables into it.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ecom.config import Settings
from ecom.spark.cluster import daemon_environment, free_port, start_spark_class, stop_process_groups
from ecom.spark.session import session_config, spark_folders

THRIFT_SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ThriftServer:
    """A running server: where it listens and where it keeps its tables."""

    host: str
    port: int
    warehouse: Path
    log_file: Path
    process: subprocess.Popen

    def dbt_environment(self) -> dict[str, str]:
        """The variables dbt/profiles.yml's `spark` target reads to connect here."""
        return {
            "ECOM_SPARK_DBT_METHOD": "thrift",
            "ECOM_SPARK_THRIFT_HOST": self.host,
            "ECOM_SPARK_THRIFT_PORT": str(self.port),
        }


def _answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def thrift_server_arguments(
    settings: Settings, base: Path, master: str, port: int, shuffle_partitions: int | None
) -> list[str]:
    """spark-class's arguments: SparkSubmit's `--conf`s from the project's session configuration
    with the server's folders, then the server's own `--hiveconf`s (port, bind address and
    Hive's scratch folder, which defaults to /tmp/hive)."""
    config = session_config(
        settings.with_overrides(spark_dir=base),
        master=master,
        shuffle_partitions=shuffle_partitions,
    )
    config["spark.app.name"] = "ecom-thrift-server"
    # Hive's local folders (each session's scratch and resources) default to the JVM's
    # java.io.tmpdir, which session_config puts in the server's scratch folder; they must stay
    # per session (a shared folder races: each session's open checks, then creates it).
    hive = {
        "hive.server2.thrift.port": str(port),
        "hive.server2.thrift.bind.host": LOOPBACK,
        "hive.server2.logging.operation.enabled": "false",
        "hive.exec.scratchdir": str(spark_folders(base)["scratch"] / "hive"),
    }
    return [
        "org.apache.spark.deploy.SparkSubmit",
        *("--class", THRIFT_SERVER_CLASS),
        *("--master", master),
        *(part for key, value in config.items() for part in ("--conf", f"{key}={value}")),
        "spark-internal",  # SparkSubmit's name for "the class is in Spark's own jars"
        *(part for key, value in hive.items() for part in ("--hiveconf", f"{key}={value}")),
    ]


@contextlib.contextmanager
def thrift_server(
    settings: Settings,
    base: Path,
    master: str,
    *,
    shuffle_partitions: int | None = None,
    timeout_seconds: float = 180.0,
) -> Iterator[ThriftServer]:
    """Start a HiveThriftServer2 on a free loopback port with `master` (e.g. a standalone
    cluster's URL) and everything it writes under `base`; yield once its port answers; stop it
    (its process group) when the block ends. `settings` gives the JVM options
    (`ECOM_SPARK_JAVA_OPTIONS`) for its driver and executors."""
    for folder in spark_folders(base).values():
        folder.mkdir(parents=True, exist_ok=True)
    (base / "logs").mkdir(exist_ok=True)
    port = free_port()
    process = start_spark_class(
        "thrift-server",
        thrift_server_arguments(settings, base, master, port, shuffle_partitions),
        base,
        daemon_environment(base, settings.spark_java_options),
    )
    server = ThriftServer(
        host=LOOPBACK,
        port=port,
        warehouse=spark_folders(base)["warehouse"],
        log_file=base / "logs" / "thrift-server.log",
        process=process,
    )
    try:
        deadline = time.monotonic() + timeout_seconds
        while not _answers(LOOPBACK, port):
            if process.poll() is not None or time.monotonic() > deadline:
                why = "exited" if process.poll() is not None else f"not up in {timeout_seconds} s"
                raise RuntimeError(f"Spark Thrift server {why}; log in {server.log_file}")
            time.sleep(0.5)
        yield server
    finally:
        stop_process_groups([process])
