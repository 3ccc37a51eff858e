"""The segment files of a night: each segment's and customer table's files, and its diff.

A segment (``SegmentExport``) gets ``<name>.parquet`` / ``.csv`` / ``.xlsx`` of its declared
columns, one row per customer sorted by customer_id, and ``<name>.entered.csv`` /
``<name>.left.csv``: the customers who entered / left it since the previous published night.
A customer table (``CustomerTable``) gets the same three files of the table. The declarations
are validated on construction, so a bad one fails before any file is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.duckdb_settings import text_literal
from orchestration.durable import sha256_file
from orchestration.publishing.errors import PublishError
from orchestration.publishing.relations import (
    CUSTOMER_ID,
    check_customer_ids,
    quote_identifier,
    quote_relation,
    relation_columns,
)
from orchestration.publishing.table_files import write_table_csv, write_table_files
from orchestration.publishing.wecom_sync import SYNC_FILE, SYNC_STEM

_SEGMENT_NAME = re.compile(r"[a-z0-9_]+")


@dataclass(frozen=True)
class SegmentExport:
    """One segment to export: where its members are and what to tell consumers about it."""

    name: str
    relation: str
    columns: tuple[str, ...]
    display_name: str
    description: str
    owner: str
    wecom_tag: str | None
    sql_hash: str
    # (column, text value): export only the relation's rows with that value, e.g. one action
    # of next_best_action per file.
    rows_where: tuple[str, str] | None = None
    # A relation like marts.segment_membership (segment_name, customer_id, as_of_date,
    # is_exported, suppression): export only the customers it marks exported that night, and
    # count in the manifest the members held back (holdout, priority, cool-down).
    members_relation: str | None = None
    # The header of each column in the .xlsx, for people (the YAML's display_name); None: the
    # column names.
    headers: tuple[str, ...] | None = None
    # The .xlsx sheet's name, for people; None: the display name.
    sheet_name: str | None = None
    # The columns of for_people's table, in the CSV and .xlsx, when they differ from columns
    # (e.g. reason fields for programs worded into the reason and left out); None: columns.
    people_columns: tuple[str, ...] | None = None
    # The table as people read it, for the CSV and .xlsx (e.g. reasons in words, in the
    # operator's language); Parquet keeps the values programs read. None: the same table.
    for_people: Callable[[pa.Table], pa.Table] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # Validated on construction so a bad declaration fails before any file is written.
        object.__setattr__(self, "columns", tuple(self.columns))
        if not isinstance(self.name, str) or not _SEGMENT_NAME.fullmatch(self.name):
            raise PublishError(f"segment name {self.name!r} is not a safe file stem ([a-z0-9_]+)")
        label = f"segment {self.name!r}"
        if self.name == SYNC_STEM:
            raise PublishError(f"{label}: the name is reserved for {SYNC_FILE}")
        quote_relation(self.relation, label)
        if not self.columns or self.columns[0] != CUSTOMER_ID:
            raise PublishError(
                f"{label}: columns must start with {CUSTOMER_ID!r}, got {list(self.columns)!r}"
            )
        if any(not isinstance(column, str) or not column for column in self.columns):
            raise PublishError(f"{label}: column names must be non-empty strings")
        duplicates = sorted({c for c in self.columns if self.columns.count(c) > 1})
        if duplicates:
            raise PublishError(f"{label}: columns declared twice: {duplicates}")
        if self.wecom_tag is not None and (
            not isinstance(self.wecom_tag, str) or not self.wecom_tag.strip()
        ):
            raise PublishError(f"{label}: wecom_tag must be a non-empty string or None")
        if not isinstance(self.sql_hash, str) or not self.sql_hash:
            raise PublishError(f"{label}: sql_hash must be a non-empty string")
        if self.rows_where is not None and (
            len(self.rows_where) != 2 or not all(isinstance(v, str) for v in self.rows_where)
        ):
            raise PublishError(f"{label}: rows_where must be a (column, text value) pair")
        if self.members_relation is not None:
            quote_relation(self.members_relation, f"{label} members_relation")
        if self.people_columns is not None:
            object.__setattr__(self, "people_columns", tuple(self.people_columns))
            if not self.people_columns or self.people_columns[0] != CUSTOMER_ID:
                raise PublishError(f"{label}: people_columns must start with {CUSTOMER_ID!r}")
        shown = self.people_columns or self.columns
        if self.headers is not None:
            object.__setattr__(self, "headers", tuple(self.headers))
            if len(self.headers) != len(shown) or not all(
                isinstance(header, str) and header.strip() for header in self.headers
            ):
                raise PublishError(
                    f"{label}: headers must be one non-empty text per column, got "
                    f"{list(self.headers)!r} for {list(shown)!r}"
                )

    def source_sql(self, as_of: date) -> str:
        """The rows to export, as a FROM item: the relation, or its filtered part."""
        relation = quote_relation(self.relation, f"segment {self.name!r}")
        conditions = []
        if self.rows_where is not None:
            column, value = self.rows_where
            conditions.append(f"{quote_identifier(column)} = {text_literal(value)}")
        if self.members_relation is not None:
            conditions.append(
                f"{quote_identifier(CUSTOMER_ID)} IN (SELECT customer_id FROM "
                f"{self._members_sql(as_of)} WHERE is_exported)"
            )
        if not conditions:
            return relation
        return f"(SELECT * FROM {relation} WHERE {' AND '.join(conditions)})"

    def _members_sql(self, as_of: date) -> str:
        """This segment's rows of members_relation for the night, as a FROM item."""
        members = quote_relation(self.members_relation, f"segment {self.name!r}")
        return (
            f"(SELECT * FROM {members} WHERE segment_name = {text_literal(self.name)} "
            f"AND as_of_date = DATE '{as_of.isoformat()}')"
        )


@dataclass(frozen=True)
class CustomerTable:
    """A table of customers exported each night for people, beside its fields for programs:
    the Parquet holds ``columns`` of ``relation`` as they are; the CSV and .xlsx hold
    ``for_people``'s table of them, whose columns are ``people_columns`` (e.g. reasons in words
    made from several fields), the .xlsx with ``headers``."""

    name: str
    relation: str
    columns: tuple[str, ...]
    people_columns: tuple[str, ...]
    headers: tuple[str, ...]
    sheet_name: str
    for_people: Callable[[pa.Table], pa.Table] = field(compare=False)

    def __post_init__(self) -> None:
        for name in ("columns", "people_columns", "headers"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        label = f"customer table {self.name!r}"
        if not _SEGMENT_NAME.fullmatch(self.name) or self.name == SYNC_STEM:
            raise PublishError(f"{label}: the name is not a free file stem ([a-z0-9_]+)")
        quote_relation(self.relation, label)
        for name, columns in (("columns", self.columns), ("people_columns", self.people_columns)):
            if not columns or columns[0] != CUSTOMER_ID:
                raise PublishError(f"{label}: {name} must start with {CUSTOMER_ID!r}")
        if len(self.headers) != len(self.people_columns):
            raise PublishError(f"{label}: headers must be one text per people column")


@dataclass(frozen=True)
class SegmentResult:
    """What one segment's export produced, kept for the sync file and the manifest."""

    ids: list[Any]
    previous_ids: list[Any]
    previous_tag: str | None
    entered: list[Any]
    left: list[Any]
    files: dict[str, str]
    membership: dict[str, int] | None


def export_segment(
    connection: duckdb.DuckDBPyConnection,
    directory: Path,
    segment: SegmentExport,
    as_of: date,
    previous_dir: Path | None,
    previous_entry: dict[str, Any] | None,
    xlsx_max_rows: int,
) -> SegmentResult:
    """Write one segment's files; errors are re-raised naming the segment."""
    label = f"segment {segment.name!r}"
    try:
        table = _read_segment(connection, segment, as_of, label)
        membership = _membership_counts(connection, segment, as_of, label, table.num_rows)
        ids = table.column(0).to_pylist()
        id_field = table.schema.field(0)
        previous_ids: list[Any] = []
        if previous_entry is not None and previous_dir is not None:
            previous_ids = _read_previous_ids(
                previous_dir, previous_entry, segment.name, label, table.schema.field(0).type
            )
        previous_set, current_set = set(previous_ids), set(ids)
        # Both lists keep their file's customer_id order, so the outputs are sorted too.
        entered = [customer_id for customer_id in ids if customer_id not in previous_set]
        left = [customer_id for customer_id in previous_ids if customer_id not in current_set]

        name = segment.name
        readable = segment.for_people(table) if segment.for_people else table
        shown = segment.people_columns or segment.columns
        if tuple(readable.column_names) != shown:
            raise PublishError(
                f"{label}: the table for people has the columns {readable.column_names}, not "
                f"{list(shown)}"
            )
        files = write_table_files(
            directory,
            name,
            table,
            readable,
            segment.headers or shown,
            segment.sheet_name or segment.display_name,
            as_of,
            xlsx_max_rows,
            label,
        )
        files[f"{name}.entered.csv"] = write_table_csv(
            directory / f"{name}.entered.csv", _id_table(entered, id_field), for_people=True
        )
        files[f"{name}.left.csv"] = write_table_csv(
            directory / f"{name}.left.csv", _id_table(left, id_field), for_people=True
        )
    except PublishError:
        raise
    except Exception as error:
        raise PublishError(f"{label}: {error}") from error
    return SegmentResult(
        ids=ids,
        previous_ids=previous_ids,
        previous_tag=(previous_entry or {}).get("wecom_tag"),
        entered=entered,
        left=left,
        files=files,
        membership=membership,
    )


def export_customer_table(
    connection: duckdb.DuckDBPyConnection,
    directory: Path,
    customer_table: CustomerTable,
    as_of: date,
    xlsx_max_rows: int,
) -> dict[str, Any]:
    """Write one customer table's files; its manifest entry (rows, files)."""
    label = f"customer table {customer_table.name!r}"
    try:
        relation = quote_relation(customer_table.relation, label)
        available = relation_columns(connection, relation, customer_table.relation, label)
        missing = [column for column in customer_table.columns if column not in available]
        if missing:
            raise PublishError(
                f"{label}: column(s) {missing} not in {customer_table.relation} "
                f"(it has {available})"
            )
        check_customer_ids(connection, relation, customer_table.relation, label)
        select = ", ".join(quote_identifier(column) for column in customer_table.columns)
        table = (
            connection.sql(
                f"SELECT {select} FROM {relation} ORDER BY {quote_identifier(CUSTOMER_ID)}"
            )
            .to_arrow_table()
            .combine_chunks()
        )
        readable = customer_table.for_people(table)
        if tuple(readable.column_names) != customer_table.people_columns:
            raise PublishError(
                f"{label}: for_people gave the columns {readable.column_names}, not "
                f"{list(customer_table.people_columns)}"
            )
        files = write_table_files(
            directory,
            customer_table.name,
            table,
            readable,
            customer_table.headers,
            customer_table.sheet_name,
            as_of,
            xlsx_max_rows,
            label,
        )
    except PublishError:
        raise
    except Exception as error:
        raise PublishError(f"{label}: {error}") from error
    return {
        "relation": customer_table.relation,
        "columns": list(customer_table.columns),
        "rows": table.num_rows,
        "files": files,
    }


def _read_segment(
    connection: duckdb.DuckDBPyConnection, segment: SegmentExport, as_of: date, label: str
) -> pa.Table:
    """The segment's declared columns, sorted by customer_id, after checking its contract."""
    relation = quote_relation(segment.relation, label)
    available = relation_columns(connection, relation, segment.relation, label)
    if segment.rows_where is not None and segment.rows_where[0] not in available:
        raise PublishError(
            f"{label}: rows_where column {segment.rows_where[0]!r} not in {segment.relation}"
        )
    relation = segment.source_sql(as_of)
    missing = [column for column in segment.columns if column not in available]
    if missing:
        raise PublishError(
            f"{label}: column(s) {missing} not in {segment.relation} (it has {available})"
        )
    check_customer_ids(connection, relation, segment.relation, label)
    select = ", ".join(quote_identifier(column) for column in segment.columns)
    sql = f"SELECT {select} FROM {relation} ORDER BY {quote_identifier(CUSTOMER_ID)}"
    # One chunk, so the Parquet layout cannot depend on how DuckDB happened to batch the rows.
    return connection.sql(sql).to_arrow_table().combine_chunks()


def _membership_counts(
    connection: duckdb.DuckDBPyConnection,
    segment: SegmentExport,
    as_of: date,
    label: str,
    exported_rows: int,
) -> dict[str, int] | None:
    """Members, exported and held back by reason; the export must match the exported count."""
    if segment.members_relation is None:
        return None
    rows = connection.sql(
        f"SELECT coalesce(suppression, 'exported'), count(*) FROM {segment._members_sql(as_of)} "
        "GROUP BY ALL"
    ).fetchall()
    counts = {"members": 0, "exported": 0, "holdout": 0, "priority": 0, "cooldown": 0}
    for outcome, customers in rows:
        if outcome not in counts:
            raise PublishError(f"{label}: unknown suppression {outcome!r} in members_relation")
        counts[outcome] = customers
        counts["members"] += customers
    if counts["exported"] != exported_rows:
        raise PublishError(
            f"{label}: {segment.members_relation} marks {counts['exported']} customers "
            f"exported on {as_of.isoformat()} but the segment has {exported_rows} of them"
        )
    return counts


def _read_previous_ids(
    previous_dir: Path, entry: dict[str, Any], name: str, label: str, id_type: pa.DataType
) -> list[Any]:
    """customer_id of the segment on the previous night, checked against that manifest."""
    filename = f"{name}.parquet"
    path = previous_dir / filename
    if not path.is_file():
        raise PublishError(f"{label}: previous night {previous_dir.name} lacks {filename}")
    expected = entry.get("files", {}).get(filename)
    if expected is not None and sha256_file(path) != expected:
        raise PublishError(f"{label}: {path} does not match the checksum in its manifest")
    column = pq.read_table(path, columns=[CUSTOMER_ID]).column(0)
    if column.type != id_type:
        try:
            column = column.cast(id_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise PublishError(
                f"{label}: customer_id changed type from {column.type} ({previous_dir.name}) "
                f"to {id_type} and cannot be compared"
            ) from error
    return column.to_pylist()


def _id_table(ids: list[Any], id_field: pa.Field) -> pa.Table:
    """A one-column table of customer ids, typed like the segment's."""
    return pa.table([pa.array(ids, type=id_field.type)], schema=pa.schema([id_field]))
