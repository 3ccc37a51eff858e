"""Reading the warehouse to publish: a read-only connection, and relations named safely.

Relations reach the export publisher as names (``schema.table``) from the project's
declarations; they are quoted here, refusing anything else, before any SQL is built.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import duckdb

from orchestration import duckdb_settings
from orchestration.duckdb_settings import fetch_one
from orchestration.publishing.errors import PublishError

CUSTOMER_ID: Final = "customer_id"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# DuckDB session settings that change the Arrow result, pinned for determinism: the time zone
# decides the zone recorded for TIMESTAMPTZ columns and how the CSV renders them.
_SESSION_SETTINGS: Final = (
    "SET TimeZone = 'UTC'",
    "SET produce_arrow_string_view = false",
    "SET arrow_large_buffer_size = false",
    "SET arrow_lossless_conversion = false",
)


def connect_read_only(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-only, with the session settings pinned."""
    if not warehouse.is_file():
        raise PublishError(f"warehouse {warehouse} does not exist")
    try:
        connection = duckdb_settings.connect(warehouse, read_only=True)
    except duckdb.Error as error:
        raise PublishError(f"cannot open the warehouse {warehouse} read-only: {error}") from error
    for statement in _SESSION_SETTINGS:
        connection.execute(statement)
    return connection


def quote_relation(relation: object, label: str) -> str:
    """``schema.table`` (or ``catalog.schema.table``) as quoted SQL, refusing anything else."""
    parts = relation.split(".") if isinstance(relation, str) else []
    if len(parts) not in (2, 3) or not all(_IDENTIFIER.fullmatch(part) for part in parts):
        raise PublishError(f"{label}: relation {relation!r} is not a schema-qualified table name")
    return ".".join(quote_identifier(part) for part in parts)


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def relation_columns(
    connection: duckdb.DuckDBPyConnection, quoted: str, relation: str, label: str
) -> list[str]:
    """Column names of a relation, as DuckDB resolves it; PublishError if it does not exist."""
    try:
        return list(connection.sql(f"SELECT * FROM {quoted} LIMIT 0").columns)
    except duckdb.CatalogException as error:
        raise PublishError(
            f"{label}: relation {relation} does not exist in the warehouse"
        ) from error


def check_customer_ids(
    connection: duckdb.DuckDBPyConnection, quoted: str, relation: str, label: str
) -> None:
    """One row per customer: a null or repeated customer_id would corrupt the diffs."""
    key = quote_identifier(CUSTOMER_ID)
    (nulls,) = fetch_one(connection, f"SELECT count(*) FROM {quoted} WHERE {key} IS NULL")
    if nulls:
        raise PublishError(f"{label}: {nulls} row(s) of {relation} have a null customer_id")
    duplicates = connection.execute(
        f"SELECT {key}, count(*) FROM {quoted} WHERE {key} IS NOT NULL "
        f"GROUP BY {key} HAVING count(*) > 1 ORDER BY {key} LIMIT 5"
    ).fetchall()
    if duplicates:
        examples = ", ".join(f"{value!r} ({count} rows)" for value, count in duplicates)
        raise PublishError(f"{label}: duplicate customer_id in {relation}: {examples}")


def named_values(
    connection: duckdb.DuckDBPyConnection, relation: str, argument: str, name: str, value: str
) -> list[tuple[Any, Any]]:
    """(name, value) of every row of `relation`, by name: what the manifest records of it."""
    quoted = quote_relation(relation, argument)
    return connection.sql(f"SELECT {name}, {value} FROM {quoted} ORDER BY {name}").fetchall()
