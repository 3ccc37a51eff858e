"""A source delivered as a folder of files is the same source as one whole file."""

import shutil
from datetime import date, datetime
from pathlib import Path

import pytest

from orchestration.cli import run_night
from tests.conftest import (
    TINY_AS_OF,
    TINY_RAW,
    TINY_RUN_STARTED_AT,
    connect_warehouse,
    night_fixture,
    query,
)
from tests.test_incremental import incremental_models
from tests.test_point_in_time import assert_same_night

# The key whose rows must arrive in one delivery to mean what they meant in one file: the
# versions of a key, and the lines of an order (a later delivery would supersede them).
DELIVERED_TOGETHER = {"customers": 0, "products": 0, "orders": 0, "order_items": 0}


def split_into_deliveries(source_file: Path, folder: Path) -> list[Path]:
    """The file's rows in two deliveries, the header on each, the first named earlier; the
    rows of one key (DELIVERED_TOGETHER) stay in the delivery of the key's first row. The names
    carry no date, so that no status is dated from its delivery, as in one whole file."""
    header, *rows = source_file.read_text(encoding="utf-8").splitlines()
    key_column = DELIVERED_TOGETHER.get(source_file.stem)
    first_half = len(rows) // 2
    early_keys = (
        {row.split(",")[key_column] for row in rows[:first_half]}
        if key_column is not None
        else set()
    )
    parts: tuple[list[str], list[str]] = ([], [])
    for number, row in enumerate(rows):
        is_early = number < first_half or (
            key_column is not None and row.split(",")[key_column] in early_keys
        )
        parts[0 if is_early else 1].append(row)
    folder.mkdir(parents=True)
    written = []
    for name, part in zip(("part-1.csv", "part-2.csv"), parts, strict=True):
        (folder / name).write_text("\n".join([header, *part]) + "\n", encoding="utf-8")
        written.append(folder / name)
    return written


def test_every_source_delivered_in_two_files_gives_the_same_night(tiny_warehouse, tmp_path):
    raw = tmp_path / "landing"
    raw.mkdir()
    for source_file in sorted(TINY_RAW.glob("*.csv")):
        split_into_deliveries(source_file, raw / source_file.stem)
    home = tmp_path / "home"
    result = run_night(raw, home, TINY_AS_OF, TINY_RUN_STARTED_AT)
    assert result.success
    # Every computed table, the row accounting included: the same rows, whole file or not.
    assert_same_night(tiny_warehouse, home / "warehouse.duckdb", TINY_AS_OF, set())
    assert query(
        home / "warehouse.duckdb",
        "select count(*), count(distinct source_name), sum(rows) from audit.raw_deliveries",
    ) == [(14, 7, 69)]


# A second day's deliveries on top of the tiny fixture (delivered whole on 2026-03-30).
SECOND_DAY = {
    "customers": [
        # C2 moved up a member level: the new version wins.
        "C2,M,,广东省,深圳市,金卡,2026-02-10T02:00:00+00:00,上班族,",
        # C6 came twice with different genders (a conflict); one clean version settles it.
        "C6,F,,,,,2026-01-01 00:00:00,,",
    ],
    "products": [
        # SKU1 is now a sheet mask, used up in 28 days.
        "SKU1,补水面膜,贴片面膜,99.00,2025-06-01,28",
    ],
    "orders": [
        # O5 refunded since; O13 delivered again unchanged; O14 new.
        "O5,C3,2026-03-10 10:00:00,,,,2026-03-20 10:00:00,refunded,wechat_shop,119.00,10.00,上海市",
        "O13,C6,2026-03-15 10:00:00,2026-03-15 10:00:30,,,,paid,wechat_shop,10.00,,",
        "O14,C1,2026-03-30 10:00:00,2026-03-30 10:01:00,,,,paid,wechat_shop,88.00,,浙江省",
    ],
    "order_items": [
        # O5's lines now: one line of two, replacing both lines delivered before (one of them
        # quarantined for its unknown SKU9).
        "O5,1,SKU3,2,129.00,258.00",
        "O14,1,SKU1,1,88.00,88.00",
    ],
}


def write_landing(
    landing: Path, *, second_day: bool, first_delivery: str = "2026-03-30.csv"
) -> None:
    """Every source as a delivery folder: the tiny fixture as the first day's delivery, and
    SECOND_DAY's rows as the second's."""
    for source_file in sorted(TINY_RAW.glob("*.csv")):
        folder = landing / source_file.stem
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source_file, folder / first_delivery)
        if second_day and source_file.stem in SECOND_DAY:
            header = source_file.read_text(encoding="utf-8").splitlines()[0]
            rows = SECOND_DAY[source_file.stem]
            (folder / "2026-03-31.csv").write_text(
                "\n".join([header, *rows]) + "\n", encoding="utf-8"
            )


@night_fixture(scope="module")
def two_days_delivered(tmp_path_factory):
    """The first day's deliveries taken in on the night of 2026-03-30, then the second day's on
    the next night in two homes: incrementally, and in full (the incremental tables dropped
    after the first night, as test_incremental does)."""
    root = tmp_path_factory.mktemp("two_days")
    landing, incremental, full = root / "landing", root / "incremental", root / "full"
    write_landing(landing, second_day=False)
    assert run_night(landing, incremental, "2026-03-30", TINY_RUN_STARTED_AT).success
    shutil.copytree(incremental, full, symlinks=True)
    with connect_warehouse(full / "warehouse.duckdb") as connection:
        for model in incremental_models():
            connection.execute(f"drop table {model}")
    write_landing(landing, second_day=True)
    for home in (incremental, full):
        assert run_night(landing, home, TINY_AS_OF, TINY_RUN_STARTED_AT).success
    return full / "warehouse.duckdb", incremental / "warehouse.duckdb"


def test_the_latest_version_wins_and_the_earlier_are_counted(two_days_delivered):
    warehouse, _ = two_days_delivered
    accounting = query(
        warehouse,
        "select source_name, raw_rows, clean_rows, quarantined_rows, duplicate_rows,"
        " superseded_rows, is_balanced from marts.raw_row_accounting"
        " where source_name in ('customers', 'orders', 'order_items') order by 1",
    )
    # customers: 9 + 2 rows; C1 twice (a duplicate), C2's first version and both of C6's
    # conflicting ones superseded, the row without an id quarantined. orders: 14 + 3; O1 twice,
    # O5's and O13's first versions superseded, O7 (unknown C9), O8-O11 (contract) and O12
    # (amount "1,299.00") quarantined; O13 is clean now that C6 is. order_items: 12 + 2; O3 line
    # 1 twice, O5's two first lines superseded, O1 line 3 (quantity 0), O2's two line 2s (a
    # conflict) and O7's line (its order quarantined) quarantined.
    assert accounting == [
        ("customers", 11, 6, 1, 1, 3, True),
        ("order_items", 14, 7, 4, 1, 2, True),
        ("orders", 17, 8, 6, 1, 2, True),
    ]
    assert query(
        warehouse,
        "select customer_id, member_level, gender from marts.dim_customers"
        " where customer_id in ('C2', 'C6') order by 1",
    ) == [("C2", "金卡", "M"), ("C6", None, "F")]
    assert query(
        warehouse,
        "select order_id, order_status, item_quantity from marts.fct_orders"
        " where order_id in ('O5', 'O13', 'O14') order by 1",
    ) == [("O13", "paid", 0), ("O14", "paid", 1), ("O5", "refunded", 2)]
    assert query(
        warehouse,
        "select order_id, line_number, sku_id, quantity from marts.fct_order_items"
        " where order_id = 'O5'",
    ) == [("O5", 1, "SKU3", 2)]
    # A superseded row is not quarantined: SKU9's line of O5 left the quarantine with it.
    assert query(
        warehouse, "select count(*) from marts.quarantine_order_items where order_id = 'O5'"
    ) == [(0,)]


def test_attributes_are_kept_as_history_and_a_night_uses_its_own(two_days_delivered, tmp_path):
    warehouse, _ = two_days_delivered
    # C2's first version stands until the second day's delivery dated it 31 March.
    assert query(
        warehouse,
        "select version_number, valid_from, valid_to, is_current, member_level"
        " from marts.dim_customer_history where customer_id = 'C2' order by 1",
    ) == [
        (1, None, datetime(2026, 3, 31), False, "普通会员"),
        (2, datetime(2026, 3, 31), None, True, "金卡"),
    ]
    sku1 = (
        "select category, consumption_cycle_days from marts.dim_products where sku_id = 'SKU1'"
        " union all select distinct category, null from marts.fct_order_items"
        " where sku_id = 'SKU1'"
    )
    assert query(warehouse, sku1) == [("贴片面膜", 28), ("贴片面膜", None)]
    # The night of 30 March rebuilt with both days delivered: the second day's versions are
    # dated after it, so the night has the attributes it had.
    landing = tmp_path / "landing"
    write_landing(landing, second_day=True)
    home = tmp_path / "home"
    assert run_night(landing, home, "2026-03-30", TINY_RUN_STARTED_AT).success
    rebuilt = home / "warehouse.duckdb"
    assert query(
        rebuilt,
        "select version_number, valid_from, valid_to, is_current, member_level"
        " from marts.dim_customer_history where customer_id = 'C2'",
    ) == [(1, None, None, True, "普通会员")]
    assert query(
        rebuilt, "select member_level from marts.dim_customers where customer_id = 'C2'"
    ) == [("普通会员",)]
    assert query(rebuilt, sku1) == [("面膜", 30), ("面膜", None)]


def test_a_day_taken_in_incrementally_equals_a_full_build(two_days_delivered):
    full, incremental = two_days_delivered
    # Every computed table, the row accounting included.
    assert_same_night(full, incremental, TINY_AS_OF, set())
    for source in ("customers", "orders", "order_items"):
        columns = "* exclude (_written_at)" if source != "customers" else "*"
        select = f"select {columns} from marts.quarantine_{source} order by all"
        assert query(full, select) == query(incremental, select), source


def test_a_night_stages_only_the_new_deliveries_and_the_keys_they_touch(two_days_delivered):
    """Staging reads the rows loaded after the latest it holds (the second day's deliveries)
    and stages again the stored rows of the keys those touch, and of a key whose verdict
    depends on the run's clock (O10, dated 2099). Nothing else is read or written."""
    _, incremental = two_days_delivered
    written_last = (
        "select order_id, _raw_row_number from staging.stg_raw__{0} where _written_at ="
        " (select max(_written_at) from staging.stg_raw__{0}) order by 2"
    )
    # O5 and O13 delivered again, O14 new; the first day's O5, O10 and O13 staged again.
    assert query(incremental, written_last.format("orders")) == [
        ("O5", 5), ("O10", 10), ("O13", 14), ("O5", 15), ("O13", 16), ("O14", 17),
    ]  # fmt: skip
    # O5's two lines replaced by one line; O14's line.
    assert query(incremental, written_last.format("order_items")) == [
        ("O5", 5), ("O5", 8), ("O5", 13), ("O14", 14),
    ]  # fmt: skip
    # The first day's rows keep their load time: they were not loaded again.
    assert query(
        incremental,
        "select _source_file, count(distinct _loaded_at), count(*) from raw.orders"
        " group by 1 order by 1",
    ) == [("orders/2026-03-30.csv", 1, 14), ("orders/2026-03-31.csv", 1, 3)]


ERASED_NIGHT = "2026-04-01"


@pytest.fixture(scope="module")
def erasure_delivered(two_days_delivered, tmp_path_factory):
    """A third day delivers C1's erasure request (a tombstone), taken in on 2026-04-01 by
    copies of both homes: incrementally, and in full."""
    full_before, incremental_before = two_days_delivered
    root = tmp_path_factory.mktemp("erasure")
    landing = root / "landing"
    write_landing(landing, second_day=True)
    (landing / "customers" / "2026-04-01.csv").write_text(
        "customer_id,_deleted\nC1,true\n", encoding="utf-8"
    )
    incremental, full = root / "incremental", root / "full"
    shutil.copytree(incremental_before.parent, incremental, symlinks=True)
    shutil.copytree(full_before.parent, full, symlinks=True)
    with connect_warehouse(full / "warehouse.duckdb") as connection:
        for model in incremental_models():
            connection.execute(f"drop table {model}")
    for home in (incremental, full):
        assert run_night(landing, home, ERASED_NIGHT, TINY_RUN_STARTED_AT).success
    return full, incremental


def tables_with_customers(warehouse: Path) -> list[str]:
    return [
        f"{schema}.{table}"
        for schema, table in query(
            warehouse,
            "select table_schema, table_name from information_schema.columns"
            " where column_name = 'customer_id' and table_schema in ('marts', 'tags')"
            " order by 1, 2",
        )
    ]


def test_an_erased_customer_leaves_every_mart_and_every_night_kept(erasure_delivered):
    _, home = erasure_delivered
    warehouse = home / "warehouse.duckdb"
    assert query(warehouse, "select * from marts.customer_erasures") == [
        ("C1", None, "customers/2026-04-01.csv")
    ]
    # C1's rows: customers, the first version superseded by the tombstone, which is erased
    # (the copy stays a duplicate); orders O1, O2, O6 and O14 (O1's copy a duplicate); their
    # seven lines, the quarantined ones too; friend events E1 and E11 (quarantined before);
    # interactions I1, I2 and I6; the link C1 - u_c1 (its copy a duplicate).
    assert query(
        warehouse,
        "select source_name, raw_rows, clean_rows, quarantined_rows, duplicate_rows,"
        " superseded_rows, erased_rows, is_balanced from marts.raw_row_accounting order by 1",
    ) == [
        ("customers", 12, 5, 1, 1, 4, 1, True),
        ("friend_events", 12, 8, 1, 1, 0, 2, True),
        ("group_members", 0, 0, 0, 0, 0, 0, True),
        ("groups", 0, 0, 0, 0, 0, 0, True),
        ("identity_links", 6, 3, 1, 1, 0, 1, True),
        ("interactions", 11, 3, 4, 1, 0, 3, True),
        ("order_items", 14, 3, 1, 1, 2, 7, True),
        ("orders", 17, 4, 6, 1, 2, 4, True),
        ("products", 6, 4, 1, 0, 1, 0, True),
        ("staff_tags", 0, 0, 0, 0, 0, 0, True),
        ("tag_library", 0, 0, 0, 0, 0, 0, True),
    ]
    tables = tables_with_customers(warehouse)
    assert {
        "marts.customer_profile_history",
        "marts.segment_membership",
        "marts.tag_changes",
        "marts.fct_orders",
        "marts.customer_rfm",
    } <= set(tables)
    # Only the record of the request, and the empty remark that clears the one sent.
    still_there = {"marts.customer_erasures", "marts.wecom_customer_remarks"}
    for table in tables:
        found = query(warehouse, f"select count(*) from {table} where customer_id = 'C1'")
        assert found == [(1 if table in still_there else 0,)], table
    assert query(
        warehouse, "select remark from marts.wecom_customer_remarks where customer_id = 'C1'"
    ) == [("",)]
    # The nights kept before the request had C1, and lost them.
    assert query(
        warehouse, "select count(distinct as_of_date) from marts.customer_profile_history"
    ) == [(3,)]
    # Staging keeps the rows, for the accounting, without a personal attribute.
    assert query(
        warehouse,
        "select count(*), count(gender), count(city), count(member_level), count(raw_birthday)"
        " from staging.stg_raw__customers where customer_id = 'C1'",
    ) == [(3, 0, 0, 0, 0)]
    # Published, or held by the churn guard (the tiny fixture's only birthday was C1's).
    exported = list((home / "exports").glob(f"**/{ERASED_NIGHT}/*.parquet"))
    assert exported
    for path in exported:
        columns = query(
            warehouse, f"select column_name from (describe select * from read_parquet('{path}'))"
        )
        if ("customer_id",) in columns:
            # The sync cleared the remark it had sent C1 in WeCom, and keeps only that.
            is_sent_remarks = path.name == "wecom_sent_remarks.parquet"
            column = "remark" if is_sent_remarks else "customer_id"
            found = query(
                warehouse, f"select {column} from read_parquet('{path}') where customer_id = 'C1'"
            )
            assert found == ([("",)] if is_sent_remarks else []), path


def test_an_erasure_taken_in_incrementally_equals_a_full_build(erasure_delivered):
    full, incremental = erasure_delivered
    assert_same_night(
        full / "warehouse.duckdb", incremental / "warehouse.duckdb", ERASED_NIGHT, set()
    )


def test_a_status_without_its_time_dates_from_its_delivery(tiny_warehouse, tmp_path):
    """O3 is delivered again on 2 April as refunded, without refunded_ts. Dated from the
    order's time (31 March, 23:59:59) it would be refunded as of 31 March; dated from its
    delivery, the night of 31 March is the same as without that delivery."""
    landing = tmp_path / "landing"
    # The history up to then in one undated delivery, as the tiny fixture's whole files.
    write_landing(landing, second_day=False, first_delivery="0-history.csv")
    header = (TINY_RAW / "orders.csv").read_text(encoding="utf-8").splitlines()[0]
    (landing / "orders" / "2026-04-02.csv").write_text(
        f"{header}\n"
        "O3,C2,2026-03-31 23:59:59,2026-04-01 00:00:10,,,,refunded,wechat_shop,1299.00,0,广东省\n",
        encoding="utf-8",
    )
    home = tmp_path / "home"
    assert run_night(landing, home, TINY_AS_OF, TINY_RUN_STARTED_AT).success
    warehouse = home / "warehouse.duckdb"
    assert query(
        warehouse,
        "select _delivered_on, refunded_shown_at, paid_shown_at from staging.stg_raw__orders"
        " where order_id = 'O3' and not is_superseded and not is_exact_duplicate",
    ) == [(date(2026, 4, 2), datetime(2026, 4, 2), None)]
    assert_same_night(tiny_warehouse, warehouse, TINY_AS_OF, {"raw_row_accounting"})
