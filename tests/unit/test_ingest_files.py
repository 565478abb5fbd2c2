"""The loader's file checks and line arithmetic, without a database."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import pytest

from ecom.ingest.files import (
    WHOLE_FILE,
    HeaderMatch,
    LoadError,
    copy_lines_before,
    differing_columns,
    find_csvs,
    first_record_with_empty_key,
    has_thelook_csvs,
    iter_records,
    match_header,
    read_header,
    record_at_copy_line,
    records_with_key,
    split_csv,
)
from ecom.thelook import DISTRIBUTION_CENTERS, EXPERIMENT_ASSIGNMENTS, ORDERS, USERS

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "ingest"


def test_find_csvs_and_has_thelook_csvs(tmp_path):
    assert not has_thelook_csvs(tmp_path)
    (tmp_path / "notes.csv").write_text("a\n1\n")
    (tmp_path / "experiment_assignments.csv").write_text("x\n")
    assert not has_thelook_csvs(tmp_path), "only TheLook tables count"
    (tmp_path / "orders.csv").write_text("x\n")
    assert has_thelook_csvs(tmp_path)
    assert set(find_csvs(tmp_path)) == {"orders", "experiment_assignments"}
    assert set(find_csvs(FIXTURE)) == {
        "users", "orders", "order_items", "products", "inventory_items",
        "distribution_centers", "events", "experiment_assignments", "campaign_contacts",
    }  # fmt: skip


def test_file_names_match_whatever_their_case_and_gzip(tmp_path):
    (tmp_path / "Distribution_centers.csv").write_text("x\n")
    with gzip.open(tmp_path / "EVENTS.CSV.GZ", "wt") as handle:
        handle.write("id\n1\n")
    (tmp_path / "events.csv.bak").write_text("x\n")
    found = find_csvs(tmp_path)
    assert found == {
        "distribution_centers": tmp_path / "Distribution_centers.csv",
        "events": tmp_path / "EVENTS.CSV.GZ",
    }
    assert read_header(found["events"]) == ["id"]
    assert [record.fields for record in iter_records(found["events"])] == [["1"]]


def test_two_files_for_one_table_is_an_error(tmp_path):
    (tmp_path / "users.csv").write_text("x\n")
    (tmp_path / "Users.csv.gz").write_bytes(gzip.compress(b"x\n"))
    with pytest.raises(LoadError, match="two files for table users"):
        find_csvs(tmp_path)


def test_truncated_gzip_header_is_a_load_error(tmp_path):
    path = tmp_path / "orders.csv.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(LoadError) as caught:
        read_header(path)
    assert (caught.value.file, caught.value.line) == (path, 1)


def test_read_header_strips_bom_and_spaces(tmp_path):
    path = tmp_path / "distribution_centers.csv"
    path.write_bytes(
        "\ufeffid, name ,latitude,longitude,distribution_center_geom\r\n1,a,1,2,x\r\n".encode()
    )
    header = read_header(path)
    assert header == DISTRIBUTION_CENTERS.column_names
    match = match_header(path, DISTRIBUTION_CENTERS, header)
    assert match == HeaderMatch(tuple(DISTRIBUTION_CENTERS.column_names))
    assert match.notes(DISTRIBUTION_CENTERS, path.name) == ()


def test_empty_file_is_rejected_at_line_1(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("")
    with pytest.raises(LoadError) as caught:
        read_header(path)
    assert (caught.value.line, caught.value.file) == (1, path)


@pytest.mark.parametrize(
    ("header", "column", "reason"),
    [
        (["experiment_id", "user_id", "variant"], "assigned_at", "missing column"),
        (["experiment_id", "user_id", "user_id", "variant", "assigned_at"], "user_id", "twice"),
        (["experiment_id", "User_Id", "user_id", "variant", "assigned_at"], "user_id", "twice"),
    ],
)
def test_match_header_names_the_column(header, column, reason):
    with pytest.raises(LoadError) as caught:
        match_header(Path("experiment_assignments.csv"), EXPERIMENT_ASSIGNMENTS, header)
    assert caught.value.line == 1
    assert caught.value.column == column
    assert reason in caught.value.reason


def test_match_header_by_name_in_any_order_and_case_ignoring_unknown_columns():
    match = match_header(
        Path("x.csv"),
        EXPERIMENT_ASSIGNMENTS,
        ["Assigned_At", "arm", "variant", "user_id", "EXPERIMENT_ID", "note"],
    )
    assert match.columns == ("assigned_at", "arm", "variant", "user_id", "experiment_id", "note")
    assert match.ignored == ("arm", "note")
    assert match.derived is None
    assert match.notes(EXPERIMENT_ASSIGNMENTS, "x.csv") == (
        "x.csv: unknown columns arm, note ignored",
    )


def test_missing_geometry_is_derived_and_any_other_missing_column_is_an_error():
    kaggle_users = [name for name in USERS.column_names if name != "user_geom"]
    match = match_header(Path("users.csv"), USERS, kaggle_users)
    assert match.derived == "user_geom"
    assert match.notes(USERS, "users.csv") == (
        "users.csv: no user_geom column, derived from latitude/longitude",
    )
    without_latitude = [name for name in USERS.column_names if name != "latitude"]
    with pytest.raises(LoadError) as caught:
        match_header(Path("users.csv"), USERS, without_latitude)
    assert (caught.value.column, caught.value.line) == ("latitude", 1)


def _write(tmp_path: Path, text: str, newline: str) -> Path:
    path = tmp_path / "t.csv"
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def test_iter_records_follows_physical_lines_and_copy_numbering(tmp_path):
    # Lines: 1 header, 2-3 record one, 4-6 record two, 7 record three.
    path = _write(tmp_path, 'id,name\n1,"a\nb"\n2,"c\nd\ne"\n3,f\n', "\n")
    records = list(iter_records(path))
    assert [r.line for r in records] == [2, 4, 7]
    # COPY counts every \n of an LF file, and reports a record at its last line.
    assert [r.copy_line for r in records] == [3, 6, 7]
    assert records[1].fields == ["2", "c\nd\ne"]
    assert record_at_copy_line(path, 6).line == 4
    assert record_at_copy_line(path, 5) is None


def test_iter_records_crlf_file_counts_only_crlf_for_copy(tmp_path):
    # A CRLF file whose second record holds bare LFs: COPY does not count those.
    path = tmp_path / "t.csv"
    path.write_bytes(b'id,name\r\n1,"a\r\nb"\r\n2,"c\nd\ne"\r\n3,f\r\n')
    records = list(iter_records(path))
    assert [r.line for r in records] == [2, 4, 7]
    assert [r.copy_line for r in records] == [3, 4, 5]
    assert record_at_copy_line(path, 5).fields == ["3", "f"]


def test_records_with_key_matches_typed_values(tmp_path):
    header = ORDERS.column_names
    blank = [""] * (len(header) - 1)
    lines = [",".join(header), ",".join(["1000", *blank]), ",".join(["0999", *blank]),
             ",".join([" 1000", *blank])]  # fmt: skip
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(lines) + "\n")
    assert [r.line for r in records_with_key(path, header, ORDERS, (1000,))] == [2, 4]
    assert [r.line for r in records_with_key(path, header, ORDERS, (999,))] == [3]


def test_first_record_with_empty_key_sees_null_word_in_text_keys(tmp_path):
    path = tmp_path / "experiment_assignments.csv"
    path.write_text(
        "experiment_id,user_id,variant,assigned_at\n"
        "exp,1,control,2023-01-01 00:00:00 UTC\n"
        "null,2,control,2023-01-01 00:00:00 UTC\n"
    )
    record, column = first_record_with_empty_key(
        path, EXPERIMENT_ASSIGNMENTS.column_names, EXPERIMENT_ASSIGNMENTS
    )
    assert (record.line, column) == (3, "experiment_id")


def test_differing_columns_compares_stored_values(tmp_path):
    path = tmp_path / "distribution_centers.csv"
    path.write_text(
        "id,name,latitude,longitude,distribution_center_geom\n"
        "1,Memphis,35.10,-89.9,null\n"
        "1,Memphis,35.1,-89.9,\n"
        "1,Memphis TN,35.1,-89.8,\n"
    )
    first, same, other = iter_records(path)
    header = DISTRIBUTION_CENTERS.column_names
    assert differing_columns(first, same, header, DISTRIBUTION_CENTERS) == []
    assert differing_columns(first, other, header, DISTRIBUTION_CENTERS) == ["name", "longitude"]


def test_load_error_message_and_pickling():
    error = LoadError("data/orders.csv", "bad value", line=7, column="status")
    assert str(error) == "data/orders.csv, line 7, column status: bad value"
    assert error.lines == (7,)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.file, copy.line, copy.column, copy.reason) == (
        Path("data/orders.csv"),
        7,
        "status",
        "bad value",
    )
    assert str(LoadError("x.csv", "missing file")) == "x.csv: missing file"


def _parts(path: Path, ranges: list) -> list[bytes]:
    data = path.read_bytes()
    return [data[r.start : r.end] for r in ranges]


def test_split_csv_cuts_at_record_boundaries_near_the_offsets(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"id,name\n" + b"".join(b"%d,row%d\n" % (i, i) for i in range(1, 101)))
    ranges = split_csv(path, [300, 700])
    assert len(ranges) == 3
    assert ranges[0].start == 0 and ranges[0].has_header and not ranges[1].has_header
    assert ranges[-1].end is None
    pieces = _parts(path, ranges)
    assert b"".join(pieces) == path.read_bytes()
    assert all(piece.endswith(b"\n") for piece in pieces)
    assert 300 <= ranges[1].start < 320 and 700 <= ranges[2].start < 720
    # COPY's count of lines before each part: header plus the records before it.
    for r, piece in zip(ranges[1:], pieces[1:], strict=True):
        first_id = int(piece.split(b",", 1)[0])
        assert copy_lines_before(path, r.start) == first_id  # record i sits on line i + 1


def test_split_csv_never_cuts_inside_a_quoted_field(tmp_path):
    # Each record holds a quoted field with two line feeds and a doubled quote.
    body = b"".join(b'%d,"a ""quoted""\nmulti\nline field"\n' % i for i in range(50))
    path = tmp_path / "t.csv"
    path.write_bytes(b"id,text\n" + body)
    for offset in range(10, len(body), 37):
        ranges = split_csv(path, [offset])
        for piece in _parts(path, ranges)[1:]:
            assert piece[:1].isdigit() and piece.count(b'"') % 2 == 0


def test_split_csv_counts_crlf_lines_like_copy(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b'id,text\r\n1,"x\ny"\r\n2,"p\r\nq"\r\n3,z\r\n4,w\r\n')
    ranges = split_csv(path, [len(b'id,text\r\n1,"x\ny"\r\n2,"p')])
    assert len(ranges) == 2
    assert path.read_bytes()[ranges[1].start :] == b"3,z\r\n4,w\r\n"
    # COPY in CRLF mode counts the header, record 1 (bare LF not counted) and record 2 (2).
    assert copy_lines_before(path, ranges[1].start) == 4


def test_split_csv_without_cuts_or_past_the_end_is_one_range(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"id\n1\n2\n")
    assert split_csv(path, []) == [WHOLE_FILE]
    assert split_csv(path, [10_000]) == [WHOLE_FILE]


def test_count_finds_two_byte_needles_across_chunk_boundaries(tmp_path, monkeypatch):
    import ecom.ingest.files

    monkeypatch.setattr(ecom.ingest.files, "_SCAN_BYTES", 3)
    path = tmp_path / "t.csv"
    path.write_bytes(b"a\r\nbb\r\nc\r\n")  # CRLF pairs at offsets 1, 5 and 8
    assert copy_lines_before(path, 11) == 3
    assert copy_lines_before(path, 6) == 1
