"""Deprecation warnings other packages raise about themselves, which no user of this project can
act on: filtered by the module that raises them, so the project's own warnings (and any new
library's) still show."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

LIBRARY_WARNINGS = (
    r"evidently\.",  # numpy.core use in evidently.legacy.tests.utils
    r".*[/\\]evidently[/\\]",  # invalid escape sequences, warned as its source compiles
    r"litestar\.",  # LitestarDeprecationWarning, raised inside litestar itself
)


def ignore_library_warnings() -> None:
    """Put the filters at the front of the process's warning filters."""
    for module in LIBRARY_WARNINGS:
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)


@contextmanager
def library_warnings_ignored() -> Iterator[None]:
    """The filters again, for the block that imports Evidently.

    Filters set once at start-up do not last: importing `feast.feature_view` runs
    `warnings.simplefilter("once", DeprecationWarning)`, which goes in front of every filter set
    before it, so in `ecom pipeline` (Feast imported by the features stage) Evidently's and
    litestar's warnings printed again in the monitor stage."""
    with warnings.catch_warnings():
        ignore_library_warnings()
        yield
