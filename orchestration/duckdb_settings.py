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

import os
from pathlib import Path

import duckdb

MEMORY_LIMIT_VARIABLE = "SCRM_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "5GB"
DEFAULT_HOME = ".scrm"


def memory_limit() -> str:
    return os.environ.get(MEMORY_LIMIT_VARIABLE) or DEFAULT_MEMORY_LIMIT


def temp_directory() -> Path:
    return Path(os.environ.get("SCRM_HOME") or DEFAULT_HOME) / "tmp"


def export_defaults() -> None:
    """Put the memory limit in the environment, so dbt's profile reads this module's default."""
    os.environ.setdefault(MEMORY_LIMIT_VARIABLE, DEFAULT_MEMORY_LIMIT)


def settings() -> dict[str, str]:
    return {"memory_limit": memory_limit(), "temp_directory": str(temp_directory())}


def connect(database: str | Path = ":memory:", *, read_only: bool = False):
    """duckdb.connect with the settings, given when the database opens: DuckDB refuses to
    change the spill directory once it has spilled, so a later SET would fail on a database
    this process already has open."""
    return duckdb.connect(str(database), read_only=read_only, config=settings())
