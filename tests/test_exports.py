"""The nightly segment export publisher, on small warehouses built by hand in tmp_path.

Every expected file content below is written out by hand from the rows inserted.
"""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from orchestration import layout
from orchestration.cli import main
from orchestration.csv_text import csv_lines
from orchestration.publishing import table_files
from orchestration.publishing.errors import PublishError
from orchestration.publishing.exports import (
    latest_published_night,
    prune_published_nights,
    publish_night,
    read_manifest,
    release_night,
)
from orchestration.publishing.guard import ExportGuard
from orchestration.publishing.lock import LOCK_FILE
from orchestration.publishing.segment_files import SegmentExport
from orchestration.publishing.warehouse import published_night
from orchestration.wecom_tags import WecomLimits

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
PUBLISHED_AT = datetime(2026, 3, 3, 1, 30, tzinfo=UTC)
SEG_A_DDL = "customer_id VARCHAR, score INTEGER, note VARCHAR"
REMARKS_DDL = "customer_id VARCHAR, remark VARCHAR"
FRIEND_TAGS_DDL = "staff_id VARCHAR, customer_id VARCHAR, wecom_tags VARCHAR"
BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> None:
    """These tests never touch dbt: skip the project-wide `dbt parse`."""
    return None


def segment(name: str = "seg_a", **overrides: Any) -> SegmentExport:
    fields: dict[str, Any] = {
        "name": name,
        "relation": f"segments.{name}",
        "columns": ("customer_id", "score", "note"),
        "display_name": "测试人群",
        "description": "A hand-written test segment.",
        "owner": "crm-ops",
        "wecom_tag": "标签A",
        "sql_hash": f"sha-{name}",
    }
    fields.update(overrides)
    return SegmentExport(**fields)


def seg_rows(*ids: str) -> list[tuple]:
    """Members c<n> with score n and a Chinese note; inserted in reverse to test the sort."""
    return [(cid, int(cid[1:]), f"备注{cid}") for cid in reversed(ids)]


def make_warehouse(path: Path, tables: dict[str, tuple[str, list[tuple]]]) -> Path:
    with duckdb.connect(str(path)) as connection:
        for relation, (ddl, rows) in tables.items():
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {relation.split('.')[0]}")
            connection.execute(f"CREATE TABLE {relation} ({ddl})")
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                connection.executemany(f"INSERT INTO {relation} VALUES ({marks})", rows)
    return path


def publish(
    tmp_path: Path,
    night: date,
    tables: dict[str, tuple[str, list[tuple]]],
    segments: tuple[SegmentExport, ...] = (),
    run_id: str = "run1",
    **kwargs: Any,
) -> dict:
    built = len(list(tmp_path.glob("warehouse-*.duckdb")))
    warehouse = make_warehouse(tmp_path / f"warehouse-{built}.duckdb", tables)
    kwargs.setdefault("published_at", PUBLISHED_AT)
    return publish_night(
        warehouse, tmp_path / "exports", night, run_id, segments or (segment(),), **kwargs
    )


def text(tmp_path: Path, night: date, filename: str) -> str:
    """A file for programs: UTF-8 without a byte-order mark."""
    data = (tmp_path / "exports" / night.isoformat() / filename).read_bytes()
    assert not data.startswith(BOM), filename
    return data.decode("utf-8")


def people_csv(tmp_path: Path, night: date, filename: str) -> str:
    """A CSV for people: UTF-8 after a byte-order mark, which Excel needs to read it as such."""
    data = (tmp_path / "exports" / night.isoformat() / filename).read_bytes()
    assert data.startswith(BOM), filename
    return data[len(BOM) :].decode("utf-8")


def snapshot(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_first_night_everyone_entered(tmp_path: Path) -> None:
    warehouse = make_warehouse(
        tmp_path / "w.duckdb", {"segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2", "c3"))}
    )
    # Another read-only reader holds the file open: a read-write open would be refused.
    with duckdb.connect(str(warehouse), read_only=True):
        manifest = publish_night(warehouse, tmp_path / "exports", D1, "run1", [segment()])

    assert people_csv(tmp_path, D1, "seg_a.entered.csv") == "customer_id\r\nc1\r\nc2\r\nc3\r\n"
    assert people_csv(tmp_path, D1, "seg_a.left.csv") == "customer_id\r\n"
    assert people_csv(tmp_path, D1, "seg_a.csv") == (
        "customer_id,score,note\r\nc1,1,备注c1\r\nc2,2,备注c2\r\nc3,3,备注c3\r\n"
    )
    assert pq.read_table(tmp_path / "exports" / "2026-03-01" / "seg_a.parquet").to_pylist() == [
        {"customer_id": "c1", "score": 1, "note": "备注c1"},
        {"customer_id": "c2", "score": 2, "note": "备注c2"},
        {"customer_id": "c3", "score": 3, "note": "备注c3"},
    ]
    entry = manifest["segments"]["seg_a"]
    assert (entry["rows"], entry["entered"], entry["left"]) == (3, 3, 0)
    assert manifest["previous_night"] is None
    assert latest_published_night(tmp_path / "exports") == D1


def test_second_night_lists_exactly_who_entered_and_left(tmp_path: Path) -> None:
    publish(tmp_path, D1, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2", "c3"))})
    manifest = publish(
        tmp_path, D2, {"segments.seg_a": (SEG_A_DDL, seg_rows("c2", "c3", "c4", "c5"))}
    )

    assert people_csv(tmp_path, D2, "seg_a.entered.csv") == "customer_id\r\nc4\r\nc5\r\n"
    assert people_csv(tmp_path, D2, "seg_a.left.csv") == "customer_id\r\nc1\r\n"
    entry = manifest["segments"]["seg_a"]
    assert (entry["rows"], entry["entered"], entry["left"]) == (4, 2, 1)
    assert manifest["previous_night"] == "2026-03-01"


def test_a_segment_new_since_the_previous_night_has_everyone_entered(tmp_path: Path) -> None:
    publish(tmp_path, D1, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1"))})
    tables = {
        "segments.seg_a": (SEG_A_DDL, seg_rows("c1")),
        "segments.seg_b": (SEG_A_DDL, seg_rows("c7", "c8")),
    }
    manifest = publish(tmp_path, D2, tables, (segment(), segment("seg_b", wecom_tag=None)))

    assert people_csv(tmp_path, D2, "seg_b.entered.csv") == "customer_id\r\nc7\r\nc8\r\n"
    assert people_csv(tmp_path, D2, "seg_b.left.csv") == "customer_id\r\n"
    assert people_csv(tmp_path, D2, "seg_a.entered.csv") == "customer_id\r\n"
    assert manifest["segments"]["seg_b"]["entered"] == 2


def test_csv_escapes_formulas_and_parquet_keeps_raw_values(tmp_path: Path) -> None:
    hyperlink = '=HYPERLINK("http://evil.example","点我")'
    tables = {
        "segments.seg_text": (
            "customer_id VARCHAR, note VARCHAR, delta INTEGER, amount DECIMAL(10, 2)",
            [
                ("plain", "-2", -7, -3.1),
                (hyperlink, "+1", 5, 2),
                ("@x", "=1+1", -1, 0),
                ("\tz", "\rcr", 0, 1.25),
                ("+1", "ok", 1, 0),
                ("-2", None, -2, -0.5),
            ],
        ),
        "segments.seg_num": ("customer_id BIGINT, balance DOUBLE", [(5, -1.5), (-2, 3.0)]),
    }
    segments = (
        segment("seg_text", columns=("customer_id", "note", "delta", "amount"), wecom_tag=None),
        segment("seg_num", columns=("customer_id", "balance"), wecom_tag=None),
    )
    publish(tmp_path, D1, tables, segments)

    # Sorted by code point: \t (09) < + (2B) < - (2D) < = (3D) < @ (40) < p.
    assert people_csv(tmp_path, D1, "seg_text.csv") == (
        "customer_id,note,delta,amount\r\n"
        "'\tz,\"'\rcr\",0,1.25\r\n"
        "'+1,ok,1,0.00\r\n"
        "'-2,,-2,-0.50\r\n"
        '"\'=HYPERLINK(""http://evil.example"",""点我"")",\'+1,5,2.00\r\n'
        "'@x,'=1+1,-1,0.00\r\n"
        "plain,'-2,-7,-3.10\r\n"
    )
    assert people_csv(tmp_path, D1, "seg_text.entered.csv") == (
        "customer_id\r\n'\tz\r\n'+1\r\n'-2\r\n"
        '"\'=HYPERLINK(""http://evil.example"",""点我"")"\r\n'
        "'@x\r\nplain\r\n"
    )
    raw = pq.read_table(tmp_path / "exports" / "2026-03-01" / "seg_text.parquet")
    assert raw.column("customer_id").to_pylist() == ["\tz", "+1", "-2", hyperlink, "@x", "plain"]
    assert raw.column("note").to_pylist() == ["\rcr", "ok", None, "+1", "=1+1", "-2"]
    # Numbers are not text: a negative number (or customer id) is never escaped.
    assert people_csv(tmp_path, D1, "seg_num.csv") == "customer_id,balance\r\n-2,3.0\r\n5,-1.5\r\n"
    assert people_csv(tmp_path, D1, "seg_num.entered.csv") == "customer_id\r\n-2\r\n5\r\n"


# A customer whose id, note and tags a spreadsheet would take for formulas.
OPERATOR_DDL = (
    "customer_id VARCHAR, visits BIGINT, note VARCHAR, paid DECIMAL(10, 2), bought_on DATE"
)
OPERATOR_ROWS = [
    ("c1", 3, "+会员|高价值", 12.5, date(2026, 2, 28)),
    ("c2", -1, "普通", None, None),
    # More digits than Excel keeps in a number.
    ("=c3", 1234567890123456789, "@某人", 0, date(2026, 3, 1)),
]
OPERATOR_HEADERS = ("客户ID", "到店次数", "备注", "实付金额", "购买日期")


def operator_segment(**overrides: Any) -> SegmentExport:
    return segment(
        columns=("customer_id", "visits", "note", "paid", "bought_on"),
        **{"headers": OPERATOR_HEADERS, **overrides},
    )


def test_files_for_people_escape_formulas_and_files_for_programs_keep_them(
    tmp_path: Path,
) -> None:
    publish(
        tmp_path,
        D1,
        {
            "segments.seg_a": (OPERATOR_DDL, OPERATOR_ROWS),
            "marts.remarks": (REMARKS_DDL, [("=c3", "-老客|宝妈")]),
            "marts.friend_tags": (FRIEND_TAGS_DDL, [("S1", "=c3", "+会员|高价值")]),
        },
        (operator_segment(wecom_tag="+会员"),),
        remarks_relation="marts.remarks",
        friendship_tags_relation="marts.friend_tags",
    )
    # For people: after a byte-order mark, column names, escaped. "=" (3D) sorts before "c".
    assert people_csv(tmp_path, D1, "seg_a.csv") == (
        "customer_id,visits,note,paid,bought_on\r\n"
        "'=c3,1234567890123456789,'@某人,0.00,2026-03-01\r\n"
        "c1,3,'+会员|高价值,12.50,2026-02-28\r\n"
        "c2,-1,普通,,\r\n"
    )
    assert people_csv(tmp_path, D1, "seg_a.entered.csv") == "customer_id\r\n'=c3\r\nc1\r\nc2\r\n"

    # For programs: no byte-order mark (text() checks), every value exactly as it is.
    def rows(filename: str) -> list[list[str]]:
        return list(csv.reader(text(tmp_path, D1, filename).splitlines()))

    assert rows("wecom_tag_sync.csv") == [
        ["tag", "action", "customer_id", "remark"],
        ["+会员", "add", "=c3", "-老客|宝妈"],
        ["+会员", "add", "c1", ""],
        ["+会员", "add", "c2", ""],
    ]
    assert rows("wecom_mark_tag.csv") == [
        ["minute", "staff_id", "customer_id", "add_tags", "remove_tags"],
        ["0", "S1", "=c3", "+会员|高价值", ""],
    ]
    night = tmp_path / "exports" / D1.isoformat()
    assert pq.read_table(night / "wecom_friend_tags.parquet").to_pylist() == [
        {"staff_id": "S1", "customer_id": "=c3", "wecom_tags": "+会员|高价值"}
    ]
    assert pq.read_table(night / "wecom_sent_remarks.parquet").to_pylist() == [
        {"customer_id": "=c3", "remark": "-老客|宝妈"}
    ]
    assert pq.read_table(night / "seg_a.parquet").column("note").to_pylist() == [
        "@某人",
        "+会员|高价值",
        "普通",
    ]


def test_each_segment_has_an_xlsx_with_the_declared_headers(tmp_path: Path) -> None:
    manifest = publish(
        tmp_path,
        D1,
        {"segments.seg_a": (OPERATOR_DDL, OPERATOR_ROWS)},
        (operator_segment(display_name="高价值客户: 本月"),),
    )
    path = tmp_path / "exports" / D1.isoformat() / "seg_a.xlsx"
    digest = manifest["segments"]["seg_a"]["files"]["seg_a.xlsx"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest

    workbook = openpyxl.load_workbook(path)
    # The segment's display name, without the ":" Excel refuses in a sheet name.
    assert workbook.sheetnames == ["高价值客户  本月"]
    sheet = workbook.active
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:E4"
    assert [cell.value for cell in sheet[1]] == list(OPERATOR_HEADERS)
    assert all(cell.font.bold for cell in sheet[1])
    # The CSV's rows as values: numbers, dates, text; "=c3" and "@某人" are text, shown as
    # they are and kept text when edited (quote prefix), never formulas. The 19-digit count
    # is text: as a number Excel would round it.
    assert [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)] == [
        ["=c3", "1234567890123456789", "@某人", 0, datetime(2026, 3, 1)],
        ["c1", 3, "+会员|高价值", 12.5, datetime(2026, 2, 28)],
        ["c2", -1, "普通", None, None],
    ]
    assert [cell.data_type for cell in sheet[2]] == ["s", "s", "s", "n", "d"]
    assert [cell.quotePrefix for cell in sheet["A"]] == [False, True, False, False]
    assert [cell.quotePrefix for cell in sheet["C"]] == [False, True, True, False]
    assert sheet["D2"].number_format == "0.00"
    assert sheet["E2"].number_format == "yyyy-mm-dd"
    # Widths: the widest cell or header, a Chinese character counting 2, plus 2, at least 8.
    # B: 19 digits; C: "+会员|高价值" is 1 + 4 + 1 + 6; D: "实付金额" is 4 characters.
    widths = {letter: sheet.column_dimensions[letter].width for letter in "ABCDE"}
    assert {letter: int(width) for letter, width in widths.items()} == {
        "A": 8,
        "B": 21,
        "C": 14,
        "D": 10,
        "E": 12,
    }


def test_an_xlsx_in_english_has_its_sheet_and_headers_as_given(tmp_path: Path) -> None:
    """The exports in English (orchestration.segments builds them for SCRM_LANG=en): the sheet
    and headers as given; the manifest's display name and the CSV's header do not change."""
    headers = ("Customer ID", "Visits", "Note", "Paid (CNY)", "Bought on")
    manifest = publish(
        tmp_path,
        D1,
        {"segments.seg_a": (OPERATOR_DDL, OPERATOR_ROWS)},
        (operator_segment(display_name="高价值客户", sheet_name="seg_a", headers=headers),),
    )
    workbook = openpyxl.load_workbook(tmp_path / "exports" / D1.isoformat() / "seg_a.xlsx")
    assert workbook.sheetnames == ["seg_a"]
    assert [cell.value for cell in workbook.active[1]] == list(headers)
    assert manifest["segments"]["seg_a"]["display_name"] == "高价值客户"
    assert people_csv(tmp_path, D1, "seg_a.csv").startswith("customer_id,visits,note,paid,")


def test_fields_for_programs_can_be_left_out_of_the_files_for_people(tmp_path: Path) -> None:
    """A segment whose table for people has other columns than its Parquet (reason_fields is
    worded into the reason and left out): each file has its own columns."""

    def for_people(table: pa.Table) -> pa.Table:
        return table.drop_columns(["score"])

    exported = segment(people_columns=("customer_id", "note"), for_people=for_people)
    publish(tmp_path, D1, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2"))}, (exported,))
    night = tmp_path / "exports" / D1.isoformat()
    assert pq.read_table(night / "seg_a.parquet").column_names == ["customer_id", "score", "note"]
    assert people_csv(tmp_path, D1, "seg_a.csv").split() == [
        "customer_id,note",
        "c1,备注c1",
        "c2,备注c2",
    ]
    sheet = openpyxl.load_workbook(night / "seg_a.xlsx").active
    assert [cell.value for cell in sheet[1]] == ["customer_id", "note"]
    # A table for people without the columns declared for it is refused, naming them.
    wrong = segment(people_columns=("customer_id", "score"), for_people=for_people)
    with pytest.raises(PublishError, match=r"seg_a.*\['customer_id', 'note'\], not"):
        publish(tmp_path, D2, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1"))}, (wrong,))


def test_a_segment_over_the_xlsx_limit_gets_its_csv_alone(tmp_path: Path) -> None:
    manifest = publish(
        tmp_path,
        D1,
        {
            "segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2", "c3")),
            "segments.seg_b": (SEG_A_DDL, seg_rows("c4", "c5")),
        },
        (segment(), segment("seg_b")),
        xlsx_max_rows=2,
    )
    assert manifest["xlsx_max_rows"] == 2
    assert "seg_a.xlsx" not in manifest["segments"]["seg_a"]["files"]
    assert "seg_b.xlsx" in manifest["segments"]["seg_b"]["files"]
    night = tmp_path / "exports" / D1.isoformat()
    assert not (night / "seg_a.xlsx").exists()
    assert (night / "seg_a.csv").exists()
    for refused in (-1, 1_048_576, 2.5, True, None):
        with pytest.raises(PublishError, match="export_xlsx_max_rows"):
            table_files.check_xlsx_max_rows(refused)


def test_csv_for_people_escapes_formulas_and_for_programs_keeps_values(tmp_path: Path) -> None:
    """One writer, whole columns at a time, for every type: both kinds of file by hand."""
    texts = [
        "plain",
        "=1+1",
        "+86 138",
        "-x",
        "@me",
        "\tTab",
        "\rcr",
        'a "q", b',
        "行\n二",
        "",
        None,
    ]
    table = pa.table(
        {
            "customer_id": texts,
            "count": pa.array([-5, 0, 7, None, 2**40, 1, 2, 3, 4, 5, 6], type=pa.int64()),
            "small": pa.array([1, -2, None, 4, 5, 6, 7, 8, 9, 10, 11], type=pa.int16()),
            "flag": [True, False, None, True, False, True, False, True, False, True, None],
            "ratio": [0.1, -2.5, None, 1e-7, 3.0, 2.0, 1.0, 0.5, 0.25, 1e20, -0.0],
            "paid": pa.array(
                [Decimal(v) for v in ("0", "-0.01", "123456789012345678901234567890.12")]
                + [None, Decimal("5.00")] * 4,
                type=pa.decimal128(38, 2),
            ),
            "share": pa.array(
                [Decimal(v) for v in ("0.000001", "-0.000010", "1.5")] + [None] * 8,
                type=pa.decimal128(20, 6),
            ),
            "precise": pa.array(
                [Decimal("1E-10"), Decimal("-3.5")] + [None] * 9, type=pa.decimal128(20, 10)
            ),
        }
    )
    # Each row: (first cell for people, first cell for programs, the other cells).
    rows = [
        ("plain", "plain", "-5,1,true,0.1,0.00,0.000001,0.0000000001"),
        ("'=1+1", "=1+1", "0,-2,false,-2.5,-0.01,-0.000010,-3.5000000000"),
        ("'+86 138", "+86 138", "7,,,,123456789012345678901234567890.12,1.500000,"),
        ("'-x", "-x", ",4,true,1e-07,,,"),
        ("'@me", "@me", "1099511627776,5,false,3.0,5.00,,"),
        ("'\tTab", "\tTab", "1,6,true,2.0,,,"),
        ('"\'\rcr"', '"\rcr"', "2,7,false,1.0,5.00,,"),
        ('"a ""q"", b"', '"a ""q"", b"', "3,8,true,0.5,,,"),
        ('"行\n二"', '"行\n二"', "4,9,false,0.25,5.00,,"),
        ("", "", "5,10,true,1e+20,,,"),
        ("", "", "6,11,,-0.0,5.00,,"),
    ]
    header = "customer_id,count,small,flag,ratio,paid,share,precise\r\n"
    for_people = header + "".join(f"{cell},{rest}\r\n" for cell, _, rest in rows)
    for_programs = header + "".join(f"{cell},{rest}\r\n" for _, cell, rest in rows)

    sha = table_files.write_table_csv(tmp_path / "people.csv", table, for_people=True)
    table_files.write_table_csv(tmp_path / "programs.csv", table, for_people=False)
    assert (tmp_path / "people.csv").read_bytes() == BOM + for_people.encode("utf-8")
    assert (tmp_path / "programs.csv").read_bytes() == for_programs.encode("utf-8")
    assert sha == hashlib.sha256((tmp_path / "people.csv").read_bytes()).hexdigest()
    # What the csv module reads back from the file for programs is every value as it is.
    with (tmp_path / "programs.csv").open(encoding="utf-8", newline="") as handle:
        read_back = list(csv.reader(handle))
    assert [row[0] for row in read_back[1:]] == [value or "" for value in texts]

    # One column (the entered and left lists): a row whose only cell is empty is quoted, not
    # a blank line; a header needing quotes is quoted; no rows is the header alone.
    for name, values, expected in (
        ('id, "x"', ["", None, "=a"], '"id, ""x"""\r\n""\r\n""\r\n\'=a\r\n'),
        ("id", [], "id\r\n"),
    ):
        one = pa.table({name: pa.array(values, type=pa.string())})
        table_files.write_table_csv(tmp_path / "one.csv", one, for_people=True)
        assert (tmp_path / "one.csv").read_bytes() == BOM + expected.encode("utf-8"), name


def test_csv_lines_quote_only_what_needs_it_and_end_lines_as_asked() -> None:
    """The one CSV writer, for the exports (CRLF) and the generator's raw files (LF)."""
    cells = [pa.array(["a", 'b,"c"', ""]), pa.array(["1", "", "x\ny"])]
    assert csv_lines(cells).to_pybytes() == b'a,1\r\n"b,""c""",\r\n,"x\ny"\r\n'
    assert csv_lines(cells, eol="\n").to_pybytes() == b'a,1\n"b,""c""",\n,"x\ny"\n'


def test_manifest_records_counts_checksums_and_definitions(tmp_path: Path) -> None:
    publish(tmp_path, D1, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2", "c3"))})
    warehouse = make_warehouse(
        tmp_path / "w2.duckdb", {"segments.seg_a": (SEG_A_DDL, seg_rows("c2", "c4"))}
    )
    before = warehouse.read_bytes()
    returned = publish_night(
        warehouse, tmp_path / "exports", D2, "run-42", [segment()], published_at=PUBLISHED_AT
    )

    assert warehouse.read_bytes() == before  # opened read-only
    night = tmp_path / "exports" / "2026-03-02"
    raw = (night / "manifest.json").read_text(encoding="utf-8")
    manifest = json.loads(raw)
    assert manifest == returned == read_manifest(tmp_path / "exports", D2)
    assert raw == json.dumps(manifest, sort_keys=True, ensure_ascii=False, indent=2) + "\n"
    assert "测试人群" in raw  # UTF-8, not \u escapes
    assert manifest["as_of_date"] == "2026-03-02"
    assert manifest["run_id"] == "run-42"
    assert manifest["published_at"] == "2026-03-03T01:30:00+00:00"
    assert manifest["previous_night"] == "2026-03-01"

    entry = manifest["segments"]["seg_a"]
    assert {k: v for k, v in entry.items() if k != "files"} == {
        "name": "seg_a",
        "relation": "segments.seg_a",
        "columns": ["customer_id", "score", "note"],
        "display_name": "测试人群",
        "description": "A hand-written test segment.",
        "owner": "crm-ops",
        "wecom_tag": "标签A",
        "sql_hash": "sha-seg_a",
        "rows": 2,
        "entered": 1,
        "left": 2,
    }
    assert sorted(entry["files"]) == [
        "seg_a.csv",
        "seg_a.entered.csv",
        "seg_a.left.csv",
        "seg_a.parquet",
        "seg_a.xlsx",
    ]
    for filename, digest in entry["files"].items():
        assert hashlib.sha256((night / filename).read_bytes()).hexdigest() == digest
    sync = manifest["wecom_tag_sync"]
    assert sync["file"] == "wecom_tag_sync.csv"
    assert sync["sha256"] == hashlib.sha256((night / "wecom_tag_sync.csv").read_bytes()).hexdigest()
    assert (sync["rows"], sync["add"], sync["remove"]) == (3, 1, 2)
    # Exactly the night's files, nothing stray.
    assert sorted(p.name for p in night.iterdir()) == sorted(
        [*entry["files"], "wecom_tag_sync.csv", "manifest.json"]
    )


def test_republishing_a_night_is_byte_identical(tmp_path: Path) -> None:
    publish(tmp_path, D1, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2", "c3"))})
    night_2 = {"segments.seg_a": (SEG_A_DDL, seg_rows("c2", "c3", "c4"))}
    night_dir = tmp_path / "exports" / "2026-03-02"
    first = publish(tmp_path, D2, night_2, run_id="run1")
    first_files = snapshot(night_dir)
    second = publish(tmp_path, D2, night_2, run_id="run2", published_at=None)
    second_files = snapshot(night_dir)

    assert first_files.keys() == second_files.keys()
    for name in first_files:
        if name != "manifest.json":
            assert first_files[name] == second_files[name], name
    assert (first["run_id"], second["run_id"]) == ("run1", "run2")
    assert first["published_at"] != second["published_at"]
    strip = {"run_id", "published_at"}
    assert {k: v for k, v in first.items() if k not in strip} == {
        k: v for k, v in second.items() if k not in strip
    }
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == [
        LOCK_FILE,
        "2026-03-01",
        "2026-03-02",
    ]


def test_republishing_after_a_later_night_still_diffs_against_the_earlier_one(
    tmp_path: Path,
) -> None:
    publish(tmp_path, D1, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2"))})
    night_2 = {"segments.seg_a": (SEG_A_DDL, seg_rows("c2", "c3"))}
    publish(tmp_path, D2, night_2)
    publish(tmp_path, D3, {"segments.seg_a": (SEG_A_DDL, seg_rows("c9"))})
    night_3 = snapshot(tmp_path / "exports" / "2026-03-03")

    manifest = publish(tmp_path, D2, night_2, run_id="rerun")

    assert manifest["previous_night"] == "2026-03-01"
    assert people_csv(tmp_path, D2, "seg_a.entered.csv") == "customer_id\r\nc3\r\n"
    assert people_csv(tmp_path, D2, "seg_a.left.csv") == "customer_id\r\nc1\r\n"
    assert snapshot(tmp_path / "exports" / "2026-03-03") == night_3
    assert latest_published_night(tmp_path / "exports") == D3
    assert latest_published_night(tmp_path / "exports", before=D3) == D2


def test_a_failed_night_leaves_the_published_one_untouched(tmp_path: Path) -> None:
    tables = {"segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2"))}
    publish(tmp_path, D1, tables)
    night_dir = tmp_path / "exports" / "2026-03-01"
    before = snapshot(night_dir)
    bad = segment("seg_bad", relation="segments.seg_a", columns=("customer_id", "missing_col"))

    # seg_a is written to the temporary directory before seg_bad fails.
    with pytest.raises(PublishError, match=r"seg_bad.*missing_col"):
        publish(tmp_path, D1, tables, (segment(), bad), run_id="run2")
    with pytest.raises(PublishError, match="seg_bad"):
        publish(tmp_path, D2, tables, (segment(), bad), run_id="run3")

    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == [LOCK_FILE, "2026-03-01"]
    assert snapshot(night_dir) == before


def test_a_failed_swap_restores_the_published_night(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = {"segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2"))}
    publish(tmp_path, D1, tables)
    night_dir = tmp_path / "exports" / "2026-03-01"
    before = snapshot(night_dir)
    real_rename = Path.rename

    def rename(self: Path, target: Path) -> Path:
        if self.name.startswith(".tmp-"):
            raise OSError("disk on fire")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(PublishError, match="disk on fire"):
        publish(tmp_path, D1, {"segments.seg_a": (SEG_A_DDL, seg_rows("c3"))}, run_id="run2")

    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == [LOCK_FILE, "2026-03-01"]
    assert snapshot(night_dir) == before


def test_wecom_sync_adds_with_remarks_and_removes_never_cutting_one(tmp_path: Path) -> None:
    untagged = segment("seg_b", wecom_tag=None)
    publish(
        tmp_path,
        D1,
        {
            "segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2", "c3")),
            "segments.seg_b": (SEG_A_DDL, seg_rows("c9")),
        },
        (segment(), untagged),
    )
    # No remarks relation: empty remarks; the untagged segment contributes nothing.
    assert text(tmp_path, D1, "wecom_tag_sync.csv") == (
        "tag,action,customer_id,remark\r\n标签A,add,c1,\r\n标签A,add,c2,\r\n标签A,add,c3,\r\n"
    )

    too_long = "一二三四五六七八九十百千万亿甲乙丙丁戊己庚"
    assert len(too_long) == 21
    manifest = publish(
        tmp_path,
        D2,
        {
            "segments.seg_a": (SEG_A_DDL, seg_rows("c2", "c3", "c4", "c5", "c6", "c7")),
            "segments.seg_b": (SEG_A_DDL, seg_rows("c8")),
            "marts.remarks": (
                REMARKS_DDL,
                [
                    ("c4", too_long),
                    ("c5", "=cmd"),
                    ("c1", "gone"),
                    ("c2", "kept"),
                    ("c7", too_long[:20]),
                ],
            ),
        },
        (segment(), untagged),
        remarks_relation="marts.remarks",
    )
    # 20 characters (not bytes) is the limit: c7's goes whole. c4's 21 are not cut to 20 but
    # not sent, and counted. Remove rows carry no remark; c6 has none. D1 recorded no remarks
    # sent, so its tagged c1 and c2 get theirs once (c3 has none).
    assert text(tmp_path, D2, "wecom_tag_sync.csv") == (
        "tag,action,customer_id,remark\r\n"
        ",remark,c1,gone\r\n"
        ",remark,c2,kept\r\n"
        "标签A,add,c4,\r\n"
        "标签A,add,c5,=cmd\r\n"
        "标签A,add,c6,\r\n"
        "标签A,add,c7,一二三四五六七八九十百千万亿甲乙丙丁戊己\r\n"
        "标签A,remove,c1,\r\n"
    )
    assert manifest["wecom_tag_sync"]["remarks_too_long"] == 1


def test_wecom_sync_resends_a_remark_when_it_changes(tmp_path: Path) -> None:
    """Three nights: a remark goes on the customer's add row, and again whenever it changes."""
    nights = [
        # D1: c1 and c2 enter and get their remarks; c3 is in no tagged segment: nothing.
        (D1, ("c1", "c2"), [("c1", "★|宝妈|互动1"), ("c2", "★★||互动0"), ("c3", "|学生|互动0")]),
        # D2: c1's interaction level rose: re-sent. c3 enters: tonight's remark on its add row.
        (
            D2,
            ("c1", "c2", "c3"),
            [("c1", "★|宝妈|互动3"), ("c2", "★★||互动0"), ("c3", "|学生|互动2")],
        ),
        # D3: c1 left the segment but keeps the remark in WeCom: its change is still sent.
        (D3, ("c2", "c3"), [("c1", "★★|宝妈|互动3"), ("c2", "★★||互动1"), ("c3", "|学生|互动2")]),
    ]
    manifests = [
        publish(
            tmp_path,
            night,
            {
                "segments.seg_a": (SEG_A_DDL, seg_rows(*members)),
                "marts.remarks": (REMARKS_DDL, remarks),
            },
            remarks_relation="marts.remarks",
        )
        for night, members, remarks in nights
    ]
    header = "tag,action,customer_id,remark\r\n"
    assert text(tmp_path, D1, "wecom_tag_sync.csv") == (
        header + "标签A,add,c1,★|宝妈|互动1\r\n标签A,add,c2,★★||互动0\r\n"
    )
    assert text(tmp_path, D2, "wecom_tag_sync.csv") == (
        header + ",remark,c1,★|宝妈|互动3\r\n标签A,add,c3,|学生|互动2\r\n"
    )
    assert text(tmp_path, D3, "wecom_tag_sync.csv") == (
        header + ",remark,c1,★★|宝妈|互动3\r\n,remark,c2,★★||互动1\r\n标签A,remove,c1,\r\n"
    )
    counts = [
        {key: manifest["wecom_tag_sync"][key] for key in ("add", "remove", "remark")}
        for manifest in manifests
    ]
    assert counts == [
        {"add": 2, "remove": 0, "remark": 0},
        {"add": 1, "remove": 0, "remark": 1},
        {"add": 0, "remove": 1, "remark": 2},
    ]
    # What WeCom holds after D3, the next night's comparison.
    sent = pq.read_table(tmp_path / "exports" / "2026-03-03" / "wecom_sent_remarks.parquet")
    assert sent.to_pylist() == [
        {"customer_id": "c1", "remark": "★★|宝妈|互动3"},
        {"customer_id": "c2", "remark": "★★||互动1"},
        {"customer_id": "c3", "remark": "|学生|互动2"},
    ]


def test_wecom_sync_resends_remarks_once_after_a_night_without_sent_remarks(
    tmp_path: Path,
) -> None:
    """D1 was published before remarks were tracked (no wecom_sent_remarks.parquet): what its
    tagged customers hold in WeCom is unknown, so D2 sends theirs once; c9 has no tag."""
    untagged = segment("seg_b", wecom_tag=None)
    publish(
        tmp_path,
        D1,
        {
            "segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2")),
            "segments.seg_b": (SEG_A_DDL, seg_rows("c9")),
        },
        (segment(), untagged),
    )
    assert not (tmp_path / "exports" / "2026-03-01" / "wecom_sent_remarks.parquet").exists()
    remarks = [
        ("c1", "★|宝妈|互动1"),
        ("c2", "★★||互动0"),
        ("c3", "|学生|互动2"),
        ("c9", "||互动0"),
    ]
    publish(
        tmp_path,
        D2,
        {
            "segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2", "c3")),
            "segments.seg_b": (SEG_A_DDL, seg_rows("c9")),
            "marts.remarks": (REMARKS_DDL, remarks),
        },
        (segment(), untagged),
        remarks_relation="marts.remarks",
    )
    assert text(tmp_path, D2, "wecom_tag_sync.csv") == (
        "tag,action,customer_id,remark\r\n"
        ",remark,c1,★|宝妈|互动1\r\n"
        ",remark,c2,★★||互动0\r\n"
        "标签A,add,c3,|学生|互动2\r\n"
    )


def test_wecom_sync_is_written_even_when_empty(tmp_path: Path) -> None:
    manifest = publish(
        tmp_path, D1, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1"))}, (segment(wecom_tag=None),)
    )
    assert text(tmp_path, D1, "wecom_tag_sync.csv") == "tag,action,customer_id,remark\r\n"
    assert manifest["wecom_tag_sync"]["rows"] == 0


def test_wecom_sync_diffs_tags_not_segments(tmp_path: Path) -> None:
    """Two segments sharing a tag, and a segment moved to another tag."""
    shared = (segment("seg_a", wecom_tag="T"), segment("seg_b", wecom_tag="T"))
    moved = segment("seg_m", wecom_tag="OLD")
    publish(
        tmp_path,
        D1,
        {
            "segments.seg_a": (SEG_A_DDL, seg_rows("c1")),
            "segments.seg_b": (SEG_A_DDL, seg_rows("c2")),
            "segments.seg_m": (SEG_A_DDL, seg_rows("c5")),
        },
        (*shared, moved),
    )
    publish(
        tmp_path,
        D2,
        {
            "segments.seg_a": (SEG_A_DDL, seg_rows("c2")),
            "segments.seg_b": (SEG_A_DDL, seg_rows("c3")),
            "segments.seg_m": (SEG_A_DDL, seg_rows("c5")),
        },
        (*shared, segment("seg_m", wecom_tag="NEW")),
    )
    # c2 moved from seg_b to seg_a but kept tag T: no add/remove pair for it.
    assert text(tmp_path, D2, "wecom_tag_sync.csv") == (
        "tag,action,customer_id,remark\r\nNEW,add,c5,\r\nOLD,remove,c5,\r\nT,add,c3,\r\n"
        "T,remove,c1,\r\n"
    )


@pytest.mark.parametrize(
    ("rows", "declared", "message"),
    [
        ([("c1", 1, "a"), ("c1", 2, "b")], None, r"seg_a.*duplicate customer_id.*'c1' \(2 rows\)"),
        ([("c1", 1, "a"), (None, 2, "b")], None, r"seg_a.*1 row\(s\).*null customer_id"),
        ([("c1", 1, "a")], segment(relation="segments.nope"), r"seg_a.*segments\.nope.*not exist"),
        ([("c1", 1, "a")], segment(columns=("customer_id", "colour")), r"seg_a.*'colour'"),
    ],
    ids=["duplicate", "null", "missing-relation", "missing-column"],
)
def test_contract_violations_name_the_segment(
    tmp_path: Path, rows: list[tuple], declared: SegmentExport | None, message: str
) -> None:
    with pytest.raises(PublishError, match=message):
        publish(tmp_path, D1, {"segments.seg_a": (SEG_A_DDL, rows)}, (declared or segment(),))
    assert not (tmp_path / "exports" / "2026-03-01").exists()
    assert [p.name for p in (tmp_path / "exports").iterdir()] == [LOCK_FILE]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"columns": ("score", "customer_id")}, r"seg_a.*must start with 'customer_id'"),
        ({"columns": ()}, r"seg_a.*must start with 'customer_id'"),
        ({"name": "Seg-A"}, r"'Seg-A'.*safe file stem"),
        ({"name": "../a"}, r"safe file stem"),
        ({"name": "wecom_tag_sync"}, r"reserved"),
        ({"relation": "seg_a; drop table x"}, r"seg_a.*schema-qualified"),
        ({"headers": ("客户ID", "分数")}, r"seg_a.*one non-empty text per column"),
        ({"headers": ("客户ID", "分数", " ")}, r"seg_a.*one non-empty text per column"),
        # Headers name the columns people read, when they differ from the Parquet's.
        ({"people_columns": ("note",)}, r"seg_a.*people_columns must start with 'customer_id'"),
        (
            {"people_columns": ("customer_id", "note"), "headers": ("客户ID", "分数", "备注")},
            r"seg_a.*one non-empty text per column",
        ),
    ],
)
def test_bad_declarations_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(PublishError, match=message):
        segment(**overrides)


def test_bad_run_id_and_duplicate_segments_are_refused(tmp_path: Path) -> None:
    tables = {"segments.seg_a": (SEG_A_DDL, seg_rows("c1"))}
    with pytest.raises(PublishError, match="run_id"):
        publish(tmp_path, D1, tables, run_id="../x")
    with pytest.raises(PublishError, match="listed twice"):
        publish(tmp_path, D1, tables, (segment(), segment()))


def test_latest_night_needs_a_manifest_and_ignores_temporary_directories(tmp_path: Path) -> None:
    root = tmp_path / "exports"
    assert latest_published_night(root) is None
    publish(tmp_path, D1, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1"))})
    (root / "2026-03-05").mkdir()  # no manifest: not published
    (root / ".tmp-2026-03-04-x").mkdir()
    (root / ".tmp-2026-03-04-x" / layout.MANIFEST_FILE).write_text("{}")
    (root / "notes").mkdir()

    assert latest_published_night(root) == D1
    assert latest_published_night(root, before=D1) is None
    with pytest.raises(PublishError, match="no published night 2026-03-05"):
        read_manifest(root, date(2026, 3, 5))


def test_published_nights_older_than_the_days_kept_are_removed(tmp_path: Path) -> None:
    """The nights of the last N days before the newest one stay; the night just published
    stays whatever its age (a backfill diffs its next night against it); held nights and
    folders without a manifest are not published nights and are left."""
    root = tmp_path / "exports"
    nights = [date(2026, 3, day) for day in (1, 2, 4, 5, 6)]
    for night in nights:
        publish(tmp_path, night, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1"))})
    (root / "2026-02-01").mkdir()  # no manifest
    (root / layout.HELD_DIR / "2026-02-02").mkdir(parents=True)

    assert prune_published_nights(root, None) == []
    # Newest 03-06: 3 days keep 03-04, 03-05, 03-06; 03-01 is kept as the night just published.
    assert prune_published_nights(root, 3, keep=date(2026, 3, 1)) == [date(2026, 3, 2)]
    assert sorted(path.name for path in root.iterdir() if not path.name.startswith(".")) == [
        "2026-02-01",
        "2026-03-01",
        "2026-03-04",
        "2026-03-05",
        "2026-03-06",
        layout.HELD_DIR,
    ]
    assert (root / layout.HELD_DIR / "2026-02-02").is_dir()
    assert prune_published_nights(root, 1) == [date(2026, 3, d) for d in (1, 4, 5)]
    assert latest_published_night(root) == date(2026, 3, 6)
    # The next night still diffs against the one night left.
    manifest = publish(tmp_path, date(2026, 3, 7), {"segments.seg_a": (SEG_A_DDL, seg_rows())})
    assert manifest["previous_night"] == "2026-03-06"
    assert manifest["segments"]["seg_a"]["left"] == 1
    for wrong in (0, -3, 2.5, True, "30"):
        with pytest.raises(PublishError, match="export_days_kept"):
            prune_published_nights(root, wrong)


def test_rows_where_exports_one_value_of_a_shared_relation(tmp_path: Path) -> None:
    """One file per next best action: each export keeps only its action's rows."""
    actions = (
        "customer_id VARCHAR, action VARCHAR, reason VARCHAR",
        [
            ("c2", "win_back", "r2"),
            ("c1", "first_order_coupon", "r1"),
            ("c3", "it's quoted", "r3"),
        ],
    )
    exports = tuple(
        segment(
            f"nba_{stem}",
            relation="marts.next_best_action",
            columns=("customer_id", "reason"),
            wecom_tag=None,
            rows_where=("action", action),
        )
        for stem, action in (("win_back", "win_back"), ("quoted", "it's quoted"))
    )
    manifest = publish(tmp_path, D1, {"marts.next_best_action": actions}, exports)
    assert people_csv(tmp_path, D1, "nba_win_back.csv").splitlines() == [
        "customer_id,reason",
        "c2,r2",
    ]
    assert people_csv(tmp_path, D1, "nba_quoted.csv").splitlines() == [
        "customer_id,reason",
        "c3,r3",
    ]
    assert manifest["segments"]["nba_win_back"]["rows"] == 1
    with pytest.raises(PublishError, match="rows_where column 'kind'"):
        publish(
            tmp_path,
            D2,
            {"marts.next_best_action": actions},
            (
                segment(
                    "nba_x",
                    relation="marts.next_best_action",
                    columns=("customer_id",),
                    wecom_tag=None,
                    rows_where=("kind", "x"),
                ),
            ),
        )


def test_the_next_publisher_undoes_what_a_killed_one_left(tmp_path: Path) -> None:
    publish(tmp_path, D1, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2"))})
    exports_root = tmp_path / "exports"
    before = snapshot(exports_root / "2026-03-01")
    # Killed between its two renames while re-publishing D1: D1 set aside, the new D1 unfinished.
    (exports_root / "2026-03-01").rename(exports_root / ".old-2026-03-01-run9")
    (exports_root / ".tmp-2026-03-01-run9").mkdir()
    (exports_root / ".tmp-2026-03-01-run9" / "seg_a.csv").write_text("half", encoding="utf-8")

    manifest = publish(tmp_path, D2, {"segments.seg_a": (SEG_A_DDL, seg_rows("c2"))})

    assert sorted(p.name for p in exports_root.iterdir()) == [LOCK_FILE, "2026-03-01", "2026-03-02"]
    assert snapshot(exports_root / "2026-03-01") == before
    assert manifest["previous_night"] == "2026-03-01"
    assert people_csv(tmp_path, D2, "seg_a.left.csv") == "customer_id\r\nc1\r\n"


HOLD_LOCK = """
import sys, time
from pathlib import Path
from orchestration.publishing.lock import publisher_lock

root, held, release = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
with publisher_lock(root):
    held.touch()
    while not release.exists():
        time.sleep(0.05)
"""


def test_one_publisher_at_a_time(tmp_path: Path) -> None:
    exports_root = tmp_path / "exports"
    held, release = tmp_path / "held", tmp_path / "release"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(exports_root), str(held), str(release)]
    )
    try:
        deadline = time.monotonic() + 30
        while not held.exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        tables = {"segments.seg_a": (SEG_A_DDL, seg_rows("c1"))}
        with pytest.raises(PublishError, match=r"another publisher has held .*\.publish\.lock"):
            publish(tmp_path, D1, tables, lock_timeout_seconds=0.3)
        assert not (exports_root / "2026-03-01").exists()
    finally:
        release.touch()
        holder.wait(timeout=30)
    # The lock is released by the holder's exit; the same publish now goes through.
    assert publish(tmp_path, D1, tables)["segments"]["seg_a"]["rows"] == 1


def test_mark_tag_calls_per_friendship_between_published_nights(tmp_path: Path) -> None:
    def night(when: date, friendships: list[tuple]) -> dict:
        return publish(
            tmp_path,
            when,
            {
                "segments.seg_a": (SEG_A_DDL, seg_rows("c1")),
                "marts.friend_tags": (FRIEND_TAGS_DDL, friendships),
            },
            friendship_tags_relation="marts.friend_tags",
            wecom_limits=replace(WecomLimits.from_project(), calls_per_minute=1),
        )

    night(
        D1,
        [("S1", "c1", "a|b"), ("S1", "c2", "a"), ("S2", "c3", "b"), ("S2", "c5", "x|y")],
    )
    manifest = night(
        D2,
        [
            ("S1", "c1", "a"),  # b is gone: remove it
            ("S2", "c3", "b"),  # unchanged: no call
            ("S3", "c2", "a|c"),  # c2 deleted S1 and added S3: only the new friendship, all tags
            ("S1", "c4", ""),  # a friend with no tag: no call
            ("S2", "c5", "y|x"),  # the text changed, the tags did not: no call
        ],
    )
    assert text(tmp_path, D2, "wecom_mark_tag.csv").splitlines() == [
        "minute,staff_id,customer_id,add_tags,remove_tags",
        "0,S1,c1,,b",
        "1,S3,c2,a|c,",  # one call a minute
    ]
    mark_tag = manifest["wecom_mark_tag"]
    assert (mark_tag["calls"], mark_tag["friendships_touched"], mark_tag["friendships"]) == (
        2,
        2,
        5,
    )
    assert (mark_tag["adds"], mark_tag["removes"], mark_tag["minutes_needed"]) == (2, 1, 2)
    summary = json.loads(text(tmp_path, D2, "wecom_mark_tag.summary.json"))
    assert summary["per_tag"] == {
        "a": {"add": 1, "remove": 0},
        "b": {"add": 0, "remove": 1},
        "c": {"add": 1, "remove": 0},
    }
    night_dir = tmp_path / "exports" / "2026-03-02"
    for name, digest in mark_tag["files"].items():
        assert hashlib.sha256((night_dir / name).read_bytes()).hexdigest() == digest


def test_the_churn_guard_holds_a_night_until_it_is_released(tmp_path: Path) -> None:
    guard = replace(ExportGuard.from_project(), max_segment_change=0.5, min_segment_size=1)
    publish(tmp_path, D1, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2", "c3", "c4"))})
    held = publish(
        tmp_path, D2, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1"))}, run_id="run2", guard=guard
    )
    exports_root = tmp_path / "exports"
    assert held["guard"] == {
        "held": True,
        "reasons": ["segment seg_a: 4 → 1 customers (-75%; the guard allows ±50%)"],
        # The same reason as fields, for the report to word in the operator's language.
        "findings": [
            {
                "kind": "segment",
                "name": "seg_a",
                "before": 4,
                "tonight": 1,
                "change": -0.75,
                "allowed": 0.5,
            }
        ],
        "holds_published_warehouse": False,
    }
    assert not (exports_root / "2026-03-02").exists()
    assert (exports_root / "held" / "2026-03-02" / "manifest.json").is_file()
    assert latest_published_night(exports_root) == D1

    # In the operator's language: Chinese unless SCRM_LANG=en, the reason from its fields.
    release = ["release", "--home", str(tmp_path), "--as-of", "2026-03-02"]
    result = CliRunner().invoke(main, release, env={"SCRM_LANG": "fr"})
    assert result.exit_code != 0 and "SCRM_LANG='fr'" in result.output
    assert latest_published_night(exports_root) == D1  # nothing released
    result = CliRunner().invoke(main, release, env={"SCRM_LANG": None})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"已发布 2026-03-02 这一晚的导出：{exports_root.resolve() / '2026-03-02'}",
        # seg_a is in no dbt manifest here: it goes by the name its exports were published with.
        "  暂缓原因：人群包 测试人群 (seg_a)：4 → 1 位客户（-75%；流失保护允许 ±50%）",
    ]
    assert latest_published_night(exports_root) == D2
    assert not (exports_root / "held" / "2026-03-02").exists()
    released = read_manifest(exports_root, D2)
    assert released["guard"]["held"] is False and "released_at" in released["guard"]
    assert released["segments"] == held["segments"]
    assert people_csv(tmp_path, D2, "seg_a.left.csv").split() == ["customer_id", "c2", "c3", "c4"]


def test_release_names_segments_and_tags_by_their_display_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`scrm release` names what held the night as the report does: the display name in the
    operator's language, as the YAML declares it (the dbt manifest), the code name beside."""
    from types import SimpleNamespace

    from orchestration.reporting import nightly_report

    dbt_manifest = {
        "nodes": {
            "model.scrm.seg_a": {
                "resource_type": "model",
                "name": "seg_a",
                "fqn": ["scrm", "segments", "seg_a"],
                "config": {
                    "meta": {
                        "segment": {"display_name": "高价值沉睡", "display_name_en": "Dormant VIPs"}
                    }
                },
                "columns": {},
            },
            "model.scrm.tag_identity": {
                "resource_type": "model",
                "name": "tag_identity",
                "fqn": ["scrm", "tags", "basic_attributes", "tag_identity"],
                "columns": {
                    "identity": {
                        "config": {
                            "meta": {"tag": {"display_name": "身份", "display_name_en": "Identity"}}
                        }
                    }
                },
            },
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(dbt_manifest), encoding="utf-8")
    monkeypatch.setattr(
        nightly_report, "dbt_project", SimpleNamespace(manifest_path=tmp_path / "manifest.json")
    )
    guard = replace(ExportGuard.from_project(), max_segment_change=0.5, min_segment_size=1)

    def night(when: date, members: tuple[str, ...], identity: float, **kwargs: Any) -> dict:
        coverage = [("identity", identity), ("skin_type", 0.4)]
        return publish(
            tmp_path,
            when,
            {
                "segments.seg_a": (SEG_A_DDL, seg_rows(*members)),
                "marts.tag_catalog": ("tag_name VARCHAR, coverage DOUBLE", coverage),
            },
            tag_coverage_relation="marts.tag_catalog",
            run_id=f"run-{when}",
            **kwargs,
        )

    night(D1, ("c1", "c2", "c3", "c4"), 0.7)
    # seg_a 4 → 1 is -75%; identity's coverage 0.7 → 0.1 is -6/7, -86%; skin_type holds.
    assert night(D2, ("c1",), 0.1, guard=guard)["guard"]["held"]
    release = ["release", "--home", str(tmp_path), "--as-of", "2026-03-02"]
    result = CliRunner().invoke(main, release, env={"SCRM_LANG": "en"})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        "  it was held for: segment Dormant VIPs (seg_a): 4 → 1 customers (-75%; the guard "
        "allows ±50%)",
        "  it was held for: tag Identity (identity): coverage 70.0% → 10.0% (-86%; the guard "
        "allows -50%)",
    ]
    # The YAML's Chinese name wins over the one the exports were published with (测试人群).
    assert nightly_report.guard_reasons(read_manifest(tmp_path / "exports", D2), "zh") == (
        "人群包 高价值沉睡 (seg_a)：4 → 1 位客户（-75%；流失保护允许 ±50%）",
        "标签 身份 (identity)：覆盖率 70.0% → 10.0%（-86%；流失保护允许 -50%）",
    )


def test_a_held_night_is_not_released_over_a_later_night(tmp_path: Path) -> None:
    guard = replace(ExportGuard.from_project(), max_segment_change=0.5, min_segment_size=1)
    publish(tmp_path, D1, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2", "c3", "c4"))})
    publish(tmp_path, D2, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1"))}, guard=guard)
    publish(tmp_path, D3, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2", "c3"))})
    with pytest.raises(PublishError, match="2026-03-03 is already published"):
        release_night(tmp_path / "exports", D2)
    with pytest.raises(PublishError, match="no held night 2026-03-01"):
        release_night(tmp_path / "exports", D1)
    # Re-published without tripping the guard, the night replaces its held copy.
    publish(tmp_path, D2, {"segments.seg_a": (SEG_A_DDL, seg_rows("c1", "c2", "c3"))}, guard=guard)
    assert not (tmp_path / "exports" / "held" / "2026-03-02").exists()
    assert read_manifest(tmp_path / "exports", D2)["guard"]["held"] is False


def test_a_collapsed_source_holds_the_night_and_its_bi_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = ExportGuard.from_project()  # the project's: -50% at most, from 100 clean rows

    def night(when: date, interactions: int, orders: int) -> dict:
        return publish(
            tmp_path,
            when,
            {
                "segments.seg_a": (SEG_A_DDL, seg_rows("c1")),
                "marts.raw_row_accounting": (
                    "source_name VARCHAR, clean_rows BIGINT",
                    [("interactions", interactions), ("orders", orders), ("products", 3)],
                ),
            },
            source_rows_relation="marts.raw_row_accounting",
            guard=guard,
            run_id=f"run-{when}",
        )

    first = night(D1, 149_000, 200)
    assert first["source_clean_rows"] == {"interactions": 149_000, "orders": 200, "products": 3}
    # orders -50% is the limit, allowed; products went 3 → 0 but 3 < min_source_rows.
    held = night(D2, 0, 100)
    assert held["guard"] == {
        "held": True,
        "reasons": ["source interactions: 149,000 → 0 clean rows (-100%; the guard allows -50%)"],
        "findings": [
            {
                "kind": "source",
                "name": "interactions",
                "before": 149_000,
                "tonight": 0,
                "change": -1.0,
                "allowed": 0.5,
            }
        ],
        "holds_published_warehouse": True,
    }
    assert (tmp_path / "exports" / "held" / "2026-03-02" / "manifest.json").is_file()
    # The published_warehouse asset reads this and keeps the BI copy back.
    from orchestration.defs.publishing.assets import collapsed_sources_held

    assert collapsed_sources_held(tmp_path / "exports", D2) == held["guard"]["reasons"]
    assert collapsed_sources_held(tmp_path / "exports", D1) == []
    # Its warning under the step in `scrm run` gives the reasons in the operator's language.
    from orchestration.defs.publishing.assets import held_reasons

    monkeypatch.delenv("SCRM_LANG", raising=False)
    assert held_reasons(tmp_path / "exports", D2) == (
        "数据源 interactions：干净行 149,000 → 0（-100%；流失保护允许 -50%）",
    )
    monkeypatch.setenv("SCRM_LANG", "en")
    assert held_reasons(tmp_path / "exports", D2) == tuple(held["guard"]["reasons"])

    # Released after review, the night's BI copy is published with its exports.
    make_warehouse(
        tmp_path / "warehouse.duckdb",
        {"marts.customer_profile": ("customer_id VARCHAR, as_of_date DATE", [("c1", D2)])},
    )
    release = ["release", "--home", str(tmp_path), "--as-of", "2026-03-02"]
    result = CliRunner().invoke(main, release, env={"SCRM_LANG": "en"})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"released the night of 2026-03-02: {(tmp_path / 'exports' / '2026-03-02').resolve()}",
        "  it was held for: source interactions: 149,000 → 0 clean rows (-100%; the guard "
        "allows -50%)",
        f"  its BI copy is published: {(tmp_path / 'published').resolve()}",
    ]
    assert published_night(tmp_path / "published") == D2
    assert collapsed_sources_held(tmp_path / "exports", D2) == []


def test_the_manifest_records_tag_coverage(tmp_path: Path) -> None:
    manifest = publish(
        tmp_path,
        D1,
        {
            "segments.seg_a": (SEG_A_DDL, seg_rows("c1")),
            "marts.tag_catalog": (
                "tag_name VARCHAR, coverage DOUBLE",
                [("identity", 0.7), ("skin_type", 0.4), ("no_value", None)],
            ),
        },
        tag_coverage_relation="marts.tag_catalog",
    )
    assert manifest["tag_coverage"] == {"identity": 0.7, "skin_type": 0.4}
