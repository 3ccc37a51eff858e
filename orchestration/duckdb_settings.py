"""The memory limit and spill directory of every DuckDB connection the project opens.

One rule, read by the Python connections here and by dbt's profile (profiles.yml, whose
defaults a test keeps equal to these):

- `memory_limit`: $SCRM_DUCKDB_MEMORY_LIMIT, default DEFAULT_MEMORY_LIMIT. DuckDB holds its
  buffers under it and spills the rest; the process also holds Python and Arrow memory beside
  it, so the limit stays well below the memory a night may use.
- `temp_directory`: $SCRM_HOME/tmp (.scrm/tmp without SCRM_HOME), where DuckDB spills.

Settings change how fast a query runs, never what it returns.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import duckdb

MEMORY_LIMIT_VARIABLE = "SCRM_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "5GB"
DEFAULT_HOME = ".scrm"
# The pipeline's working tables, beside the warehouse file (dbt_project/profiles.yml).
PIPELINE_FILE = "pipeline.duckdb"
PIPELINE_CATALOG = "pipeline"
PIPELINE_SCHEMAS = ("staging", "intermediate")


def text_literal(value: str) -> str:
    """`value` as a DuckDB string literal, for SQL that cannot take parameters (settings, a
    view's query)."""
    return "'" + value.replace("'", "''") + "'"


def fetch_one(connection: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The one row of a query that always returns one (an aggregate, a setting)."""
    row = connection.execute(sql).fetchone()
    if row is None:
        raise LookupError(f"no row from: {sql}")
    return row


def memory_limit() -> str:
    return os.environ.get(MEMORY_LIMIT_VARIABLE) or DEFAULT_MEMORY_LIMIT


def temp_directory() -> Path:
    return Path(os.environ.get("SCRM_HOME") or DEFAULT_HOME) / "tmp"


def export_defaults() -> None:
    """Put the memory limit in the environment, so dbt's profile reads this module's default."""
    os.environ.setdefault(MEMORY_LIMIT_VARIABLE, DEFAULT_MEMORY_LIMIT)


def apply(connection: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Set the limit and the spill directory on an open connection (read-only ones too)."""
    connection.execute(f"set memory_limit = '{memory_limit()}'")
    wanted = str(temp_directory())
    (current,) = fetch_one(connection, "select current_setting('temp_directory')")
    if current != wanted:
        # DuckDB refuses a new spill directory once a database has spilled (it may be open
        # already in this process); it then keeps spilling where it did.
        with contextlib.suppress(duckdb.NotImplementedException):
            connection.execute(f"set temp_directory = {text_literal(wanted)}")
    return connection


def attach_pipeline(
    connection: duckdb.DuckDBPyConnection, warehouse: str | Path, *, read_only: bool = True
) -> duckdb.DuckDBPyConnection:
    """Attach the pipeline's file beside ``warehouse``, if there is one, so that ``staging.x``
    and ``intermediate.x`` resolve on a connection to the warehouse as they do in dbt.

    Staging and intermediate live in PIPELINE_FILE (dbt_project/profiles.yml): the copy the
    nightly job publishes for BI tools is then the warehouse file alone.
    """
    pipeline = Path(warehouse).with_name(PIPELINE_FILE)
    if pipeline.exists():
        mode = " (read_only)" if read_only else ""
        connection.execute(f"attach {text_literal(str(pipeline))} as {PIPELINE_CATALOG}{mode}")
        (catalog,) = fetch_one(connection, "select current_database()")
        # A pipeline file dbt has attached but not built into yet has no schemas.
        built = connection.execute(
            "select schema_name from duckdb_schemas() where database_name = ?",
            [PIPELINE_CATALOG],
        ).fetchall()
        schemas = [f"{catalog}.main"] + [
            f"{PIPELINE_CATALOG}.{schema}" for schema in PIPELINE_SCHEMAS if (schema,) in built
        ]
        connection.execute(f"set search_path = {text_literal(','.join(schemas))}")
    return connection


def connect(
    database: str | Path = ":memory:", *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """duckdb.connect with the settings applied."""
    return apply(duckdb.connect(str(database), read_only=read_only))
