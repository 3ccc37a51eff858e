"""The same models on Spark give the same warehouse as on DuckDB, row for row (docs/spark.md).

Each test builds one fixture on DuckDB (the nightly Dagster job) and on a local Spark session
(orchestration/spark.py, the profile's `spark` target), night by night, then compares every
table dbt builds, the raw tables and the night's predictions.

Marked `spark`: the default `pytest` run leaves them out; `make test-spark` runs them (it
installs the `spark` dependency group first). The two-night fixture runs only with
SCRM_SPARK_ALL_FIXTURES=1, to keep CI's Spark step to one fixture.

Values are compared after a normalisation that removes the engines' type differences, not
their results:
- numbers: DuckDB and Spark type some expressions differently (a decimal average on one is
  a double on the other, an integer count is int32 or int64), so every non-integral number
  is compared as a float rounded to 10 significant digits (summing doubles in another order
  changes the last bits, nothing a reader sees);
- timestamps: Spark's are instants shown in the session time zone (Asia/Shanghai), DuckDB's
  are local times; Spark's are read as local times (timestamp_ntz) in that zone;
- structs and arrays are compared element by element with the same rules;
- `_loaded_at` is the moment each engine loaded the raw files and `_written_at` when each
  engine's run wrote the row, so both are left out.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from orchestration.cli import run_night
from tests.conftest import (
    CUSTOMER_MARTS_AS_OF,
    CUSTOMER_MARTS_RAW,
    CUSTOMER_MARTS_RUN_STARTED_AT,
    TINY_AS_OF,
    TINY_RAW,
    TINY_RUN_STARTED_AT,
    connect_warehouse,
)

pytestmark = pytest.mark.spark

# Every schema dbt writes, the raw tables and the seeds.
SCHEMAS = ("raw", "reference", "staging", "intermediate", "marts", "tags", "segments")
# Of the Python-written predictive schema, the table dbt reads.
PREDICTIONS = "predictive.customer_predictions"
# When each engine loaded the raw row, and when its run wrote the row
# (macros/checked_writes.sql): bookkeeping, not data.
NOT_COMPARED_COLUMNS = {"_loaded_at", "_written_at"}
SHANGHAI = ZoneInfo("Asia/Shanghai")
SHOWN_ROWS = 10


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """One Spark session for the module (a JVM and its metastore are per process)."""
    pytest.importorskip("pyspark", reason="the spark dependency group: make test-spark")
    from orchestration.spark import spark_session

    os.environ["SCRM_SPARK_DIR"] = str(tmp_path_factory.mktemp("spark"))
    return spark_session()


def reset_spark_warehouse(session) -> None:
    """Drop every database but `default`: each fixture starts from an empty warehouse."""
    for (name,) in session.sql("show databases").collect():
        if name != "default":
            session.sql(f"drop database {name} cascade")


def build_both(tmp_path: Path, spark_session, raw: Path, nights: list[str], started: str):
    from orchestration.spark import run_night_on_spark

    reset_spark_warehouse(spark_session)
    duckdb_home = tmp_path / "duckdb_home"
    for night in nights:
        assert run_night(raw, duckdb_home, night, started).success, night
        run_night_on_spark(raw, tmp_path / "spark_home", night, started)
    return duckdb_home / "warehouse.duckdb"


# --- reading and normalising ---------------------------------------------------------------


def normal(value: Any) -> Any:
    """A value both engines' results map to when they mean the same thing."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            return str(number)
        if number.is_integer():
            return int(number)
        return float(f"{number:.10g}")
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(SHANGHAI).replace(tzinfo=None)
        return value
    if isinstance(value, list | tuple):
        return tuple(normal(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((str(key), normal(item)) for key, item in value.items()))
    if hasattr(value, "asDict"):  # a Spark struct
        return normal(value.asDict())
    return value


def duckdb_tables(warehouse: Path) -> set[str]:
    with connect_warehouse(warehouse, read_only=True) as connection:
        rows = connection.execute(
            f"""
            select table_schema || '.' || table_name from information_schema.tables
            where table_schema in {SCHEMAS!r}
            """
        ).fetchall()
    return {name for (name,) in rows} | {PREDICTIONS}


def spark_tables(session) -> set[str]:
    names = set()
    for schema in SCHEMAS:
        for row in session.sql(f"show tables in {schema}").collect():
            # Session views (dbt-spark's incremental `__dbt_tmp`) are listed in every schema.
            if not row.isTemporary:
                names.add(f"{schema}.{row.tableName}")
    # The Spark night writes the fits of its night only, where DuckDB keeps every night's:
    # they are compared through what dbt makes of them (tag_catalog.model_status).
    return names | {PREDICTIONS}


def duckdb_rows(warehouse: Path, table: str) -> tuple[list[str], list[tuple]]:
    with connect_warehouse(warehouse, read_only=True) as connection:
        cursor = connection.execute(f"select * from {table}")
        columns = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    keep = [i for i, name in enumerate(columns) if name not in NOT_COMPARED_COLUMNS]
    return [columns[i] for i in keep], [tuple(normal(row[i]) for i in keep) for row in rows]


def spark_rows(session, table: str) -> tuple[list[str], list[tuple]]:
    from pyspark.sql.types import TimestampType

    fields = [f for f in session.table(table).schema.fields if f.name not in NOT_COMPARED_COLUMNS]
    select = ", ".join(
        f"cast(`{f.name}` as timestamp_ntz) as `{f.name}`"
        if isinstance(f.dataType, TimestampType)
        else f"`{f.name}`"
        for f in fields
    )
    rows = session.sql(f"select {select} from {table}").collect()
    return [f.name for f in fields], [tuple(normal(value) for value in row) for row in rows]


def sort_key(row: tuple) -> tuple:
    return tuple((value is None, type(value).__name__, repr(value)) for value in row)


def table_difference(warehouse: Path, session, table: str) -> str | None:
    """None when both engines have the same rows; else a readable difference."""
    duck_columns, duck = duckdb_rows(warehouse, table)
    spark_columns, spark = spark_rows(session, table)
    if duck_columns != spark_columns:
        return f"{table}: columns differ\n  duckdb: {duck_columns}\n  spark:  {spark_columns}"
    only_duckdb = Counter(duck) - Counter(spark)
    only_spark = Counter(spark) - Counter(duck)
    if not only_duckdb and not only_spark:
        return None
    lines = [
        f"{table}: {len(duck)} rows on DuckDB, {len(spark)} on Spark; "
        f"{sum(only_duckdb.values())} only on DuckDB, {sum(only_spark.values())} only on Spark",
        f"  columns: {duck_columns}",
    ]
    for engine, rows in (("duckdb", only_duckdb), ("spark ", only_spark)):
        for row in sorted(rows.elements(), key=sort_key)[:SHOWN_ROWS]:
            lines.append(f"  only {engine}: {row}")
    return "\n".join(lines)


def assert_same_warehouse(warehouse: Path, session) -> list[str]:
    duck_tables, spark_side = duckdb_tables(warehouse), spark_tables(session)
    assert duck_tables == spark_side, (
        f"only on DuckDB: {sorted(duck_tables - spark_side)}; "
        f"only on Spark: {sorted(spark_side - duck_tables)}"
    )
    differences = [
        difference
        for table in sorted(duck_tables)
        if (difference := table_difference(warehouse, session, table)) is not None
    ]
    assert not differences, "\n\n".join(differences)
    return sorted(duck_tables)


# --- the tests -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_on_both(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny fixture built on DuckDB and on Spark; its DuckDB warehouse."""
    return build_both(
        tmp_path_factory.mktemp("tiny"), spark, TINY_RAW, [TINY_AS_OF], TINY_RUN_STARTED_AT
    )


def test_tiny_fixture_is_the_same_on_spark(spark, tiny_on_both):
    tables = assert_same_warehouse(tiny_on_both, spark)
    assert {"marts.customer_profile", "marts.segment_membership", "tags.tag_lifecycle"} <= set(
        tables
    )


def test_nights_older_than_the_days_kept_are_dropped_on_spark(spark, tiny_on_both):
    """Spark's plain tables take no delete: the partitions of the nights older than
    history_days_kept are listed and dropped by name (macros/kept_per_night.sql). Runs after
    the comparison above, which it would otherwise disturb."""
    from pyspark.sql import functions as F

    from orchestration.spark import run_dbt

    table = "marts.customer_profile_history"
    columns = spark.table(table).columns
    tonight = spark.table(table).where(F.col("as_of_date") == F.lit(TINY_AS_OF).cast("date"))
    customers = tonight.count()
    for night in ("2026-03-20", "2026-03-27", "2026-03-28"):
        tonight.withColumn("as_of_date", F.lit(night).cast("date")).select(
            columns
        ).write.insertInto(table)
    run_dbt(
        ["run", "--select", "customer_profile_history"],
        TINY_AS_OF,
        TINY_RUN_STARTED_AT,
        extra_vars={"history_days_kept": 4},
    )
    # Newest 03-31: four days keep 03-28 to 03-31; 03-27 and before go.
    kept = spark.sql(f"select as_of_date, count(*) from {table} group by 1 order by 1").collect()
    assert customers > 0
    assert [(str(night), rows) for night, rows in kept] == [
        ("2026-03-28", customers),
        (TINY_AS_OF, customers),
    ]
    assert [row[0] for row in spark.sql(f"show partitions {table}").collect()] == [
        "as_of_date=2026-03-28",
        f"as_of_date={TINY_AS_OF}",
    ]


@pytest.mark.skipif(
    not os.environ.get("SCRM_SPARK_ALL_FIXTURES"),
    reason="two more Spark nights (about 10 minutes): set SCRM_SPARK_ALL_FIXTURES=1",
)
def test_two_nights_with_history_are_the_same_on_spark(spark, tmp_path):
    """Two nights: the tables that keep every night (partition overwrite on Spark) agree."""
    warehouse = build_both(
        tmp_path,
        spark,
        CUSTOMER_MARTS_RAW,
        ["2026-06-29", CUSTOMER_MARTS_AS_OF],
        CUSTOMER_MARTS_RUN_STARTED_AT,
    )
    assert_same_warehouse(warehouse, spark)
    with connect_warehouse(warehouse, read_only=True) as connection:
        ((nights,),) = connection.execute(
            "select count(distinct as_of_date) from marts.customer_tags_history"
        ).fetchall()
    assert nights == 2
