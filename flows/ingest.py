"""Ingest flow: TheLook CSVs (generated when absent) into the `raw` schema."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.states import Completed, State

from ecom.stages import Generation, generation_notice, load_stage
from flows.common import database_task, start_services


@database_task(name="load-raw-tables")
def load_raw_tables_task(
    settings, endpoints, data_dir: str, users: int, seed: int, campaign: bool = False
):
    logger = get_run_logger()
    report = load_stage(
        settings,
        endpoints,
        data_dir,
        Generation(users, seed, campaign=campaign),
        announce=logger.warning,
    )
    logger.info("loaded %s", report.summary_line())
    return report


@flow(name="ingest")
def ingest_flow(
    data_dir: str | None = None, users: int = 100_000, seed: int = 42, campaign: bool = False
) -> State:
    """Load every TheLook table atomically; a failed load leaves `raw` as it was.

    `data_dir` defaults to Settings.data_dir (ECOM_DATA_DIR, else data/thelook), the folder
    `make demo` and `ecom load` use. Generating instead of loading is logged as a warning in
    the run's logs and named in its final state's message, which is what `prefect deployment
    run ... --watch` and the UI show.
    """
    settings, endpoints = start_services()
    folder = settings.data_folder(data_dir)
    notice = generation_notice(folder, Generation(users, seed, campaign=campaign))
    report = load_raw_tables_task(settings, endpoints, str(folder), users, seed, campaign)
    loaded = f"loaded {report.summary_line()}"
    return Completed(message=f"{notice}; {loaded}" if notice else loaded, data=report)


if __name__ == "__main__":
    ingest_flow()
