"""A night as of D is the same whether later rows exist or not: past nights rebuild exactly."""

from pathlib import Path

from orchestration.cli import run_night
from tests.conftest import (
    CUSTOMER_MARTS_AS_OF,
    CUSTOMER_MARTS_RUN_STARTED_AT,
    FIXTURES,
    TINY_AS_OF,
    TINY_RUN_STARTED_AT,
    query,
)

# The quarantine and the row accounting describe the files, which differ by construction;
# tag_changes compares with the night built before, which the truncated warehouse lacks.
NOT_COMPARED = {"raw_row_accounting", "tag_changes"}
# Tables that keep every night depend on which nights were built before: compare the night.
KEPT_PER_NIGHT = {"customer_tags_history", "segment_membership"}


def computed_tables(warehouse: Path) -> list[str]:
    """Every table computed from events: marts and tags, by schema-qualified name."""
    rows = query(
        warehouse,
        """
        select table_schema || '.' || table_name
        from information_schema.tables
        where table_schema in ('marts', 'tags') and table_name not like 'quarantine_%'
        order by 1
        """,
    )
    return [name for (name,) in rows if name.split(".")[1] not in NOT_COMPARED]


def assert_same_night(full: Path, truncated: Path, as_of: str) -> None:
    tables = computed_tables(full)
    assert {"marts.customer_profile", "marts.segment_membership"} <= set(tables)
    assert tables == computed_tables(truncated)
    for table in tables:
        night = f"where as_of_date = '{as_of}'" if table.split(".")[1] in KEPT_PER_NIGHT else ""
        select = f"select * from {table} {night} order by all"
        assert query(full, select) == query(truncated, select), table


def test_later_rows_do_not_change_a_past_night(tiny_warehouse, tmp_path):
    truncated_home = tmp_path / "truncated"
    result = run_night(
        FIXTURES / "raw_tiny_as_of_2026_03_31", truncated_home, TINY_AS_OF, TINY_RUN_STARTED_AT
    )
    assert result.success
    assert_same_night(tiny_warehouse, truncated_home / "warehouse.duckdb", TINY_AS_OF)


def test_later_orders_refunds_and_friend_events_do_not_change_tags(
    customer_marts_warehouse, tmp_path
):
    """The full files add an order, a refund, a deletion, a chat and a customer after D."""
    truncated_home = tmp_path / "truncated"
    result = run_night(
        FIXTURES / "raw_customer_marts_as_of_2026_06_30",
        truncated_home,
        CUSTOMER_MARTS_AS_OF,
        CUSTOMER_MARTS_RUN_STARTED_AT,
    )
    assert result.success
    assert_same_night(
        customer_marts_warehouse, truncated_home / "warehouse.duckdb", CUSTOMER_MARTS_AS_OF
    )
