"""Each stage's result is said once: the library logs it, and the task's run logger would log
the same line again (every result appeared twice in `make demo`)."""

from __future__ import annotations

import logging

import flows.common  # installs the filter, as every flow module imports it


def test_a_run_logger_line_the_library_just_logged_is_not_repeated(caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("ecom.ingest.load").info("loaded %s rows into 8 raw tables", "71,045")
    logging.getLogger("prefect.task_runs").info("loaded 71,045 rows into 8 raw tables")
    logging.getLogger("prefect.flow_runs").info("loaded 71,045 rows into 8 raw tables")
    logging.getLogger("prefect.task_runs").info("Finished in state Completed()")
    assert [record.getMessage() for record in caplog.records] == [
        "loaded 71,045 rows into 8 raw tables",
        "Finished in state Completed()",
    ]


def test_installing_twice_filters_once():
    flows.common.say_each_result_once()
    flows.common.say_each_result_once()
    for name in flows.common.RUN_LOGGERS:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, flows.common._SaidOnce) for f in filters) == 1
