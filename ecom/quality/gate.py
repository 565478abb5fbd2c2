"""The Great Expectations gate: raw tables and marts validated by one checkpoint.

The GX project lives in `ECOM_HOME/gx` (a file context, so suites, results and data docs stay
browsable after the run). Each run reuses the datasource and table assets and rewrites the
suites, validation definitions and checkpoint with add-or-update, so re-running is idempotent
and the stored suites always match the code in `ecom.quality.suites`. A table the gate expects
but cannot find is a failure naming the table, not a crash, so `ecom quality` before
`ecom transform` says what is missing.

A partial load is not a failure: a raw table the load had no file for (`ecom.ingest.presence`)
is skipped, and so is every mart built from it (`TableSuite.needs`) and every expectation that
reads it (a foreign key into it); the report lists each skip with its reason. This is also how
`raw.experiment_assignments`, which real exports never have, is never asked for a row.

A loaded retention campaign is also checked for what its uplift estimates rest on
(`ecom.quality.campaign`): a sample-ratio mismatch against its planned share blocks, covariate
imbalance between its arms warns.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from ecom.config import PostgresParts, Settings
from ecom.db import fetch_all
from ecom.ingest.presence import absent_tables
from ecom.quality.campaign import campaign_checks
from ecom.quality.report import (
    ExpectationFailure,
    QualityGateFailed,
    QualityReport,
    SuiteOutcome,
    failures_from_validation,
    merge_examples,
    missing_table_failure,
    needs_examples,
    outcome_from_validation,
)
from ecom.quality.suites import ExpectationSpec, TableSuite, all_suites, row_count_references
from ecom.quality.verdicts import record_verdict
from ecom.services import Endpoints
from ecom.thelook import RAW_SCHEMA

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger(__name__)

__all__ = [
    "QualityGateFailed",
    "QualityReport",
    "gx_project_dir",
    "render_report",
    "run_quality_gate",
]

DATASOURCE_NAME = "ecom_warehouse"
CHECKPOINT_NAME = "ecom_quality_gate"
BATCH_DEFINITION_NAME = "whole_table"
# The checkpoint asks GX for each expectation's verdict and counts but no example rows: an
# example list costs a query of its own per column expectation (`... where not <rule> limit
# 20`), which scans the whole table exactly when the rule holds, as it nearly always does: most
# of the gate's time at 100k users. The blocking failures then get their examples in a second
# pass over those expectations alone (`_with_examples`).
VERDICT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
EXAMPLES_FORMAT = {"result_format": "SUMMARY"}
# The URL goes to GX's uncommitted config_variables.yml, never into great_expectations.yml;
# it also sidesteps GX's PostgresDsn check, which rejects pgserver's unix-socket URL (no host).
CONNECTION_VARIABLE = "ecom_gx_database_url"


def gx_project_dir(settings: Settings) -> Path:
    """Where the GX file context lives (`<ECOM_HOME>/gx`)."""
    return settings.resolved_home / "gx"


def run_quality_gate(
    settings: Settings,
    endpoints: Endpoints,
    *,
    include_marts: bool = True,
    now: datetime | None = None,
    progress: bool = False,
) -> QualityReport:
    """Validate the raw tables (and the marts) and write data docs; never raises on bad data.

    `now` is the wall clock (default: now, UTC). Raw timestamps are judged against the data's
    own clock (`intermediate.int_data_clock`, built with the marts) when the marts are checked,
    else against `now`: rows after it are warnings counted per table and column, rows more
    than `FUTURE_LEAD_DAYS` ahead block. Callers that must stop on failure raise
    `QualityGateFailed(report)` when `report.passed` is false; warnings never fail it.
    `progress` shows a spinner per step on the terminal (about 40 s at 100k users).
    """
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    suites = all_suites(
        now,
        include_marts=include_marts,
        row_counts=_row_counts(endpoints.database_url, row_count_references()),
        data_clock=data_clock(endpoints.database_url) if include_marts else None,
    )
    absent = {f"{RAW_SCHEMA}.{name}" for name in absent_tables(endpoints.database_url)}
    present, missing, skipped = _split_by_presence(endpoints.database_url, suites, absent)
    for entry in skipped:
        log.info("not checked: %s", entry)

    outcomes, failures, data_docs_path = _validate(settings, endpoints, present, progress)
    for suite in missing:
        outcomes.append(SuiteOutcome(suite.name, evaluated=1, failed=1, missing=True))
        failures.append(missing_table_failure(suite.name, suite.missing_hint))
    campaign = campaign_checks(endpoints.database_url) if include_marts else None
    if campaign is not None:  # a loaded campaign must still look randomized (SRM, balance)
        outcomes.append(campaign[0])
        failures.extend(campaign[1])

    order = {suite.name: index for index, suite in enumerate(suites)}
    outcomes.sort(key=lambda outcome: order.get(outcome.table, len(order)))
    failures.sort(key=lambda failure: order.get(failure.table, len(order)))
    report = QualityReport(
        suites=tuple(outcomes),
        failures=tuple(failure for failure in failures if failure.blocks),
        data_docs_path=data_docs_path,
        seconds=time.perf_counter() - started,
        skipped=tuple(skipped),
        warnings=tuple(failure for failure in failures if not failure.blocks),
    )
    record_verdict(endpoints.database_url, report.passed, report.verdict_text())
    (log.info if report.passed else log.warning)("%s", report.summary_line())
    for failure in (*report.failures, *report.warnings):
        log.warning("%s", failure.message)
    return report


def data_clock(database_url: str) -> datetime | None:
    """Where the data's own clock cuts (`int_data_clock.clock_at`), None before dbt built it."""
    exists = fetch_all(
        database_url,
        "select 1 from information_schema.columns where table_schema = 'intermediate' "
        "and table_name = 'int_data_clock' and column_name = 'clock_at'",
    )
    if not exists:
        return None
    rows = fetch_all(database_url, "select clock_at from intermediate.int_data_clock")
    return rows[0][0] if rows and rows[0][0] is not None else None


def _validate(
    settings: Settings, endpoints: Endpoints, present: Sequence[TableSuite], progress: bool
) -> tuple[list[SuiteOutcome], list[ExpectationFailure], Path | None]:
    """Define and run the checkpoint over the tables that exist, and build the data docs."""
    outcomes: list[SuiteOutcome] = []
    failures: list[ExpectationFailure] = []
    with (
        _gx_project_lock(settings),
        _steps(progress) as step,
        warnings.catch_warnings(),
    ):
        # GX 1.x deprecates a table asset's `schema_name` in favour of the datasource's schema,
        # but its Postgres datasource has no schema setting and one gate spans two schemas.
        warnings.filterwarnings("ignore", message="`schema_name` is deprecated")
        step(f"opening the GX project in {gx_project_dir(settings)}")
        context = _open_context(settings)
        step(f"defining suites for {len(present)} tables")
        validations = _define_validations(context, endpoints.database_url, present)
        if validations:
            step(f"validating {len(validations)} tables (checkpoint {CHECKPOINT_NAME})")
            checkpoint_result = _run_checkpoint(context, validations)
            batches = {validation.name: validation.data for validation in validations}
            for suite_name, validation in _validation_results_by_suite(checkpoint_result):
                if any(needs_examples(outcome) for outcome in validation.get("results", [])):
                    step(f"collecting example values of the failures in {suite_name}")
                    validation = _with_examples(batches[suite_name], validation)
                outcomes.append(outcome_from_validation(suite_name, validation))
                failures.extend(failures_from_validation(suite_name, validation))
        else:
            context.build_data_docs()
        data_docs_path = _data_docs_index(context)
    return outcomes, failures, data_docs_path


@contextlib.contextmanager
def _steps(progress: bool) -> Iterator[Callable[[str], None]]:
    """Log each step; with `progress`, also show it with a spinner and elapsed time."""
    if not progress:
        yield lambda text: log.info("%s", text)
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True
    ) as bar:
        task = bar.add_task("quality gate", total=None)

        def step(text: str) -> None:
            log.info("%s", text)
            bar.update(task, description=f"quality gate: {text}")

        yield step


# --------------------------------------------------------------------------- database side


def _split_by_presence(
    database_url: str, suites: Sequence[TableSuite], absent: set[str] = frozenset()
) -> tuple[list[TableSuite], list[TableSuite], list[str]]:
    """Suites to run (without expectations that read an absent table); required suites whose
    table is missing; and the skipped ones, each as "table: why".

    `absent` holds the raw tables (qualified) the last load had no file for.
    """
    names = [suite.name for suite in suites]
    rows = fetch_all(
        database_url,
        "select name from unnest(%s::text[]) as name where to_regclass(name) is not null",
        (names,),
    )
    existing = {row[0] for row in rows}
    present, missing, skipped = [], [], []
    for suite in suites:
        reason = skip_reason(suite, existing, absent)
        if reason:
            skipped.append(f"{suite.name}: {reason}")
        elif suite.name not in existing:
            missing.append(suite)
        else:
            kept = tuple(spec for spec in suite.expectations if not set(spec.needs) & absent)
            present.append(replace(suite, expectations=kept))
    return present, missing, skipped


def skip_reason(suite: TableSuite, existing: set[str], absent: set[str]) -> str | None:
    """Why the gate does not check `suite` (None: it does): its table was absent from the load,
    it is optional and does not exist, or it is built from a table absent from the load."""
    if suite.name in absent:
        return f"absent from the load (no {suite.table}.csv)" + (
            "" if suite.required else "; optional"
        )
    if not suite.required and suite.name not in existing:
        return "absent (optional)"
    needed = [name for name in suite.needs if name in absent]
    if needed:
        return f"empty by design: built from {', '.join(needed)}, absent from the load"
    return None


def _row_counts(database_url: str, tables: Sequence[str]) -> dict[str, int]:
    """Exact row counts of the tables that exist among `tables` (qualified names)."""
    counts = {}
    for table in tables:
        if fetch_all(database_url, "select to_regclass(%s) is not null", (table,))[0][0]:
            # The name comes from the suite definitions in code, never from input.
            counts[table] = int(fetch_all(database_url, f"select count(*) from {table}")[0][0])
    return counts


def _gx_connection_string(database_url: str) -> str:
    """A SQLAlchemy URL for GX; psycopg2 because GX's SQL metrics are tested against it.

    The session runs in UTC whatever the server's default time zone, as every other
    connection of the project does: an expectation adding '30 days' to a timestamptz would
    otherwise be off by an hour across a DST change."""
    url = PostgresParts(database_url).sqlalchemy_url(driver="psycopg2")
    return f"{url}{'&' if '?' in url else '?'}options=-c%20timezone%3DUTC"


# --------------------------------------------------------------------------- GX side


@contextlib.contextmanager
def _gx_project_lock(settings: Settings) -> Iterator[None]:
    """One gate at a time per ECOM_HOME: GX rewrites its YAML and JSON stores without locking."""
    project_dir = gx_project_dir(settings)
    project_dir.mkdir(parents=True, exist_ok=True)
    with open(project_dir.parent / "gx.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _import_gx() -> Any:
    # GX is slow to import (several seconds) and chatty; load it only when the gate runs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations as gx
    # GX logs a line per expectation at INFO, and warns about every PostgreSQL numeric average
    # it turns into a float for its JSON results; keep the pipeline's log readable.
    for name, level in (
        ("great_expectations", logging.WARNING),
        ("great_expectations.util", logging.ERROR),
    ):
        gx_logger = logging.getLogger(name)
        if gx_logger.level == logging.NOTSET:
            gx_logger.setLevel(level)
    return gx


def _open_context(settings: Settings) -> Any:
    gx = _import_gx()
    context = gx.get_context(mode="file", project_root_dir=str(settings.resolved_home))
    variables = context.variables
    # No usage statistics from a local-first tool, and no tqdm bars in the pipeline's logs.
    if variables.analytics_enabled is not False or variables.progress_bars is None:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        variables.analytics_enabled = False
        variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        variables.save()
    return context


def _to_gx_expectation(spec: ExpectationSpec) -> Any:
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    meta = {"column": spec.columns_label} if spec.columns_label else {}
    configuration = ExpectationConfiguration(
        type=spec.type,
        kwargs=dict(spec.kwargs),
        meta=meta,
        description=spec.description,
        severity=spec.severity,
    )
    return configuration.to_domain_obj()


def _warehouse_datasource(context: Any) -> Any:
    """The one Postgres datasource, created once and then reused.

    Reused rather than add-or-updated: an update replaces it with an empty datasource, and the
    stored validation definitions of tables absent from this run (e.g. marts not built yet)
    would then name assets that no longer exist, which GX refuses to load. The URL behind the
    `${...}` variable is saved again on every run, so a reused datasource follows the database.
    """
    if DATASOURCE_NAME in context.data_sources.all():
        return context.data_sources.get(DATASOURCE_NAME)
    return context.data_sources.add_postgres(
        DATASOURCE_NAME, connection_string="${" + CONNECTION_VARIABLE + "}"
    )


def _whole_table_batch(datasource: Any, table_suite: TableSuite) -> Any:
    if table_suite.name in datasource.get_asset_names():
        asset = datasource.get_asset(table_suite.name)
    else:
        asset = datasource.add_table_asset(
            table_suite.name, table_name=table_suite.table, schema_name=table_suite.schema
        )
    if BATCH_DEFINITION_NAME in {definition.name for definition in asset.batch_definitions}:
        return asset.get_batch_definition(BATCH_DEFINITION_NAME)
    return asset.add_batch_definition_whole_table(BATCH_DEFINITION_NAME)


def _define_validations(context: Any, database_url: str, suites: Sequence[TableSuite]) -> list[Any]:
    """One table asset, suite and validation definition per table; suites are rewritten from
    the specs every run, so the stored suites always match the code."""
    gx = _import_gx()
    context.save_config_variable(CONNECTION_VARIABLE, _gx_connection_string(database_url))
    datasource = _warehouse_datasource(context)
    validations = []
    for table_suite in suites:
        batch_definition = _whole_table_batch(datasource, table_suite)
        # Built whole and stored once: `add_expectation` on a stored suite writes it every call.
        suite = context.suites.add_or_update(
            gx.ExpectationSuite(
                name=table_suite.name,
                expectations=[_to_gx_expectation(spec) for spec in table_suite.expectations],
            )
        )
        validations.append(
            context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=table_suite.name, data=batch_definition, suite=suite)
            )
        )
    return validations


def _run_checkpoint(context: Any, validations: list[Any]) -> Any:
    """Run every table's validation in one checkpoint, then render their data docs pages.

    The docs are built once for the whole run rather than by an `UpdateDataDocsAction`, which
    rebuilds the site index once per validation (half the gate's time with eleven tables).
    """
    gx = _import_gx()
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=CHECKPOINT_NAME,
            validation_definitions=validations,
            actions=[],
            result_format=VERDICT_FORMAT,
        )
    )
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    result = checkpoint.run()
    suites = [ExpectationSuiteIdentifier(name=v.suite_name) for v in result.run_results.values()]
    context.build_data_docs(resource_identifiers=[*result.run_results, *suites])
    return result


def _with_examples(batch_definition: Any, validation: dict) -> dict:
    """`validation` (a JSON result of the checkpoint) with example values for each blocking
    failure of a column expectation, from a second validation of those expectations alone.

    The verdicts stay the checkpoint's; only the failed results' `result` gains GX's SUMMARY
    (counts plus up to 20 offending values), which failure messages quote."""
    failed = [outcome for outcome in validation.get("results", []) if needs_examples(outcome)]
    if not failed:
        return validation
    gx = _import_gx()
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    expectations = [
        ExpectationConfiguration(**_configuration_fields(outcome)).to_domain_obj()
        for outcome in failed
    ]
    second = batch_definition.get_batch().validate(
        gx.ExpectationSuite(
            name=f"{validation.get('suite_name')} examples", expectations=expectations
        ),
        result_format=EXAMPLES_FORMAT,
    )
    return merge_examples(validation, second.to_json_dict())


def _configuration_fields(outcome: dict) -> dict[str, Any]:
    config = outcome["expectation_config"]
    kwargs = {key: value for key, value in config["kwargs"].items() if key != "batch_id"}
    return {"type": config["type"], "kwargs": kwargs, "meta": config.get("meta") or {}}


def _validation_results_by_suite(checkpoint_result: Any) -> list[tuple[str, dict]]:
    results = []
    for validation_result in checkpoint_result.run_results.values():
        payload = validation_result.to_json_dict()
        results.append((payload.get("suite_name", "unknown"), payload))
    return results


def _data_docs_index(context: Any) -> Path | None:
    for site in context.get_docs_sites_urls():
        url = site.get("site_url") or ""
        if url.startswith("file://"):
            return Path(unquote(urlparse(url).path))
    return None


# --------------------------------------------------------------------------- terminal


def render_report(report: QualityReport, console: Console) -> None:
    """Print one row per table, then each failure's sentence, then where the data docs are."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="data quality gate (Great Expectations)")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("expectations", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("warnings", justify="right")
    table.add_column("result")
    for suite in report.suites:
        if suite.missing:
            verdict = "[red]missing[/red]"
        elif not suite.passed:
            verdict = "[red]failed[/red]"
        else:
            verdict = "[yellow]passed, warned[/yellow]" if suite.warned else "[green]passed[/green]"
        rows = "" if suite.rows is None else f"{suite.rows:,}"
        table.add_row(
            suite.table, rows, str(suite.evaluated), str(suite.failed), str(suite.warned), verdict
        )
    for entry in report.skipped:
        name, _, reason = entry.partition(": ")
        table.add_row(name, "", "0", "0", "0", f"[dim]skipped: {escape(reason)}[/dim]")
    console.print(table)
    for failure in report.failures:
        console.print(f"[red]✗[/red] {escape(failure.message)}", highlight=False)
    for warning in report.warnings:
        console.print(f"[yellow]![/yellow] {escape(warning.message)}", highlight=False)
    style = ("yellow" if report.warnings else "green") if report.passed else "red"
    console.print(f"[{style}]{report.summary_line()}[/{style}]")
    if report.data_docs_path:
        console.print(f"data docs: {report.data_docs_path}")
