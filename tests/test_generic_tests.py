"""The project's own generic data tests (dbt_project/macros/tests/), run by dbt on bad rows."""

import shutil
from pathlib import Path

import duckdb

from tests.conftest import CUSTOMER_MARTS_AS_OF, dbt_test

HISTORY = "marts.customer_tags_history"


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
    home.mkdir()
    warehouse = home / "warehouse.duckdb"
    shutil.copyfile(customer_marts_warehouse, warehouse)
    select = "customer_tags_history,test_name:unique_combination"

    duplicate_one_row(warehouse, "2026-06-29")
    earlier = dbt_test(home, tmp_path / "target", select, CUSTOMER_MARTS_AS_OF)
    assert earlier.returncode == 0, (earlier.stdout + earlier.stderr)[-3000:]
    assert "PASS=1" in earlier.stdout

    duplicate_one_row(warehouse, CUSTOMER_MARTS_AS_OF)
    tonight = dbt_test(home, tmp_path / "target", select, CUSTOMER_MARTS_AS_OF)
    assert tonight.returncode == 1, (tonight.stdout + tonight.stderr)[-3000:]
    assert "FAIL 1 unique_combination_customer_tags_history" in tonight.stdout
