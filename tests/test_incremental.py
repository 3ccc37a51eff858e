"""An incremental night gives exactly the tables a full refresh gives.

Night 1 (as of 2026-03-30) and night 2 (as of 2026-03-31) are built from the tiny fixture's
files as an append-only export would deliver them, with every case the incremental staging
must get right between the two nights:

- new rows appended (interactions, orders, order items);
- an exact duplicate of an earlier row, and a row whose key an earlier clean row already has
  (the earlier row becomes a conflict);
- a row changed in place (order O2: paid on night 1, refunded on night 2);
- a status that changes with the night alone (order O15, in both files: confirmed on 31 March,
  so paid as of night 1 and confirmed as of night 2; refunded after both);
- a file that shrank (friend events: night 1's last two rows are gone, the last one
  quarantined);
- a verdict that depends on the clock (I5 is in the future of night 1's run, not night 2's);
- a customer whose only change is a new day of events (C3: interaction I13), which the
  timeline writes alone, numbered on after the stored events;
- reference changes with no change in the rows themselves: customer C9 arrives, so earlier
  rows of C9 stop being unknown_customer; C5 gets a conflicting second row, so earlier clean
  rows of C5 become unknown_customer;
- two persons merge (docs/identity.md): a unionid link observed on 31 March makes C2 one
  person with C1, so every stored fact row of C2 belongs to person C1 on night 2.

Home A builds night 2 incrementally on night 1. Home B is a copy of A after night 1 whose
incremental tables are dropped, so night 2 builds them in full. Home C is a copy of A after
night 1 without the known keys validation keeps (a warehouse built before it kept them), so
night 2 validates every staged row. Every table must be equal.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from orchestration.cli import run_night
from orchestration.project import DBT_PROJECT_DIR, DBT_RUNS_DIR
from orchestration.publishing.warehouse import is_kept_per_night
from tests.conftest import TINY_RAW, connect_warehouse, query

NIGHT_1, NIGHT_2 = "2026-03-30", "2026-03-31"
RUN_STARTED_1, RUN_STARTED_2 = "2026-04-10 00:00:00", "2026-04-30 12:00:00"
# The raw tables carry their load time; everything computed from them is compared.
# raw: loaded at another moment; audit: the log of each home's own passed checks.
NOT_COMPARED_SCHEMAS = {"raw", "audit"}

APPENDED = {
    "customers": [
        ["C9", "F", "", "", "", "", "2026-01-01 00:00:00", "", ""],
        ["C5", "M", "", "江苏省", "南京市", "", "", "", ""],
    ],
    "interactions": [
        ["I12", "C1", "S1", "2026-03-31 09:00:00", "chat_in", "", "", ""],
        ["I1", "C1", "S1", "2026-01-06 10:00:00", "chat_in", "", "护肤", ""],
        ["I2", "C1", "S2", "2026-01-06 10:05:00", "chat_out", "", "护肤", ""],
        ["I13", "C3", "S2", "2026-03-31 20:00:00", "chat_in", "", "", ""],
    ],
    "orders": [
        [
            "O14", "C1", "2026-03-31 08:00:00", "2026-03-31 08:01:00", "", "", "",
            "paid", "wechat_shop", "99.00", "", "浙江省",
        ],
    ],
    "order_items": [
        ["O14", "1", "SKU1", "1", "99.00", "99.00"],
        ["O6", "2", "SKU3", "1", "129.00", "129.00"],
    ],
    "identity_links": [["C2", "C1", "unionid", "2026-03-31 08:00:00", "youzan"]],
}  # fmt: skip


# In both nights' files, the same rows at the same positions.
IN_BOTH = {
    "orders": [
        [
            "O15", "C1", "2026-03-20 10:00:00", "2026-03-20 10:01:00", "2026-03-31 10:00:00", "",
            "2026-04-02 09:00:00", "refunded", "wechat_shop", "99.00", "", "浙江省",
        ],
    ],
    "order_items": [["O15", "1", "SKU1", "1", "99.00", "99.00"]],
}  # fmt: skip


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])


def write_nights(night_1: Path, night_2: Path) -> None:
    night_1.mkdir()
    night_2.mkdir()
    for path in sorted(TINY_RAW.glob("*.csv")):
        header, rows = read_rows(path)
        rows = rows + IN_BOTH.get(path.stem, [])
        later = rows + APPENDED.get(path.stem, [])
        earlier = [list(row) for row in rows]
        if path.stem == "orders":
            (o2,) = [row for row in earlier if row[0] == "O2"]
            o2[header.index("refunded_ts")], o2[header.index("status")] = "", "paid"
        if path.stem == "friend_events":
            earlier.append(["E99", "C1", "S1", "add", "2026-03-02 10:00:00", "parcel_card", ""])
            # Quarantined on night 1 (no such event type), gone from the file on night 2.
            earlier.append(["E98", "C1", "S1", "follow", "2026-03-02 11:00:00", "", ""])
        write_rows(night_1 / path.name, header, earlier)
        write_rows(night_2 / path.name, header, later)


def incremental_models() -> list[str]:
    """Models kept per raw row or restated per key, by `database.schema.table`, from the dbt
    manifest (`audit` is a schema of both databases).

    The tables kept per night hold earlier nights, which a full
    rebuild of one night cannot give back; they are compared, not dropped."""
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    return sorted(
        f"{node['database']}.{node['schema']}.{node['alias']}"
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["config"]["materialized"] == "incremental"
        and not is_kept_per_night(node)
    )


def compared_tables(warehouse: Path) -> list[str]:
    rows = query(
        warehouse,
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' order by 1",
    )
    return [name for (name,) in rows if name.split(".")[0] not in NOT_COMPARED_SCHEMAS]


@pytest.mark.night
def test_incremental_night_equals_full_refresh(tmp_path):
    night_1_raw, night_2_raw = tmp_path / "raw_night_1", tmp_path / "raw_night_2"
    write_nights(night_1_raw, night_2_raw)
    incremental, full = tmp_path / "incremental", tmp_path / "full"

    assert run_night(night_1_raw, incremental, NIGHT_1, RUN_STARTED_1).success
    shutil.copytree(incremental, full, symlinks=True)
    # A third home as a warehouse built before the reference checks were kept (int_known_*):
    # it checks again every row whose reference is named, and comes to the same tables.
    without_keys = tmp_path / "without_known_keys"
    shutil.copytree(incremental, without_keys, symlinks=True)
    with connect_warehouse(without_keys / "warehouse.duckdb") as connection:
        known_keys = connection.execute(
            "select table_catalog || '.audit.' || table_name from information_schema.tables"
            " where table_schema = 'audit' and table_name like 'int_known_%'"
        ).fetchall()
        assert len(known_keys) == 3
        for (table,) in known_keys:
            connection.execute(f"drop table {table}")

    c5_events = "select count(*) from marts.customer_timeline where customer_id = 'C5'"
    assert query(full / "warehouse.duckdb", c5_events) == [(4,)]
    o15_status = (
        "select orders.order_status, items.order_status from marts.fct_orders as orders"
        " inner join marts.fct_order_items as items using (order_id) where order_id = 'O15'"
    )
    assert query(full / "warehouse.duckdb", o15_status) == [("paid", "paid")]
    e98_quarantined = "select count(*) from marts.quarantine_friend_events where event_id = 'E98'"
    assert query(full / "warehouse.duckdb", e98_quarantined) == [(1,)]
    c2_rows = (
        "select 'fct_friend_events', customer_id, count(*) from marts.fct_friend_events"
        " where source_customer_id = 'C2' group by all union all"
        " select 'fct_orders', customer_id, count(*) from marts.fct_orders"
        " where source_customer_id = 'C2' group by all order by 1"
    )
    assert query(full / "warehouse.duckdb", c2_rows) == [
        ("fct_friend_events", "C2", 2),
        ("fct_orders", "C2", 1),
    ]

    models = incremental_models()
    compared_models = {model.split(".", 1)[1] for model in models if ".audit." not in model}
    assert {
        "staging.stg_raw__interactions",
        "staging.stg_raw__orders",
        "staging.stg_raw__order_items",
        "staging.stg_raw__friend_events",
        "intermediate.int_interactions_validated",
        "intermediate.int_orders_validated",
        "intermediate.int_order_items_validated",
        "intermediate.int_friend_events_validated",
        "marts.fct_interactions",
        "marts.fct_orders",
        "marts.fct_order_items",
        "marts.fct_friend_events",
        "marts.customer_timeline",
    } <= compared_models
    with connect_warehouse(full / "warehouse.duckdb") as connection:
        for model in models:
            connection.execute(f"drop table {model}")

    incremental_run = run_night(night_2_raw, incremental, NIGHT_2, RUN_STARTED_2)
    assert incremental_run.success
    assert run_night(night_2_raw, full, NIGHT_2, RUN_STARTED_2).success

    # The incremental home really took the incremental path: dbt replaced rows in place.
    step_dirs = list((incremental / DBT_RUNS_DIR).glob(f"*-{incremental_run.run_id[:7]}-*"))
    compiled = [
        path.read_text()
        for step_dir in step_dirs
        for path in (step_dir / "run").rglob("*.sql")
        if path.stem in {model.split(".")[-1] for model in models}
    ]
    assert len(compiled) == len(models)
    assert all("delete from" in sql and "insert into" in sql for sql in compiled)

    without_keys_run = run_night(night_2_raw, without_keys, NIGHT_2, RUN_STARTED_2)
    assert without_keys_run.success
    (known_customers_sql,) = [
        path.read_text()
        for path in (without_keys / DBT_RUNS_DIR).rglob("int_known_customers.sql")
        if f"-{without_keys_run.run_id[:7]}-" in str(path) and "compiled" in path.parts
    ]
    assert "full outer join" not in known_customers_sql

    a, b = incremental / "warehouse.duckdb", full / "warehouse.duckdb"
    c = without_keys / "warehouse.duckdb"
    tables = compared_tables(a)
    assert compared_models <= set(tables)
    assert tables == compared_tables(b) == compared_tables(c)
    for table in tables:
        # When a row was written, and when its raw row was loaded: each home's own moments.
        select = (
            "select columns(lambda c: c not in ('_written_at', '_loaded_at'))"
            f" from {table} order by all"
        )
        assert query(a, select) == query(b, select) == query(c, select), table

    # The cases above happened: night 2 differs from night 1 where the story says it does.
    verdicts = dict(
        query(
            a,
            "select interaction_id || '@' || _raw_row_number, coalesce(quarantine_reason, "
            "case when is_exact_duplicate then 'duplicate' else 'clean' end) "
            "from intermediate.int_interactions_validated",
        )
    )
    assert verdicts["I5@5"] == "clean"
    assert verdicts["I9@9"] == "clean"
    assert verdicts["I4@4"] == "unknown_customer"
    assert verdicts["I2@2"] == verdicts["I2@14"] == "conflicting_duplicate_key"
    assert verdicts["I1@13"] == "duplicate"
    assert query(a, "select max(_raw_row_number) from staging.stg_raw__friend_events") == [(12,)]
    assert query(a, e98_quarantined) == [(0,)]
    # C5 became a conflict: every fact row of C5 is gone.
    assert query(a, c5_events) == [(0,)]
    assert query(a, "select order_status from marts.fct_orders where order_id = 'O2'") == [
        ("refunded",)
    ]
    assert query(a, o15_status) == [("confirmed", "confirmed")]
    # The timeline wrote C3's new day alone, numbered on; C1 (an event became a conflict) was
    # numbered again whole.
    written_on_night_2 = (
        "select customer_id, event_number, source_id from marts.customer_timeline"
        " where _written_at = (select max(_written_at) from marts.customer_timeline)"
        " and customer_id = '{}' order by event_number"
    )
    c3_events = query(a, "select count(*) from marts.customer_timeline where customer_id = 'C3'")
    assert query(a, written_on_night_2.format("C3")) == [("C3", c3_events[0][0], "I13")]
    c1_events = query(a, "select count(*) from marts.customer_timeline where customer_id = 'C1'")
    assert len(query(a, written_on_night_2.format("C1"))) == c1_events[0][0] > 1
    # C2 joined person C1 on night 2: its rows written on night 1 were written again (and O3,
    # ordered on 31 March, is new).
    assert query(a, c2_rows) == [("fct_friend_events", "C1", 2), ("fct_orders", "C1", 2)]
    assert query(a, "select known_ids from marts.dim_customers where customer_id = 'C1'") == [
        ("C1|C2|p_c2|u_c1|wm_c1",)
    ]
    assert query(a, "select count(*) from marts.dim_customers where customer_id = 'C2'") == [(0,)]
