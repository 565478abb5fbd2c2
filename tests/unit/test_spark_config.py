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
