"""The reliability suite's figures: every test records what it injected and what survived, and a
complete, green run of the suite writes them to benchmarks/results/reliability.md (the README's
reliability section links there), so the published numbers are the suite's own."""

from __future__ import annotations

import datetime as dt
import platform
from collections import defaultdict
from pathlib import Path

import pytest

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "reliability.md"
_figures: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
_outcomes: dict[str, str] = {}


class Figures:
    """Counters for one area of the report (e.g. "bad input": inputs tried, loaded, refused)."""

    def __init__(self, area: str) -> None:
        self.area = area

    def add(self, name: str, count: int = 1) -> None:
        _figures[self.area][name] += count


@pytest.fixture
def figures(request) -> Figures:
    first_paragraph = " ".join(request.node.module.__doc__.strip().split("\n\n")[0].split())
    return Figures(first_paragraph.rstrip("."))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/reliability/" in report.nodeid and report.when == "call":
        _outcomes[report.nodeid] = report.outcome


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    collected = [item.nodeid for item in session.items if "tests/reliability/" in item.nodeid]
    everything_here = {
        str(path.relative_to(RESULTS.parents[2]))
        for path in Path(__file__).parent.glob("test_*.py")
    }
    ran_files = {nodeid.split("::")[0] for nodeid in collected}
    complete = ran_files == everything_here and session.config.option.keyword == ""
    if not collected or not complete or any(_outcomes.get(n) != "passed" for n in collected):
        return
    lines = [
        "# Reliability: faults injected and survived",
        "",
        f"Written by `make test` (the `tests/reliability/` suite, {len(collected)} tests, all "
        f"passed) on {dt.date.today():%Y-%m-%d}, {platform.machine()}, Python "
        f"{platform.python_version()}. Every figure is counted by the test that caused it.",
        "",
    ]
    for area, counters in sorted(_figures.items()):
        lines += [f"## {area}", "", "| what | count |", "|---|---:|"]
        lines += [f"| {name} | {count:,} |" for name, count in counters.items()]
        lines.append("")
    RESULTS.write_text("\n".join(lines))
