"""Everything from the facts on is per person (docs/identity.md).

The customer-story fixture (tests/fixtures/raw_customer_marts/README.md) is built twice as of
2026-06-30: once as it is, and once with two customers known by a second id each, linked to
the first:
- D's car seat (D2) and serum (D3) orders are placed by a shop buyer id, D_shop, linked to D
  through a unionid: D, registered first, names the person;
- C's three content opens are by a WeCom id, C_wm, linked to C by WeCom.

A person is the same customer whichever of their ids each row names: every customer-level
table of the split night equals the whole night's, but for the columns that say which ids.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from orchestration.cli import run_night
from tests.conftest import (
    CUSTOMER_MARTS_AS_OF,
    CUSTOMER_MARTS_RAW,
    CUSTOMER_MARTS_RUN_STARTED_AT,
    night_fixture,
    query,
)

MOVED_ORDERS = {"D2": "D_shop", "D3": "D_shop"}
MOVED_INTERACTIONS = {"IC1": "C_wm", "IC2": "C_wm", "IC3": "C_wm"}
# Registered after the id they join, so that id names the person; nothing else is known.
SECOND_IDS = [
    ["D_shop", "", "", "", "", "", "2025-06-30 12:00:00", "", ""],
    ["C_wm", "", "", "", "", "", "2026-01-01 11:00:00", "", ""],
]
LINKS = """\
id_a,id_b,link_type,linked_at,source_system
D,u_d,unionid,2025-05-01 10:00:00,youzan
D_shop,u_d,unionid,2025-06-30 12:00:00,youzan
C_wm,C,wecom,2026-01-01 11:00:00,wecom
"""

# Which ids a row names, and each home's own moments: the only columns that may differ.
ID_COLUMNS = (
    "source_customer_id",
    "known_ids",
    "known_id_count",
    "last_buyer_id",
    "_written_at",
    "_loaded_at",
)
# Tables about ids and raw rows rather than customers: the split night has more of both.
ABOUT_IDS = {
    "marts.person_ids",
    "marts.identity_link_status",
    "marts.identity_blocked_ids",
    "marts.identity_large_persons",
    "marts.quarantine_identity_links",
    "marts.raw_row_accounting",
    "marts.dim_customer_history",
}


def split_raw(target: Path) -> Path:
    shutil.copytree(CUSTOMER_MARTS_RAW, target)
    for name, moved, key in (
        ("orders.csv", MOVED_ORDERS, "order_id"),
        ("interactions.csv", MOVED_INTERACTIONS, "interaction_id"),
    ):
        with (target / name).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            row["customer_id"] = moved.get(row[key], row["customer_id"])
        with (target / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    with (target / "customers.csv").open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(SECOND_IDS)
    (target / "identity_links.csv").write_text(LINKS, encoding="utf-8")
    return target


@night_fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the whole night's warehouse, the split night's)."""
    warehouses = []
    for name, raw in (
        ("whole", CUSTOMER_MARTS_RAW),
        ("split", split_raw(tmp_path_factory.mktemp("raw") / "split")),
    ):
        home = tmp_path_factory.mktemp(name)
        result = run_night(raw, home, CUSTOMER_MARTS_AS_OF, CUSTOMER_MARTS_RUN_STARTED_AT)
        assert result.success, name
        warehouses.append(home / "warehouse.duckdb")
    return warehouses[0], warehouses[1]


def customer_tables(warehouse: Path) -> list[str]:
    rows = query(
        warehouse,
        "select table_schema || '.' || table_name from information_schema.tables"
        " where table_schema in ('marts', 'tags', 'segments', 'predictive')"
        " and table_type = 'BASE TABLE' order by 1",
    )
    return [name for (name,) in rows if name not in ABOUT_IDS]


def test_the_split_night_equals_the_whole_night_for_every_customer(nights):
    whole, split = nights
    tables = customer_tables(whole)
    assert tables == customer_tables(split)
    assert {"marts.customer_rfm", "predictive.customer_predictions", "marts.customer_profile"} <= (
        set(tables)
    )
    excluded = ", ".join(f"'{column}'" for column in ID_COLUMNS)
    for table in tables:
        select = f"select columns(lambda c: c not in ({excluded})) from {table} order by all"
        assert query(split, select) == query(whole, select), table


def test_the_facts_keep_the_id_each_row_names(nights):
    _, split = nights
    assert query(
        split,
        "select order_id, customer_id, source_customer_id from marts.fct_orders"
        " where customer_id = 'D' order by order_id",
    ) == [("D1", "D", "D"), ("D2", "D", "D_shop"), ("D3", "D", "D_shop")]
    assert query(
        split,
        "select distinct customer_id, source_customer_id from marts.fct_interactions"
        " where interaction_id like 'IC%'",
    ) == [("C", "C_wm")]


def test_the_person_shows_every_id_and_the_second_ids_are_not_customers(nights):
    _, split = nights
    assert query(
        split,
        "select customer_id, known_ids, known_id_count, city, registered_at::varchar"
        " from marts.dim_customers where customer_id in ('C', 'D', 'C_wm', 'D_shop')"
        " order by 1",
    ) == [
        ("C", "C|C_wm", 2, "上海市", "2026-01-01 10:00:00"),
        ("D", "D|D_shop|u_d", 3, "北京市", "2025-05-01 10:00:00"),
    ]
    # The buyers-not-friends list names the shop id D's latest purchase came under.
    assert query(
        split,
        "select last_buyer_id, known_ids from segments.seg_buyers_not_friends"
        " where customer_id = 'D'",
    ) == [("D_shop", "D|D_shop|u_d")]
    for table in ("marts.customer_rfm", "marts.customer_profile", "marts.segment_membership"):
        assert query(
            split, f"select count(*) from {table} where customer_id in ('C_wm', 'D_shop')"
        ) == [(0,)], table
