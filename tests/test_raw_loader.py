"""The raw loader: the contract's file-level rules and verbatim, numbered loading.

Its errors are for whoever delivers the files, in the operator's language: the rules are
matched in English here (SCRM_LANG=en), and the Chinese of a missing file and of a changed
or removed delivery is asserted whole."""

import hashlib
import os
import shutil
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration import raw_loader
from orchestration.language import LANGUAGE_VARIABLE, speaking
from orchestration.raw_loader import RawDataError, load_raw_sources
from tests.conftest import TINY_RAW, query

LOADED_AT = datetime(2026, 4, 30, 4, 0)


@pytest.fixture(autouse=True)
def english(monkeypatch):
    monkeypatch.setenv(LANGUAGE_VARIABLE, "en")


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    target = tmp_path / "raw"
    shutil.copytree(TINY_RAW, target)
    return target


def load(raw_dir: Path, tmp_path: Path):
    return load_raw_sources(raw_dir, tmp_path / "home" / "warehouse.duckdb", LOADED_AT)


def test_rows_are_loaded_verbatim_and_numbered(raw_dir, tmp_path):
    results = load(raw_dir, tmp_path)
    assert {name: result.rows for name, result in results.items()} == {
        "customers": 9,
        "products": 5,
        "orders": 14,
        "order_items": 12,
        "friend_events": 12,
        "interactions": 11,
        "identity_links": 6,
        # Optional, not in the fixture: taken in empty.
        "groups": 0,
        "group_members": 0,
        "staff_tags": 0,
        "tag_library": 0,
    }
    rows = query(
        tmp_path / "home" / "warehouse.duckdb",
        "select _raw_row_number, order_id, total_amount, _source_file from raw.orders"
        " where _raw_row_number in (1, 13) order by 1",
    )
    # Text stays text, quoted commas included.
    assert rows == [(1, "O1", "198.00", "orders.csv"), (13, "O12", "1,299.00", "orders.csv")]


def test_missing_file_is_named(raw_dir, tmp_path):
    (raw_dir / "interactions.csv").unlink()
    with pytest.raises(RawDataError, match=r"interactions.*missing.*interactions\.csv"):
        load(raw_dir, tmp_path)
    with speaking("zh"), pytest.raises(RawDataError) as error:
        load(raw_dir, tmp_path)
    assert str(error.value) == (
        f"缺少数据源「interactions」的原始文件：应有 {raw_dir}/interactions.csv 或 "
        f"{raw_dir}/interactions.parquet\uff0c或存放交付文件的文件夹 {raw_dir}/interactions/"
    )


def test_an_optional_source_not_delivered_is_taken_in_empty(raw_dir, tmp_path):
    (raw_dir / "identity_links.csv").unlink()
    results = load(raw_dir, tmp_path)
    assert (results["identity_links"].rows, results["identity_links"].deliveries) == (0, ())
    columns = query(
        tmp_path / "home" / "warehouse.duckdb",
        "select column_name from information_schema.columns"
        " where table_schema = 'raw' and table_name = 'identity_links' order by ordinal_position",
    )
    assert [name for (name,) in columns][:4] == ["id_a", "id_b", "link_type", "linked_at"]


def test_an_optional_source_taken_in_before_may_not_vanish(raw_dir, tmp_path):
    load(raw_dir, tmp_path)
    (raw_dir / "identity_links.csv").unlink()
    with pytest.raises(
        RawDataError,
        match=r"'identity_links' has no file or folder now, but identity_links\.csv was taken in",
    ):
        load(raw_dir, tmp_path)


def test_missing_required_column_names_file_and_column(raw_dir, tmp_path):
    frame = pd.read_csv(raw_dir / "orders.csv", dtype=str).drop(columns=["status"])
    frame.to_csv(raw_dir / "orders.csv", index=False)
    with pytest.raises(RawDataError, match=r"orders\.csv: required column\(s\) missing: status"):
        load(raw_dir, tmp_path)


def test_optional_columns_may_be_absent_and_files_header_only(raw_dir, tmp_path):
    (raw_dir / "interactions.csv").write_text(
        "interaction_id,customer_id,interaction_ts,interaction_type\n", encoding="utf-8"
    )
    results = load(raw_dir, tmp_path)
    assert results["interactions"].rows == 0
    assert results["interactions"].absent_optional_columns == (
        "staff_id",
        "content_id",
        "topic",
        "duration_s",
    )
    columns = query(
        tmp_path / "home" / "warehouse.duckdb",
        "select column_name from information_schema.columns"
        " where table_schema = 'raw' and table_name = 'interactions' order by ordinal_position",
    )
    assert [c for (c,) in columns][:8] == [
        "interaction_id",
        "customer_id",
        "staff_id",
        "interaction_ts",
        "interaction_type",
        "content_id",
        "topic",
        "duration_s",
    ]


def test_unreadable_file_is_named(raw_dir, tmp_path):
    with (raw_dir / "products.csv").open("a", encoding="utf-8") as handle:
        handle.write("SKU9,too,many,columns,here,1,2,3\n")
    with pytest.raises(RawDataError, match=r"products\.csv: cannot be read"):
        load(raw_dir, tmp_path)


def test_parquet_loads_the_same_rows_as_csv(raw_dir, tmp_path):
    csv_rows = load(raw_dir, tmp_path / "csv")
    frame = pd.read_csv(raw_dir / "orders.csv", dtype=str, keep_default_na=False)
    (raw_dir / "orders.csv").unlink()
    frame.replace("", None).to_parquet(raw_dir / "orders.parquet", index=False)
    parquet_rows = load(raw_dir, tmp_path / "parquet")
    assert parquet_rows["orders"].rows == csv_rows["orders"].rows == 14
    select = "select * exclude (_loaded_at, _source_file) from raw.orders order by 1"
    assert query(tmp_path / "csv" / "home" / "warehouse.duckdb", select) == query(
        tmp_path / "parquet" / "home" / "warehouse.duckdb", select
    )


def test_both_formats_for_one_source_is_an_error(raw_dir, tmp_path):
    pd.read_csv(raw_dir / "products.csv", dtype=str).to_parquet(raw_dir / "products.parquet")
    with pytest.raises(RawDataError, match="keep exactly one"):
        load(raw_dir, tmp_path)


def test_a_bad_file_leaves_the_previous_load_untouched(raw_dir, tmp_path):
    load(raw_dir, tmp_path)
    (raw_dir / "orders.csv").write_text("order_id\nX\n", encoding="utf-8")
    with pytest.raises(RawDataError):
        load(raw_dir, tmp_path)
    with duckdb.connect(str(tmp_path / "home" / "warehouse.duckdb")) as connection:
        assert connection.execute("select count(*) from raw.orders").fetchall() == [(14,)]


def test_text_parquet_is_read_by_duckdb_with_the_rows_of_the_batch_reader(tmp_path):
    """A Parquet file of text columns is loaded by DuckDB itself (the fast path); a file with
    any other column type goes through the batch reader. Both give the same raw table."""
    text_dir, typed_dir = tmp_path / "text", tmp_path / "typed"
    shutil.copytree(TINY_RAW, text_dir)
    shutil.copytree(TINY_RAW, typed_dir)
    frame = pd.read_csv(TINY_RAW / "orders.csv", dtype=str, keep_default_na=False)
    frame = frame.replace("", None).drop(columns=["discount_amount"])  # optional: absent
    for raw_dir in (text_dir, typed_dir):
        (raw_dir / "orders.csv").unlink()
    frame.astype("string").to_parquet(text_dir / "orders.parquet", index=False)
    # One column of another type sends the file through the batch reader, cast to text.
    typed = frame.astype("string").assign(ship_province=pd.Categorical(frame["ship_province"]))
    typed.to_parquet(typed_dir / "orders.parquet", index=False)
    for raw_dir, is_text in ((text_dir, True), (typed_dir, False)):
        delivery = raw_loader.CheckedDelivery(
            raw_dir / "orders.parquet", "orders.parquet", True, tuple(frame.columns)
        )
        assert raw_loader._is_text_parquet(delivery) is is_text

    results = {
        name: load(path, tmp_path / name) for name, path in (("a", text_dir), ("b", typed_dir))
    }
    assert results["a"]["orders"].absent_optional_columns == (
        "discount_amount",
        "buyer_phone",
        "updated_at",
    )
    select = "select * from raw.orders order by _raw_row_number"
    text_rows = query(tmp_path / "a" / "home" / "warehouse.duckdb", select)
    assert text_rows == query(tmp_path / "b" / "home" / "warehouse.duckdb", select)
    assert [row[0] for row in text_rows][:2] == ["O1", "O2"]
    # A full file dates nothing: `_delivered_on` is null.
    assert text_rows[12][:1] + text_rows[12][-4:] == ("O12", 13, "orders.parquet", LOADED_AT, None)
    assert {row[10] for row in text_rows} == {None}  # discount_amount, absent from the file
    # Each row's position in the file, from 1 with no gap or repeat, on both paths: the
    # sources YAML leaves the uniqueness of `_raw_row_number` to the loader.
    assert [row[-4] for row in text_rows] == list(range(1, len(frame) + 1))


def test_text_parquet_is_read_where_it_lies_and_a_night_may_change_format(raw_dir, tmp_path):
    """A text Parquet file becomes a view on the file, any other file a table; the next night
    replaces either with either."""
    warehouse = tmp_path / "home" / "warehouse.duckdb"
    kind = (
        "select table_type from information_schema.tables"
        " where table_schema = 'raw' and table_name = 'orders'"
    )
    select = "select * exclude (_source_file) from raw.orders order by _raw_row_number"
    load(raw_dir, tmp_path)
    assert query(warehouse, kind) == [("BASE TABLE",)]
    from_csv = query(warehouse, select)

    frame = pd.read_csv(raw_dir / "orders.csv", dtype=str, keep_default_na=False)
    (raw_dir / "orders.csv").unlink()
    frame.replace("", None).astype("string").to_parquet(raw_dir / "orders.parquet", index=False)
    load(raw_dir, tmp_path)
    assert query(warehouse, kind) == [("VIEW",)]
    assert query(warehouse, select) == from_csv
    # Read where it lies: the view sees the file as it is when read.
    frame.head(3).replace("", None).astype("string").to_parquet(raw_dir / "orders.parquet")
    assert query(warehouse, "select count(*) from raw.orders") == [(3,)]

    (raw_dir / "orders.parquet").unlink()
    frame.to_csv(raw_dir / "orders.csv", index=False)
    load(raw_dir, tmp_path)
    assert query(warehouse, kind) == [("BASE TABLE",)]
    assert query(warehouse, select) == from_csv


# --- deliveries: a folder per source, taken in in name order ---------------------------------

LEDGER_ROWS = (
    "select source_name, delivery, is_full, sha256, rows, taken_in_night "
    "from audit.raw_deliveries where source_name = ? order by taken_in_at, delivery"
)


def deliver(raw_dir: Path, source: str, name: str, lines: list[str]) -> Path:
    """Write one delivery of `source` (header from the fixture's file) into its folder."""
    header = (TINY_RAW / f"{source}.csv").read_text(encoding="utf-8").splitlines()[0]
    path = raw_dir / source / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ledger(tmp_path: Path, source: str) -> list[tuple]:
    warehouse = tmp_path / "home" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(LEDGER_ROWS, [source]).fetchall()


NIGHT_1, NIGHT_2 = date(2026, 11, 22), date(2026, 11, 23)
I1 = "I1,C1,S1,2026-11-21 10:00:00,chat_in,,售后,"
I2 = "I2,C1,S1,2026-11-21 10:01:00,chat_out,,售后,"
I3 = "I3,C2,S1,2026-11-22 09:00:00,chat_in,,物流,"


def test_deliveries_are_taken_in_in_name_order_and_recorded(raw_dir, tmp_path):
    (raw_dir / "interactions.csv").unlink()
    # Written out of order: the names decide.
    second = deliver(raw_dir, "interactions", "2026-11-22.csv", [I3])
    first = deliver(raw_dir, "interactions", "2026-11-21.csv", [I1, I2])
    (raw_dir / "interactions" / ".2026-11-23.csv.uploading").write_text("partial")
    results = load_raw_sources(raw_dir, tmp_path / "home" / "warehouse.duckdb", LOADED_AT, NIGHT_1)
    assert results["interactions"].rows == 3
    assert results["interactions"].deliveries == (
        "interactions/2026-11-21.csv",
        "interactions/2026-11-22.csv",
    )
    assert query(
        tmp_path / "home" / "warehouse.duckdb",
        "select interaction_id, _raw_row_number, _source_file from raw.interactions order by 2",
    ) == [
        ("I1", 1, "interactions/2026-11-21.csv"),
        ("I2", 2, "interactions/2026-11-21.csv"),
        ("I3", 3, "interactions/2026-11-22.csv"),
    ]
    assert ledger(tmp_path, "interactions") == [
        ("interactions", "interactions/2026-11-21.csv", False, sha256(first), 2, NIGHT_1),
        ("interactions", "interactions/2026-11-22.csv", False, sha256(second), 1, NIGHT_1),
    ]
    # A full file is a delivery too, recorded again only when it changes.
    orders = raw_dir / "orders.csv"
    full = ("orders", "orders.csv", True, sha256(orders), 14, NIGHT_1)
    assert ledger(tmp_path, "orders") == [full]

    third = deliver(raw_dir, "interactions", "2026-11-23.csv", [])
    orders.write_text(orders.read_text(encoding="utf-8").replace("198.00", "199.00"))
    results = load_raw_sources(raw_dir, tmp_path / "home" / "warehouse.duckdb", LOADED_AT, NIGHT_2)
    assert results["interactions"].new_deliveries == ("interactions/2026-11-23.csv",)
    assert results["customers"].new_deliveries == ()
    assert ledger(tmp_path, "interactions")[2:] == [
        ("interactions", "interactions/2026-11-23.csv", False, sha256(third), 0, NIGHT_2),
    ]
    assert ledger(tmp_path, "orders") == [full, (*full[:3], sha256(orders), 14, NIGHT_2)]


LOADED_AT_2 = datetime(2026, 5, 1, 4, 0)


def test_a_night_appends_the_new_deliveries_and_keeps_an_unchanged_full_file(raw_dir, tmp_path):
    """Staging takes the rows loaded after its own latest rows (`_loaded_at`): a folder keeps
    the rows it was given, with their load time, and appends the new deliveries after them,
    in the order they are taken in; an unchanged full file keeps its load time."""
    warehouse = tmp_path / "home" / "warehouse.duckdb"
    (raw_dir / "interactions.csv").unlink()
    deliver(raw_dir, "interactions", "2026-11-22.csv", [I1, I2])
    load_raw_sources(raw_dir, warehouse, LOADED_AT, NIGHT_1)
    # Arrived late: named before the delivery already taken in, it is numbered after it.
    deliver(raw_dir, "interactions", "2026-11-21.csv", [I3])
    deliver(raw_dir, "interactions", "2026-11-23.csv", [I3.replace("I3", "I4")])
    results = load_raw_sources(raw_dir, warehouse, LOADED_AT_2, NIGHT_2)
    assert results["interactions"].rows == 4
    assert query(
        warehouse,
        "select interaction_id, _raw_row_number, _source_file, _loaded_at"
        " from raw.interactions order by 2",
    ) == [
        ("I1", 1, "interactions/2026-11-22.csv", LOADED_AT),
        ("I2", 2, "interactions/2026-11-22.csv", LOADED_AT),
        ("I3", 3, "interactions/2026-11-21.csv", LOADED_AT_2),
        ("I4", 4, "interactions/2026-11-23.csv", LOADED_AT_2),
    ]
    assert [row[1:] for row in ledger(tmp_path, "interactions")] == [
        ("interactions/2026-11-22.csv", False, sha256(raw_dir / "interactions" / name), rows, night)
        for name, rows, night in (("2026-11-22.csv", 2, NIGHT_1),)
    ] + [
        (
            "interactions/2026-11-21.csv",
            False,
            sha256(raw_dir / "interactions" / "2026-11-21.csv"),
            1,
            NIGHT_2,
        ),
        (
            "interactions/2026-11-23.csv",
            False,
            sha256(raw_dir / "interactions" / "2026-11-23.csv"),
            1,
            NIGHT_2,
        ),
    ]
    # The full files did not change: their rows keep the first night's load time.
    assert query(warehouse, "select distinct _loaded_at from raw.orders") == [(LOADED_AT,)]

    # A full file replaces every delivery before it, and a folder after it starts anew.
    (raw_dir / "orders.csv").write_text(
        (raw_dir / "orders.csv").read_text(encoding="utf-8").replace("198.00", "199.00")
    )
    shutil.rmtree(raw_dir / "interactions")
    shutil.copyfile(TINY_RAW / "interactions.csv", raw_dir / "interactions.csv")
    loaded_at_3 = datetime(2026, 5, 2, 4, 0)
    load_raw_sources(raw_dir, warehouse, loaded_at_3, date(2026, 11, 24))
    assert query(
        warehouse,
        "select count(*), min(_raw_row_number), max(_raw_row_number), any_value(_source_file),"
        " any_value(_loaded_at) from raw.interactions",
    ) == [(11, 1, 11, "interactions.csv", loaded_at_3)]
    assert query(warehouse, "select distinct _loaded_at from raw.orders") == [(loaded_at_3,)]
    (raw_dir / "interactions.csv").unlink()
    deliver(raw_dir, "interactions", "2026-11-25.csv", [I1])
    load_raw_sources(raw_dir, warehouse, LOADED_AT_2.replace(day=3), date(2026, 11, 25))
    assert query(
        warehouse, "select interaction_id, _raw_row_number, _source_file from raw.interactions"
    ) == [("I1", 1, "interactions/2026-11-25.csv")]


def test_a_changed_or_removed_delivery_stops_the_night_and_takes_in_nothing(raw_dir, tmp_path):
    (raw_dir / "interactions.csv").unlink()
    first = deliver(raw_dir, "interactions", "2026-11-21.csv", [I1, I2])
    load_raw_sources(raw_dir, tmp_path / "home" / "warehouse.duckdb", LOADED_AT, NIGHT_1)
    before = ledger(tmp_path, "interactions")

    # Same size, other bytes: the new modification time sends the file to be hashed again.
    stat = first.stat()
    first.write_text(first.read_text(encoding="utf-8").replace("售后", "退款"), encoding="utf-8")
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    deliver(raw_dir, "interactions", "2026-11-22.csv", [I3])
    with pytest.raises(
        RawDataError,
        match=r"2026-11-21\.csv: changed since the night of 2026-11-22 took it in .*immutable",
    ):
        load_raw_sources(raw_dir, tmp_path / "home" / "warehouse.duckdb", LOADED_AT, NIGHT_2)
    with speaking("zh"), pytest.raises(RawDataError) as error:
        load_raw_sources(raw_dir, tmp_path / "home" / "warehouse.duckdb", LOADED_AT, NIGHT_2)
    changed = str(error.value)
    assert changed.startswith(
        f"{first}：在 2026-11-22 这一晚接收之后被改动过（sha256 原为 "
    ) and changed.endswith("…）：交付文件一经接收就不可更改；请把改动作为一个新文件交付")
    assert ledger(tmp_path, "interactions") == before
    assert query(
        tmp_path / "home" / "warehouse.duckdb", "select count(*) from raw.interactions"
    ) == [(2,)]

    first.unlink()
    with pytest.raises(
        RawDataError,
        match=r"delivery interactions/2026-11-21\.csv was taken in on the night of 2026-11-22 "
        r"and is missing now",
    ):
        load_raw_sources(raw_dir, tmp_path / "home" / "warehouse.duckdb", LOADED_AT, NIGHT_2)
    with speaking("zh"), pytest.raises(RawDataError) as error:
        load_raw_sources(raw_dir, tmp_path / "home" / "warehouse.duckdb", LOADED_AT, NIGHT_2)
    assert str(error.value) == (
        "交付文件 interactions/2026-11-21.csv 已在 2026-11-22 这一晚接收\uff0c现在却不见了："
        "交付文件一经接收就不可更改。请放回原处\uff0c或把该数据源重新作为一个全量文件交付"
        "（全量文件替换之前所有的交付）"
    )
    assert ledger(tmp_path, "interactions") == before


def test_a_folder_holds_deliveries_only_and_a_source_arrives_one_way(raw_dir, tmp_path):
    deliver(raw_dir, "orders", "2026-11-21.csv", [])
    with pytest.raises(RawDataError, match=r"both the full file .*orders\.csv and the delivery"):
        load(raw_dir, tmp_path)
    (raw_dir / "orders.csv").unlink()
    (raw_dir / "orders" / "2026-11-22.csv.gz").write_bytes(b"")
    with pytest.raises(RawDataError, match=r"2026-11-22\.csv\.gz: not a delivery"):
        load(raw_dir, tmp_path)


def test_parquet_deliveries_are_numbered_on_like_the_batch_reader(raw_dir, tmp_path):
    """Text Parquet deliveries are one view over the files; the same deliveries as CSV go
    through the batch reader. Both number the rows on across the deliveries."""
    frame = pd.read_csv(raw_dir / "orders.csv", dtype=str, keep_default_na=False)
    frame = frame.replace("", None).astype("string")
    (raw_dir / "orders.csv").unlink()
    (raw_dir / "orders").mkdir()
    csv_dir = tmp_path / "csv_raw"
    shutil.copytree(raw_dir, csv_dir)
    for name, part in (("2026-11-21", frame.iloc[:5]), ("2026-11-22", frame.iloc[5:])):
        part.to_parquet(raw_dir / "orders" / f"{name}.parquet", index=False)
        part.to_csv(csv_dir / "orders" / f"{name}.csv", index=False)
    load(raw_dir, tmp_path / "parquet")
    load(csv_dir, tmp_path / "csv")
    select = (
        "select order_id, _raw_row_number, replace(_source_file, '.csv', '.parquet') "
        "from raw.orders order by _raw_row_number"
    )
    from_parquet = query(tmp_path / "parquet" / "home" / "warehouse.duckdb", select)
    assert from_parquet == query(tmp_path / "csv" / "home" / "warehouse.duckdb", select)
    assert from_parquet[4:6] == [
        ("O5", 5, "orders/2026-11-21.parquet"),
        ("O6", 6, "orders/2026-11-22.parquet"),
    ]
    assert len(from_parquet) == 14


def test_a_delivery_is_dated_by_the_day_its_name_starts_with():
    def dated(name: str, *, is_full: bool = False):
        return raw_loader.Delivery(Path("orders") / name, f"orders/{name}", is_full).delivered_on

    assert dated("2026-11-22.parquet") == date(2026, 11, 22)
    assert dated("2026-11-22T0300.csv") == date(2026, 11, 22)
    assert dated("20261122_orders.csv") == date(2026, 11, 22)
    assert dated("history.csv") is None
    assert dated("2026-13-45.csv") is None  # not a day
    assert dated("202611221.csv") is None  # nine digits: not a day
    assert dated("2026-11-22.csv", is_full=True) is None  # a full file dates nothing
