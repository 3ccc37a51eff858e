from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.cli import ensure_manifest, run_night

FIXTURES = Path(__file__).parent / "fixtures"
TINY_RAW = FIXTURES / "raw_tiny"
TINY_AS_OF = "2026-03-31"
# Pinned so the future-timestamp rule gives the same answer whenever the tests run.
TINY_RUN_STARTED_AT = "2026-04-30 12:00:00"


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> None:
    ensure_manifest()


@pytest.fixture(scope="session")
def tiny_night(tmp_path_factory: pytest.TempPathFactory):
    """The nightly Dagster job, run once on the hand-written fixture as of 2026-03-31."""
    home = tmp_path_factory.mktemp("tiny_home")
    result = run_night(TINY_RAW, home, TINY_AS_OF, TINY_RUN_STARTED_AT)
    assert result.success
    return result, home / "warehouse.duckdb"


@pytest.fixture(scope="session")
def tiny_warehouse(tiny_night) -> Path:
    return tiny_night[1]


CUSTOMER_MARTS_RAW = FIXTURES / "raw_customer_marts"
CUSTOMER_MARTS_AS_OF = "2026-06-30"


@pytest.fixture(scope="session")
def customer_marts_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The nightly job on the customer-story fixture (README there), as of 2026-06-30."""
    home = tmp_path_factory.mktemp("customer_marts_home")
    result = run_night(CUSTOMER_MARTS_RAW, home, CUSTOMER_MARTS_AS_OF, "2026-07-31 12:00:00")
    assert result.success
    return home / "warehouse.duckdb"
