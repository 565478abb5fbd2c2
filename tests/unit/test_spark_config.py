"""The Spark engine's settings and session configuration (no JVM needed)."""

from __future__ import annotations

import sys

import pytest
from pydantic import ValidationError

from ecom.config import Settings
from ecom.spark.session import session_config


def test_the_engine_defaults_to_postgres_and_refuses_an_unknown_one(monkeypatch):
    monkeypatch.delenv("ECOM_ENGINE", raising=False)
    assert Settings(_env_file=None).engine == "postgres"
    monkeypatch.setenv("ECOM_ENGINE", "spark")
    assert Settings(_env_file=None).engine == "spark"
    monkeypatch.setenv("ECOM_ENGINE", "oracle")
    with pytest.raises(ValidationError, match="ECOM_ENGINE"):
        Settings(_env_file=None)


def test_the_session_keeps_its_files_under_the_spark_dir_in_utc_without_a_ui(tmp_path):
    settings = Settings(_env_file=None).with_overrides(home=tmp_path / "home")
    config = session_config(settings, shuffle_partitions=3)
    spark_dir = tmp_path / "home" / "spark"
    assert config["spark.master"] == "local[2]"
    assert config["spark.ui.enabled"] == "false"
    assert config["spark.sql.session.timeZone"] == "UTC"
    assert config["spark.sql.warehouse.dir"] == str(spark_dir / "warehouse")
    assert config["spark.local.dir"] == str(spark_dir / "scratch")
    assert (
        f"-Dderby.system.home={spark_dir / 'metastore'}" in config["spark.driver.extraJavaOptions"]
    )
    assert config["spark.sql.shuffle.partitions"] == "3"
    assert config["spark.pyspark.python"] == sys.executable

    elsewhere = settings.with_overrides(spark_dir=tmp_path / "other", spark_master="spark://h:7077")
    config = session_config(elsewhere)
    assert config["spark.master"] == "spark://h:7077"
    assert config["spark.sql.warehouse.dir"] == str(tmp_path / "other" / "warehouse")
    assert config["spark.sql.session.timeZone"] == "UTC"


def test_extra_java_options_reach_the_driver_and_the_executors_after_the_projects(tmp_path):
    from ecom.spark.session import SHORT_LIVED_JVM_OPTIONS

    plain = session_config(Settings(_env_file=None).with_overrides(home=tmp_path))
    assert "TieredStopAtLevel" not in plain["spark.driver.extraJavaOptions"]
    settings = Settings(_env_file=None).with_overrides(
        home=tmp_path, spark_java_options=SHORT_LIVED_JVM_OPTIONS
    )
    config = session_config(settings)
    for key in ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"):
        assert config[key] == f"{plain[key]} {SHORT_LIVED_JVM_OPTIONS}"


def test_the_thrift_server_keeps_its_files_under_its_folder_and_listens_on_loopback(tmp_path):
    from ecom.spark.thrift import THRIFT_SERVER_CLASS, thrift_server_arguments

    settings = Settings(_env_file=None).with_overrides(
        home=tmp_path / "home", spark_java_options="-XX:+UseSerialGC"
    )
    base = tmp_path / "thrift"
    arguments = thrift_server_arguments(settings, base, "spark://127.0.0.1:7077", 4321, 2)
    assert arguments[:3] == ["org.apache.spark.deploy.SparkSubmit", "--class", THRIFT_SERVER_CLASS]
    assert arguments[arguments.index("--master") + 1] == "spark://127.0.0.1:7077"
    internal = arguments.index("spark-internal")
    confs = dict(
        arguments[index + 1].split("=", 1)
        for index in range(internal)
        if arguments[index] == "--conf"
    )
    hive = dict(
        arguments[index + 1].split("=", 1)
        for index in range(internal, len(arguments))
        if arguments[index] == "--hiveconf"
    )
    # Its own warehouse and metastore (Derby: one process each), never the session's.
    assert confs["spark.sql.warehouse.dir"] == str(base / "warehouse")
    assert f"-Dderby.system.home={base / 'metastore'}" in confs["spark.driver.extraJavaOptions"]
    # Hive's per-session local folders default to java.io.tmpdir.
    assert f"-Djava.io.tmpdir={base / 'scratch'}" in confs["spark.driver.extraJavaOptions"]
    assert "-XX:+UseSerialGC" in confs["spark.executor.extraJavaOptions"]
    assert confs["spark.ui.enabled"] == "false"
    assert confs["spark.sql.session.timeZone"] == "UTC"
    assert confs["spark.sql.shuffle.partitions"] == "2"
    assert hive["hive.server2.thrift.port"] == "4321"
    assert hive["hive.server2.thrift.bind.host"] == "127.0.0.1"
    assert all(value.startswith(str(base)) for key, value in hive.items() if "dir" in key)
