"""`ecom generate --profile thelook`: TheLook's own process, in its own CSV format, with no truth.

20,000 users keep it quick while the shares of ~480k events, ~25k orders and ~16k buyers carry
sampling errors of a few tenths of a point, well inside the 2-point tolerances; the counts of
rows past the clock are a few hundred, so their tolerance (set for 100k users) widens by
sqrt(100k / 20k) (`ecom.synth.figures.COUNTS_NEAR_THE_CLOCK`). The clock's day is fixed: the
orders-per-year ratio depends on where the data ends, and issue 19's figures were measured with
a clock in December 2026.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from pathlib import Path

import pytest

from ecom.monitoring.model_card import _metrics_section
from ecom.synth import generate_dataset
from ecom.synth.figures import COUNTS_NEAR_THE_CLOCK, THELOOK_TARGETS, process_figures
from ecom.synth.truth import TRUTH_DIR
from ecom.thelook import ALL_TABLES, THELOOK_TABLES

END_DATE = dt.date(2026, 12, 6)
N_USERS = 20_000
NAIVE_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{6})?$")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("thelook")
    # A folder that held the default profile before: its truth must not survive.
    generate_dataset(300, seed=1, out_dir=out, end_date=END_DATE, progress=False)
    generate_dataset(
        N_USERS, seed=1, out_dir=out, end_date=END_DATE, progress=False, profile="thelook"
    )
    return out


@pytest.fixture(scope="module")
def measured(data_dir: Path) -> dict[str, float]:
    return process_figures(data_dir)


@pytest.mark.parametrize("name", list(THELOOK_TARGETS))
def test_the_process_statistic_is_within_its_target(measured: dict[str, float], name: str) -> None:
    target = THELOOK_TARGETS[name]
    tolerance = target.tolerance
    if name in COUNTS_NEAR_THE_CLOCK:
        tolerance *= math.sqrt(100_000 / N_USERS)
    assert abs(measured[name] - target.value) <= tolerance, (
        f"{target.label}: generated {measured[name]:.2f}, "
        f"TheLook's generator {target.value:.2f} +- {tolerance:.2f}"
    )


def _rows(path: Path) -> list[list[object]]:
    """The rows as Python's csv module reads the generator's files: unquoted fields become
    floats, quoted ones stay strings (so a quoted number and a NULL `""` stay text)."""
    with path.open(newline="") as handle:
        handle.readline()  # the header is unquoted: csv.DictWriter's default quoting
        return list(csv.reader(handle, quoting=csv.QUOTE_NONNUMERIC))


def test_the_files_are_written_the_way_the_generator_writes_them(data_dir: Path) -> None:
    """QUOTE_NONNUMERIC, NULL as "", product numbers as text, naive timestamps, CRLF, no geometry."""
    for table in THELOOK_TABLES:
        header = (data_dir / table.csv_name).open(newline="").readline()
        expected = [c for c in table.column_names if not c.endswith("_geom")]
        helper = table.name in ("products", "distribution_centers")
        assert header == ",".join(expected) + ("\n" if helper else "\r\n"), table.name
    events = _rows(data_dir / "events.csv")
    anonymous = [row for row in events if row[1] == ""]
    registered = [row for row in events if isinstance(row[1], float)]
    assert len(anonymous) + len(registered) == len(events)
    assert 0.5 < len(registered) / len(events) < 0.57
    assert all(NAIVE_TIMESTAMP.match(row[4]) for row in events[:5000] + events[-5000:])
    # The reader cannot tell `""` from an empty field: the raw lines can.
    lines = (data_dir / "events.csv").read_text().splitlines()
    assert sum(bool(re.match(r'^\d+,"",1,"', line)) for line in lines) == sum(
        1 for row in anonymous if row[2] == 1.0
    )
    assert not any(",," in line for line in lines)
    orders = _rows(data_dir / "orders.csv")
    assert {type(row[0]) for row in orders} == {float}  # ids are bare numbers
    assert any(row[5] == "" for row in orders)  # returned_at NULL as a quoted empty string
    stamps = [row[4] for row in orders]
    assert all(NAIVE_TIMESTAMP.match(stamp) for stamp in stamps)
    with_fraction = sum("." in stamp for stamp in stamps)
    assert 0 < with_fraction < 0.05 * len(stamps), "only the sign-up burst carries microseconds"
    items = _rows(data_dir / "order_items.csv")
    assert all(isinstance(row[3], str) and isinstance(row[10], str) for row in items)
    float(items[0][10])  # sale_price is a number written as text
    stock = _rows(data_dir / "inventory_items.csv")
    assert any(row[3] == "" for row in stock)  # unsold: sold_at NULL
    users = _rows(data_dir / "users.csv")
    assert len(users) == N_USERS and isinstance(users[0][11], str)  # latitude as text
    assert all(row[9] != "null" for row in users)


def test_no_truth_and_no_experiment(data_dir: Path) -> None:
    """TheLook plants no churn process and runs no experiment: nothing pretends otherwise."""
    assert not (data_dir / TRUTH_DIR).exists()
    written = {path.name for path in data_dir.glob("*.csv")}
    assert written == {table.csv_name for table in THELOOK_TABLES}
    assert {table.csv_name for table in ALL_TABLES} - written == {
        "experiment_assignments.csv",
        "campaign_contacts.csv",
    }


def test_the_export_format_is_available_too(tmp_path: Path) -> None:
    """The same process in BigQuery's export format: zoned timestamps and geometry columns."""
    generate_dataset(
        500, seed=2, out_dir=tmp_path, end_date=END_DATE, progress=False, profile="thelook",
        csv_format="export",
    )  # fmt: skip
    header = (tmp_path / "users.csv").open().readline().strip()
    assert header.endswith(",created_at,user_geom")
    line = (tmp_path / "orders.csv").open().readlines()[1]
    assert " UTC," in line and '"' not in line


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="profile 'looker' is not one of default, thelook"):
        generate_dataset(100, seed=1, out_dir=tmp_path, end_date=END_DATE, profile="looker")
    with pytest.raises(ValueError, match="csv format 'tsv' is not one of export, thelook"):
        generate_dataset(100, seed=1, out_dir=tmp_path, end_date=END_DATE, csv_format="tsv")


def test_the_model_card_says_the_oracle_is_absent() -> None:
    section = _metrics_section({"test_roc_auc": 0.74})
    assert "| oracle ROC-AUC | absent |" in section
    assert "no truth folder" in section
