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

# The quarantine and the row accounting describe the files, which differ by construction.
NOT_COMPARED = {"raw_row_accounting"}
# Tables that keep every night (and views of one) depend on which nights were built before:
# compare the night.
KEPT_PER_NIGHT = {"customer_profile_history", "customer_tags_history", "segment_membership"}
# A row's lineage (the delivery it came in, its position in the raw rows) describes the files
# too: a later file may hold the same events at other positions. _written_at is when the run
# that wrote the row started, and _loaded_at when its raw row was loaded: each home's own.
LINEAGE_COLUMNS = {"_source_file", "_raw_row_number", "_written_at", "_loaded_at"}


def computed_tables(warehouse: Path, not_compared: set[str]) -> list[str]:
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
    return [name for (name,) in rows if name.split(".")[1] not in not_compared]


def assert_same_night(
    full: Path, truncated: Path, as_of: str, not_compared: set[str] = NOT_COMPARED
) -> None:
    tables = computed_tables(full, not_compared)
    assert {"marts.customer_profile", "marts.segment_membership"} <= set(tables)
    assert tables == computed_tables(truncated, not_compared)
    for table in tables:
        schema, name = table.split(".")
        night = f"where as_of_date = '{as_of}'" if name in KEPT_PER_NIGHT else ""
        columns = [
            f'"{column}"'
            for (column,) in query(
                full,
                "select column_name from information_schema.columns where table_schema = "
                f"'{schema}' and table_name = '{name}' order by ordinal_position",
            )
            if column not in LINEAGE_COLUMNS
        ]
        select = f"select {', '.join(columns)} from {table} {night} order by all"
        assert query(full, select) == query(truncated, select), table


def test_later_rows_do_not_change_a_past_night(tiny_warehouse, tmp_path):
    truncated_home = tmp_path / "truncated"
    result = run_night(
        FIXTURES / "raw_tiny_as_of_2026_03_31", truncated_home, TINY_AS_OF, TINY_RUN_STARTED_AT
    )
    assert result.success
    # One night each: tables that compare with the night before have nothing to compare.
    history = {"tag_changes", "campaign_lift", "campaign_lift_pooled"}
    assert_same_night(
        tiny_warehouse, truncated_home / "warehouse.duckdb", TINY_AS_OF, NOT_COMPARED | history
    )


def test_later_orders_refunds_and_friend_events_do_not_change_tags(
    customer_marts_warehouse, tmp_path
):
    """The full files add an order, a refund, a deletion, a chat and a customer after D.

    Both warehouses build the nights 06-29 and 06-30 in order, as the fixture's does: pushes,
    cool-downs, tag changes and campaign lift read the nights before, so they must exist.
    """
    truncated_home = tmp_path / "truncated"
    for night in ("2026-06-29", CUSTOMER_MARTS_AS_OF):
        result = run_night(
            FIXTURES / "raw_customer_marts_as_of_2026_06_30",
            truncated_home,
            night,
            CUSTOMER_MARTS_RUN_STARTED_AT,
        )
        assert result.success, night
    assert_same_night(
        customer_marts_warehouse, truncated_home / "warehouse.duckdb", CUSTOMER_MARTS_AS_OF
    )


def test_dbt_and_the_cli_default_to_the_same_night(tmp_path, monkeypatch):
    """Without --vars, a bare `dbt build` computes the night `scrm run` would: the latest one
    that has ended in Asia/Shanghai, never today."""
    from datetime import UTC, date, datetime

    from dbt.cli.main import dbtRunner

    from orchestration import nights
    from orchestration.project import DBT_PROJECT_DIR

    monkeypatch.setenv("SCRM_HOME", str(tmp_path))
    before = nights.last_ended_night()
    result = dbtRunner().invoke(
        [
            "compile",
            "--inline",
            "select {{ as_of_date() }} as night",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(tmp_path / "target"),
            "--quiet",
        ]
    )
    after = nights.last_ended_night()
    assert result.success, result.exception
    compiled = result.result.results[0].node.compiled_code
    assert compiled in {f"select cast('{night}' as date) as night" for night in (before, after)}
    # The rule itself, at a moment whose Shanghai date differs from UTC's.
    moment = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 2026-12-01 01:00 in Shanghai
    assert nights.last_ended_night(moment) == date(2026, 11, 30)
