"""What every command group shares: the console, the runtime and the way a command fails."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from ecom.config import Settings
from ecom.library_warnings import ignore_library_warnings
from ecom.runtime import start_runtime
from ecom.services import Endpoints

console = Console()


def quiet_libraries() -> None:
    """What a demo's output should not carry: other packages' deprecation warnings and
    MLflow's tqdm "Downloading artifacts" bars (one per artifact read back from a run)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    ignore_library_warnings()


def plain_output_when_piped() -> None:
    """Strip ANSI colour codes from what goes to a file or a pipe. Feast prints its
    materialize progress with colorama's codes whatever the output is; rich already writes
    plain text when the output is not a terminal."""
    if not sys.stdout.isatty():
        import colorama

        colorama.init(strip=True, convert=False)


def command_group(help: str, **settings: object) -> typer.Typer:
    """A Typer app as every `ecom` group is made: bare `ecom GROUP` shows its help, and help is
    click's plain layout. Typer's rich layout puts a `<bool>` type beside every flag (even
    `--help`), as if it took a value; the plain one shows `--purge / --no-purge` alone and still
    names the type of options that take one (`--users <int>`)."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None, **settings)


def runtime() -> tuple[Settings, Endpoints]:
    """Settings plus running services: the command's process edge (`ecom.runtime`)."""
    return start_runtime()


def fail(message: str) -> typer.Exit:
    """Print `message` as an error and return the exit to raise (code 1)."""
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # paths stay whole
    return typer.Exit(code=1)


@contextmanager
def failing_on(*errors: type[Exception]) -> Iterator[None]:
    """Turn the `errors` a command expects (bad input, a missing model, a refused load) into
    its failure: the error's own message and exit code 1, no traceback. One place, so every
    command fails the same way."""
    try:
        yield
    except errors as error:
        raise fail(str(error)) from error
