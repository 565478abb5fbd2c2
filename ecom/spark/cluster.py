"""A Spark standalone cluster on loopback: one master and N workers, each its own process.

A local[N] session runs the driver and the executors in one JVM, so code that silently relies on
one process (a closure reaching driver state, a file only the driver wrote) passes there and
fails on a real cluster. The tests and `benchmarks/bench_spark.py` run against this instead:
the master and workers are pyspark's own classes (`spark-class ...deploy.master.Master` and
`...deploy.worker.Worker`), on free ports of 127.0.0.1, with their logs and scratch folders in
a folder the caller owns, and stopped (with the executors they started) when the block ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def pyspark_home() -> Path:
    """The Spark distribution inside the pyspark wheel (its bin/ holds spark-class)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class StandaloneCluster:
    """A running cluster: its master URL, the master's status page, and the processes."""

    master_url: str
    status_url: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    def alive_workers(self) -> int:
        try:
            with urllib.request.urlopen(self.status_url, timeout=5) as answer:
                state = json.load(answer)
        except (urllib.error.URLError, OSError, ValueError):
            return 0
        return sum(1 for worker in state.get("workers", []) if worker.get("state") == "ALIVE")

    def stop(self) -> None:
        """Stop every process this cluster started (each leads its own process group, so the
        executors a worker launched go with it)."""
        stop_process_groups(list(reversed(self.processes)))


def stop_process_groups(processes: list[subprocess.Popen], grace_seconds: float = 20.0) -> None:
    """SIGTERM each process's group (in the given order), then SIGKILL any group still there
    after `grace_seconds`: a Spark daemon's children (executors, a Thrift server's JVM) lead
    no group of their own, so killing the group is what takes them too."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def daemon_environment(base: Path, java_options: str) -> dict[str, str]:
    """The environment of a Spark process started under `base`: loopback, logs and scratch
    files in `base`, this venv's python for python workers."""
    scratch = base / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "SPARK_HOME": str(pyspark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(base / "logs"),
        "SPARK_LOCAL_DIRS": str(scratch),
        "SPARK_DAEMON_JAVA_OPTS": f"-Djava.io.tmpdir={scratch} {java_options}".strip(),
        "PYSPARK_PYTHON": sys.executable,
    }


def start_spark_class(
    name: str, arguments: list[str], base: Path, env: dict[str, str]
) -> subprocess.Popen:
    """`spark-class <arguments>` as the leader of a new process group, its output in
    `base/logs/<name>.log`."""
    log_file = (base / "logs" / f"{name}.log").open("wb")
    try:
        return subprocess.Popen(
            [str(pyspark_home() / "bin" / "spark-class"), *arguments],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    finally:
        log_file.close()  # the child keeps its own descriptor


@contextlib.contextmanager
def standalone_cluster(
    base: Path,
    *,
    workers: int = 2,
    cores_per_worker: int = 1,
    memory_per_worker: str = "1g",
    timeout_seconds: float = 180.0,
    java_options: str = "",
    cores_per_application: int | None = None,
) -> Iterator[StandaloneCluster]:
    """Start a master and `workers` workers under `base`; yield once every worker registered.

    `java_options` go to the master's and workers' JVMs (the executors take the session's
    `spark.executor.extraJavaOptions`): `ecom.spark.session.SHORT_LIVED_JVM_OPTIONS` in tests.
    `cores_per_application` caps the cores an application that sets no `spark.cores.max` gets
    (the master's `spark.deploy.defaultCores`; unset, the first application takes every core
    and a second one, such as a Thrift server beside a session, waits for executors forever)."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "logs").mkdir(exist_ok=True)
    env = daemon_environment(base, java_options)
    if cores_per_application is not None:
        env["SPARK_MASTER_OPTS"] = f"-Dspark.deploy.defaultCores={cores_per_application}"
    master_port, master_ui = free_port(), free_port()
    cluster = StandaloneCluster(
        master_url=f"spark://127.0.0.1:{master_port}",
        status_url=f"http://127.0.0.1:{master_ui}/json/",
    )
    try:
        cluster.processes.append(
            start_spark_class(
                "master",
                [
                    "org.apache.spark.deploy.master.Master",
                    *("--host", "127.0.0.1", "--port", str(master_port)),
                    *("--webui-port", str(master_ui)),
                ],
                base,
                env,
            )
        )
        for index in range(1, workers + 1):
            work_dir = base / f"worker-{index}"
            work_dir.mkdir(exist_ok=True)
            cluster.processes.append(
                start_spark_class(
                    f"worker-{index}",
                    [
                        "org.apache.spark.deploy.worker.Worker",
                        *("--host", "127.0.0.1", "--port", str(free_port())),
                        *("--webui-port", str(free_port())),
                        *("--cores", str(cores_per_worker), "--memory", memory_per_worker),
                        *("--work-dir", str(work_dir)),
                        cluster.master_url,
                    ],
                    base,
                    env,
                )
            )
        deadline = time.monotonic() + timeout_seconds
        while cluster.alive_workers() < workers:
            failed = [
                process.args[1] for process in cluster.processes if process.poll() is not None
            ]
            if failed or time.monotonic() > deadline:
                why = f"exited: {failed}" if failed else f"not up after {timeout_seconds:.0f} s"
                raise RuntimeError(f"Spark standalone cluster {why}; logs in {base / 'logs'}")
            time.sleep(0.5)
        yield cluster
    finally:
        cluster.stop()
