"""The project's own generic data tests (dbt_project/tests/generic/), run by dbt on bad rows."""

import re
from pathlib import Path

import duckdb

from tests.conftest import CUSTOMER_MARTS_AS_OF, copy_warehouse, dbt_test, query

HISTORY = "marts.customer_profile_history"


def ran_tests(output: str) -> dict[str, str]:
    """Each data test dbt ran, by name: PASS, or FAIL and its count of failing rows."""
    return dict(
        (name, status)
        for status, name in re.findall(r"\d+ of \d+ (PASS|FAIL \d+|ERROR) (\w+)", output)
    )


def duplicate_one_row(warehouse: Path, night: str) -> None:
    with duckdb.connect(str(warehouse)) as connection:
        inserted = connection.execute(
            f"insert into {HISTORY} select * from {HISTORY} "
            f"where as_of_date = date '{night}' limit 1"
        ).fetchone()[0]
    assert inserted == 1


def test_unique_combination_this_night_only_checks_the_night_being_built(
    customer_marts_warehouse, tmp_path
):
    """The history keeps two nights (06-29, 06-30). A duplicate in the earlier night is left
    to that night's check; a duplicate in the night being built fails."""
    home = tmp_path / "home"
    warehouse = copy_warehouse(customer_marts_warehouse, home)
    select = "customer_profile_history,test_name:unique_combination"

    duplicate_one_row(warehouse, "2026-06-29")
    earlier = dbt_test(home, tmp_path / "target", select, CUSTOMER_MARTS_AS_OF)
    assert earlier.returncode == 0, (earlier.stdout + earlier.stderr)[-3000:]
    assert list(ran_tests(earlier.stdout).values()) == ["PASS"]

    duplicate_one_row(warehouse, CUSTOMER_MARTS_AS_OF)
    tonight = dbt_test(home, tmp_path / "target", select, CUSTOMER_MARTS_AS_OF)
    assert tonight.returncode == 1, (tonight.stdout + tonight.stderr)[-3000:]
    assert "FAIL 1 unique_combination_customer_profile_history" in tonight.stdout


FACT = "marts.fct_interactions"
# Every model whose uniqueness checks read only the rows written since they last passed.
CHECKED_SINCE_LAST_CHECK = {
    f"{layer}.{model}"
    for layer, models in (
        ("staging", ["stg_raw__orders", "stg_raw__order_items", "stg_raw__friend_events"]),
        ("intermediate", ["int_orders_validated", "int_order_items_validated"]),
        ("intermediate", ["int_friend_events_validated", "int_interactions_validated"]),
        ("marts", ["fct_orders", "fct_order_items", "fct_friend_events", "fct_interactions"]),
        ("marts", ["customer_timeline"]),
    )
    for model in models
} | {"staging.stg_raw__interactions"}


def marks(warehouse: Path) -> dict[str, object]:
    return dict(
        query(
            warehouse,
            "select model_relation, max(checked_through) from audit.passed_checks group by 1",
        )
    )


def test_checks_since_last_check_read_the_rows_written_since_they_last_passed(
    customer_marts_warehouse, tmp_path
):
    """Both nights' builds passed every check, so each model has a mark. A duplicate among
    rows written before the mark is out of scope (those rows passed together); one written
    after it fails, and keeps failing until a run passes every check of the model."""
    home = tmp_path / "home"
    warehouse = copy_warehouse(customer_marts_warehouse, home)
    built_marks = marks(warehouse)
    assert set(built_marks) == CHECKED_SINCE_LAST_CHECK
    ((written_at, rows),) = query(warehouse, f"select max(_written_at), count(*) from {FACT}")
    assert rows > 0 and written_at <= built_marks[FACT]

    def check(select: str) -> tuple[set[str], int]:
        """The statuses of the tests run, and how many ran; dbt fails when one fails."""
        result = dbt_test(home, tmp_path / "target", select, CUSTOMER_MARTS_AS_OF)
        statuses = ran_tests(result.stdout)
        assert result.returncode == (0 if set(statuses.values()) == {"PASS"} else 1)
        return set(statuses.values()), len(statuses)

    uniqueness = "fct_interactions,test_name:unique_since_last_check"
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(f"insert into {FACT} select * from {FACT} limit 1")
    assert check(uniqueness) == ({"PASS"}, 2)

    # The same duplicate, as a later run would have written it: both keys fail.
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(
            f"update {FACT} set _written_at = timestamp '{built_marks[FACT]}' + interval 1 second "
            f"where rowid = (select max(rowid) from {FACT})"
        )
    assert check(uniqueness) == ({"FAIL 1"}, 2)
    # A failed check leaves the mark, so the next run sees the same rows.
    assert marks(warehouse) == built_marks
    assert check(uniqueness) == ({"FAIL 1"}, 2)

    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(f"delete from {FACT} where rowid = (select max(rowid) from {FACT})")
    # Passing, but without the model's other checks (not_null): no mark.
    assert check(uniqueness) == ({"PASS"}, 2)
    assert marks(warehouse) == built_marks
    # Every check of the model passes: its mark moves to this run, the others' stay.
    statuses, count = check("fct_interactions")
    assert statuses == {"PASS"} and count > 2
    moved = marks(warehouse)
    assert moved[FACT] > built_marks[FACT]
    assert {k: v for k, v in moved.items() if k != FACT} == {
        k: v for k, v in built_marks.items() if k != FACT
    }
