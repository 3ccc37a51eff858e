"""The read-only copy of the warehouse that BI tools query, and Parquet per mart.

DuckDB allows one writer per file, and the nightly job is that writer. BI tools therefore read
what this module publishes into ``published/``:

- ``warehouse.duckdb``: a copy of the finished warehouse, less the schemas BI users are not to
  see (the unvalidated ``raw``, the job's ``audit``), swapped in by rename. A reader that
  opened the previous copy keeps reading it (the old file lives on until it closes it), so
  readers are never blocked and never see half a night; the publisher writes a new file beside
  it, so readers never block a publish. Its table ``published.night`` says which night it is.
- ``marts/<table>.parquet``: every table of the ``marts`` schema, for tools that read files.
  ``marts`` is a symlink to a directory written whole (``.marts-<night>-<run id>/``, with
  ``publication.json``), swapped by replacing the link, so a reader resolving the link sees one
  night's files. The directory it replaced stays one more night for readers still in it.
- A table kept per night (dbt ``meta.kept_per_night``) grows by a night each night, so it is a
  Hive-partitioned folder instead: ``marts/<table>/as_of_date=<night>/data.parquet``. A night
  whose rows are those of the file published before (same columns, row count and summed 64-bit
  row hash) is hard-linked from the previous directory rather than written again; only the
  nights that changed are written.
  A table written by the incremental models (with ``_written_at``, left out of its files) is
  hashed only where the latest ``_written_at`` moved but the row count did not: they never
  change a row in place, and a partition with another count is written without comparing.
  Its fingerprint is then read back from the file written.
- A big fact that grows by appending (dbt ``meta.published_by_month``, naming a date or
  timestamp column) is Hive-partitioned by that column's month the same way:
  ``marts/<table>/<column>_month=<yyyy-mm>/data.parquet``, each month linked while its rows are
  those published before. Its files leave out ``as_of_date``, the same night on every row (in
  ``publication.json``), and ``_written_at``, the build's bookkeeping: with them every file
  would change every night.

Both are read from the finished warehouse at once, under one read-only connection: the byte copy
is bound by the disk and the Parquet by the CPU, so each runs while the other waits. The
connection holds the file's shared lock, so no writer can change it meanwhile, and the Parquet
files are exactly the tables in the DuckDB file.
"""

import json
import os
import shutil
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import duckdb

from orchestration import duckdb_settings
from orchestration.duckdb_settings import fetch_one
from orchestration.durable import fsync
from orchestration.publishing.errors import PublishError
from orchestration.publishing.lock import DEFAULT_LOCK_TIMEOUT_SECONDS, publisher_lock
from orchestration.raw_loader import RAW_SCHEMA

PUBLISHED_NAME: Final = "warehouse.duckdb"
MARTS_LINK: Final = "marts"
PUBLICATION_FILE: Final = "publication.json"
PARQUET_SCHEMAS: Final = ("marts",)
NIGHT_TABLE: Final = "published.night"
PARTITION_COLUMN: Final = "as_of_date"
PARTITION_FILE: Final = "data.parquet"
# When the build wrote a row (macros/checked_writes.sql), in the tables the incremental models
# write: a partition whose latest one is unchanged is not hashed again.
WRITTEN_AT: Final = "_written_at"
# Left out of the files of a table published by month: the night, the same on every row, and
# when the build wrote each row (docs/incremental.md).
LEFT_OUT_OF_MONTHS: Final = (PARTITION_COLUMN, WRITTEN_AT)
# What must match for a night's or a month's file to be reused.
_SAME_PART: Final = ("rows", "fingerprint", "columns")
# The phases of a publish, timed: the byte copy of the warehouse, the Parquet of the marts
# (written and flushed), which run at the same time and are each timed from their common start,
# and after both the stamp and the flush of the copy before the swap. The kernel writes the
# copy out meanwhile too, so on a slow disk part of its cost shows in the sync.
PUBLISH_PHASES: Final = ("copy", "parquet", "sync")
# How the asset logs them, one line a night; benchmarks/nightly.py reads it back.
PUBLISH_PHASES_PREFIX: Final = "publish phases: "
_MARTS_DIR_PREFIX: Final = ".marts-"
_TEMPORARY_SUFFIX: Final = ".tmp"
# DuckDB keeps a write-ahead log beside a file open for writing; a killed publisher leaves it.
_WAL_SUFFIX: Final = ".wal"


@dataclass(frozen=True)
class Publication:
    """What one publish put into ``published/``."""

    as_of_date: date
    run_id: str
    published_at: str
    warehouse: Path
    parquet_dir: Path
    tables: dict[str, int]
    # Per table kept per night: each night's record in publication.json (``linked`` or not).
    nights: dict[str, dict[str, dict[str, Any]]]
    # The same per table published by month, by month.
    months: dict[str, dict[str, dict[str, Any]]]
    # Wall seconds per phase (PUBLISH_PHASES): the copy is disk-bound, the Parquet CPU-bound;
    # the two overlap.
    seconds: dict[str, float]

    @property
    def phases_line(self) -> str:
        """The phase timings as one log line (PUBLISH_PHASES_PREFIX)."""
        return PUBLISH_PHASES_PREFIX + ", ".join(
            f"{phase} {self.seconds[phase]:.2f} s" for phase in PUBLISH_PHASES
        )

    @property
    def nights_written(self) -> dict[str, int]:
        return _count_parts(self.nights, linked=False)

    @property
    def nights_linked(self) -> dict[str, int]:
        return _count_parts(self.nights, linked=True)

    @property
    def months_written(self) -> dict[str, int]:
        return _count_parts(self.months, linked=False)

    @property
    def months_linked(self) -> dict[str, int]:
        return _count_parts(self.months, linked=True)


def _count_parts(parts: dict[str, dict[str, dict[str, Any]]], *, linked: bool) -> dict[str, int]:
    return {
        table: sum(part["linked"] is linked for part in by_part.values())
        for table, by_part in parts.items()
    }


def is_kept_per_night(node: Mapping[str, Any]) -> bool:
    """A manifest model configured with ``kept_per_night()``: it keeps every night."""
    return ((node.get("config") or {}).get("meta") or {}).get("kept_per_night") is True


def tables_kept_per_night(manifest: Mapping[str, Any]) -> frozenset[str]:
    """The published tables that keep every night."""
    return frozenset(
        node.get("alias") or node["name"]
        for node in manifest["nodes"].values()
        if node.get("resource_type") == "model"
        and node.get("schema") in PARQUET_SCHEMAS
        and is_kept_per_night(node)
    )


def tables_published_by_month(manifest: Mapping[str, Any]) -> dict[str, str]:
    """The published tables written one file per month, with the column that dates a row."""
    return {
        node.get("alias") or node["name"]: column
        for node in manifest["nodes"].values()
        if node.get("resource_type") == "model"
        and node.get("schema") in PARQUET_SCHEMAS
        and (column := ((node.get("config") or {}).get("meta") or {}).get("published_by_month"))
    }


def publish_warehouse(
    warehouse: Path,
    published_dir: Path,
    as_of: date,
    run_id: str,
    *,
    kept_per_night: Collection[str] = (),
    published_by_month: Mapping[str, str] | None = None,
    lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
) -> Publication:
    """Copy the finished warehouse and its marts as Parquet into ``published_dir``, atomically.

    The tables named in ``kept_per_night`` are written one file per night, and those in
    ``published_by_month`` (table: dating column) one file per month, reusing the files the
    previous publication already holds unchanged. Whatever the publisher dies at,
    ``published/`` holds the previous night or this one, whole.
    """
    warehouse, published_dir = Path(warehouse), Path(published_dir)
    if os.sep in run_id or not run_id:
        raise PublishError(f"run id {run_id!r} cannot name a directory")
    night = as_of.isoformat()
    with publisher_lock(published_dir, lock_timeout_seconds):
        _remove_leftovers(published_dir)
        # Fold a write-ahead log into the file so the copy is complete on its own. Without
        # one, a read lock is all publishing takes: readers of the warehouse do not stop it.
        if warehouse.with_name(f"{warehouse.name}.wal").exists():
            with duckdb_settings.connect(warehouse) as connection:
                connection.execute("checkpoint")
        target = published_dir / PUBLISHED_NAME
        temporary = published_dir / f".{PUBLISHED_NAME}.{os.getpid()}{_TEMPORARY_SUFFIX}"
        parquet_dir = published_dir / f"{_MARTS_DIR_PREFIX}{night}-{run_id}"
        published_at = datetime.now(UTC).isoformat()
        seconds: dict[str, float] = {}
        started = time.perf_counter()
        try:
            if parquet_dir.exists():  # a crashed publish of the same run
                shutil.rmtree(parquet_dir)
            parquet_dir.mkdir()
            # The shared lock of a read-only connection keeps writers out while both read.
            with (
                duckdb_settings.connect(warehouse, read_only=True) as source,
                _Copying(warehouse, temporary) as copying,
            ):
                tables, nights, months = _export(
                    source,
                    parquet_dir,
                    as_of,
                    set(kept_per_night),
                    dict(published_by_month or {}),
                    _published_parts(published_dir / MARTS_LINK),
                )
                publication = {
                    "as_of_date": night,
                    "run_id": run_id,
                    "published_at": published_at,
                }
                _write_json(
                    parquet_dir / PUBLICATION_FILE,
                    {**publication, "tables": tables, "nights": nights, "months": months},
                )
                parquet_done = time.perf_counter()
            seconds["copy"] = round(copying.finished_at - started, 2)
            seconds["parquet"] = round(parquet_done - started, 2)
            synced_from = time.perf_counter()
            _stamp(temporary, as_of, run_id, published_at)
            fsync(temporary)
            fsync(parquet_dir)
            os.replace(temporary, target)
            previous_dir = _swap_link(published_dir / MARTS_LINK, parquet_dir.name)
            fsync(published_dir)
            seconds["sync"] = round(time.perf_counter() - synced_from, 2)
        except BaseException:
            temporary.unlink(missing_ok=True)
            temporary.with_name(temporary.name + _WAL_SUFFIX).unlink(missing_ok=True)
            if not _link_points_to(published_dir / MARTS_LINK, parquet_dir.name):
                shutil.rmtree(parquet_dir, ignore_errors=True)
            raise
        _prune_marts_dirs(published_dir, keep={parquet_dir.name, previous_dir})
    return Publication(
        as_of, run_id, published_at, target, parquet_dir, tables, nights, months, seconds
    )


def published_night(published_dir: Path) -> date | None:
    """The night in ``published/warehouse.duckdb``, or None if there is none (or it predates
    the ``published.night`` table)."""
    target = Path(published_dir) / PUBLISHED_NAME
    if not target.is_file():
        return None
    with duckdb_settings.connect(target, read_only=True) as connection:
        try:
            row = connection.execute(f"select max(as_of_date) from {NIGHT_TABLE}").fetchone()
        except duckdb.CatalogException:
            return None
    return row[0] if row else None


class _Copying:
    """A byte copy of ``source`` to ``target`` in a thread, for the time of a ``with`` block.

    The copy is disk-bound and releases the GIL, so the block's DuckDB work runs meanwhile.
    Leaving the block waits for the copy and raises its error, if any; ``finished_at`` is
    when it ended (time.perf_counter).
    """

    def __init__(self, source: Path, target: Path) -> None:
        self._source, self._target = source, target
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._copy, name="publish-copy", daemon=True)
        self.finished_at = 0.0

    def _copy(self) -> None:
        try:
            shutil.copyfile(self._source, self._target)
        except BaseException as error:  # handed to the publishing thread
            self._error = error
        finally:
            self.finished_at = time.perf_counter()

    def __enter__(self) -> "_Copying":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


# Schemas of the working warehouse that BI users are not to see. ``raw`` holds the night's
# files as they came, before validation, some as views of the raw directory's absolute paths
# (which break once it is rotated); ``audit`` the job's bookkeeping (the deliveries' ledger,
# known keys, fingerprints); ``dbt_test__audit`` the failing rows of tests that store them.
UNPUBLISHED_SCHEMAS: Final = (RAW_SCHEMA, "audit", "dbt_test__audit")


def _stamp(copy: Path, as_of: date, run_id: str, published_at: str) -> None:
    """Record the night in the copy (``published.night``), and drop the schemas BI users are
    not to see (UNPUBLISHED_SCHEMAS)."""
    with duckdb_settings.connect(copy) as connection:
        for schema in UNPUBLISHED_SCHEMAS:
            connection.execute(f"drop schema if exists {schema} cascade")
        connection.execute("create schema if not exists published")
        connection.execute(
            f"create or replace table {NIGHT_TABLE} as select "
            "?::date as as_of_date, ?::varchar as run_id, ?::timestamptz as published_at",
            [as_of, run_id, published_at],
        )
        connection.execute("checkpoint")


@dataclass(frozen=True)
class _Partitioning:
    """How one table's Parquet is split into Hive partitions, one file each."""

    section: str  # where publication.json records the partitions: "nights" or "months"
    kind: str  # what the table is, for errors
    column: str  # the column a row's partition comes from
    key: str  # the partition's name in its folder
    value: str  # SQL: a row's partition, grouped on
    label: str  # the strftime format that names a partition from its value
    left_out: tuple[str, ...]  # columns not in the files, where the table has them
    empty: str  # the partition written for a table without rows

    def per_part(self, relation: str, aggregates: str, where: str = "") -> str:
        """SQL: ``aggregates`` per partition, after its name. Grouped on the value and named
        after: formatting every row's month first was most of the query."""
        return (
            f"select strftime(part_value, '{self.label}') as part, * exclude (part_value) "
            f"from (select {self.value} as part_value, {aggregates} from {relation} {where} "
            "group by part_value) order by part"
        )

    def rows_of(self, part: str) -> str:
        """SQL: the rows of a partition, as a range on the column (DuckDB skips row groups)."""
        if self.section == "nights":
            return f"\"{self.column}\" = date '{part}'"
        month = date.fromisoformat(f"{part}-01")
        following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        return (
            f"\"{self.column}\" >= date '{month.isoformat()}' "
            f"and \"{self.column}\" < date '{following.isoformat()}'"
        )


def _by_night(as_of: date) -> _Partitioning:
    return _Partitioning(
        section="nights",
        kind="kept per night",
        column=PARTITION_COLUMN,
        key=PARTITION_COLUMN,
        value=f'"{PARTITION_COLUMN}"',
        label="%Y-%m-%d",
        left_out=(PARTITION_COLUMN, WRITTEN_AT),
        empty=as_of.isoformat(),
    )


def _by_month(column: str, as_of: date) -> _Partitioning:
    return _Partitioning(
        section="months",
        kind=f"published by the month of {column}",
        column=column,
        key=f"{column}_month",
        value=f"date_trunc('month', \"{column}\")",
        label="%Y-%m",
        left_out=LEFT_OUT_OF_MONTHS,
        empty=as_of.strftime("%Y-%m"),
    )


def _export(
    connection: duckdb.DuckDBPyConnection,
    parquet_dir: Path,
    as_of: date,
    kept_per_night: set[str],
    published_by_month: dict[str, str],
    previous: dict[str, dict[str, dict[str, dict[str, Any]]]],
) -> tuple[dict[str, int], dict[str, Any], dict[str, Any]]:
    """Write each mart of the warehouse open on ``connection`` as Parquet: its row counts, and
    per table kept per night or published by month, what each partition's file holds
    (``previous`` is the same from the publication before, by section)."""
    tables: dict[str, int] = {}
    parts: dict[str, dict[str, dict[str, dict[str, Any]]]] = {"nights": {}, "months": {}}
    written: list[Path] = []
    names = connection.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' and table_schema in "
        f"({', '.join('?' for _ in PARQUET_SCHEMAS)}) order by table_name",
        list(PARQUET_SCHEMAS),
    ).fetchall()
    # A table has no row order to keep, and DuckDB writes a file on every core without it.
    connection.execute("set preserve_insertion_order = false")
    for schema, table in names:
        partitioning = None
        if table in kept_per_night:
            partitioning = _by_night(as_of)
        elif table in published_by_month:
            partitioning = _by_month(published_by_month[table], as_of)
        if partitioning is not None:
            by_part = _export_partitioned(
                connection,
                schema,
                table,
                partitioning,
                parquet_dir,
                previous.get(partitioning.section, {}).get(table, {}),
                written,
            )
            parts[partitioning.section][table] = by_part
            tables[table] = sum(part["rows"] for part in by_part.values())
            continue
        path = parquet_dir / f"{table}.parquet"
        connection.execute(
            f'copy (select * from "{schema}"."{table}") to \'{path}\' '
            "(format parquet, compression zstd)"
        )
        written.append(path)
        (tables[table],) = fetch_one(connection, f'select count(*) from "{schema}"."{table}"')
    # Linked files were synced when first written; new files and every directory are synced.
    for path in written:
        fsync(path)
    for directory, _, _ in os.walk(parquet_dir, topdown=False):
        fsync(Path(directory))
    return tables, parts["nights"], parts["months"]


def _export_partitioned(
    connection: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    partitioning: _Partitioning,
    parquet_dir: Path,
    previous: dict[str, dict[str, Any]],
    written: list[Path],
) -> dict[str, dict[str, Any]]:
    """One Hive partition per night or month; one the previous publication holds unchanged is
    linked.

    A partition is unchanged when its file's columns, row count and summed 64-bit row hash are
    those recorded for the previous file (``_fingerprints``). The partition is in the folder
    name only, as Hive, Spark and DuckDB expect. A table with no rows (``tag_changes`` on the
    first night) gets an empty file in the night's partition, so its folder is there and says
    its columns.
    """
    columns = connection.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    if partitioning.column not in {name for name, _ in columns}:
        raise PublishError(
            f"{schema}.{table} is {partitioning.kind} but has no {partitioning.column}"
        )
    kept = [(name, data_type) for name, data_type in columns if name not in partitioning.left_out]
    shape = ", ".join(f"{name} {data_type}" for name, data_type in kept)
    quoted = ", ".join(f'"{name}"' for name, _ in kept)
    fingerprints = _fingerprints(
        connection,
        f'"{schema}"."{table}"',
        partitioning,
        quoted,
        shape,
        previous,
        by_lineage=WRITTEN_AT in {name for name, _ in columns},
    )
    if None in fingerprints:
        raise PublishError(f"{schema}.{table} has rows without {partitioning.column}")
    parts = {part: known for part, known in fingerprints.items() if part is not None}
    by_part: dict[str, dict[str, Any]] = {}
    for part, (rows, fingerprint, written_through) in (
        parts or {partitioning.empty: (0, None, None)}
    ).items():
        relative = f"{table}/{partitioning.key}={part}/{PARTITION_FILE}"
        path = parquet_dir / relative
        path.parent.mkdir(parents=True)
        record = {"file": relative, "rows": rows, "fingerprint": fingerprint, "columns": shape}
        if written_through is not None:
            record["written_through"] = written_through
        before = previous.get(part)
        # A partition without a fingerprint is one to write (unless it has no rows at all).
        known = fingerprint is not None or not rows
        if known and before is not None and all(before[key] == record[key] for key in _SAME_PART):
            try:
                os.link(before["path"], path)
            except OSError:
                pass  # gone, or another file system: write it
            else:
                by_part[part] = {**record, "linked": True}
                continue
        condition = partitioning.rows_of(part) if rows else "false"
        connection.execute(
            f'copy (select {quoted} from "{schema}"."{table}" where {condition}) '
            f"to '{path}' (format parquet, compression zstd)"
        )
        written.append(path)
        if rows and fingerprint is None:
            record["fingerprint"] = _file_fingerprint(connection, path, kept)
        by_part[part] = {**record, "linked": False}
    return by_part


def _file_fingerprint(
    connection: duckdb.DuckDBPyConnection, path: Path, columns: list[tuple[str, str]]
) -> str | None:
    """The fingerprint of a partition's rows, read back from the file just written: the same
    sum as ``_fingerprints`` takes from the table, each column cast to its type in the table.
    A partition certainly written is hashed here rather than in the table, where its rows are
    spread over the whole table, so reading one month there reads nearly every block, only
    to learn that it had changed."""
    values = ", ".join(f'cast("{name}" as {data_type})' for name, data_type in columns)
    (fingerprint,) = fetch_one(
        connection, f"select sum(hash({values}))::varchar from read_parquet('{path}')"
    )
    return fingerprint


def _fingerprints(
    connection: duckdb.DuckDBPyConnection,
    relation: str,
    partitioning: _Partitioning,
    quoted: str,
    shape: str,
    previous: dict[str, dict[str, Any]],
    *,
    by_lineage: bool,
) -> dict[str | None, tuple[int, str | None, str | None]]:
    """Per partition: its row count, its fingerprint (the summed 64-bit hash of its rows, as
    text) and, for a table written by the project's incremental models, the latest
    ``_written_at`` in it.

    Such a table never changes a row in place (macros/checked_writes.sql): a row is deleted,
    or written whole with the start of the run that writes it. A partition with the row count
    and latest ``_written_at`` it had when published before therefore holds the rows it held,
    and keeps the fingerprint recorded then without a scan. A partition written again with
    the count and columns of the file published before may hold the same rows (the timeline
    writes a customer numbered again whole): it is hashed, one range of the dating column
    each, and linked if its rows are the same. Any other partition (new, or with another count
    or columns) is certainly written: it gets no fingerprint here, and ``_export_partitioned``
    takes it from the file it writes.
    """
    if not by_lineage:
        rows = connection.execute(
            partitioning.per_part(relation, f"count(*), sum(hash({quoted}))::varchar")
        ).fetchall()
        return {part: (count, fingerprint, None) for part, count, fingerprint in rows}
    marks = connection.execute(
        partitioning.per_part(relation, f"count(*), max({WRITTEN_AT})::varchar")
    ).fetchall()
    result: dict[str | None, tuple[int, str | None, str | None]] = {}
    to_hash: list[str] = []
    for part, count, written_through in marks:
        before = previous.get(part) if part is not None else None
        if (
            before is not None
            and before.get("written_through") == written_through
            and before["rows"] == count
            and before["columns"] == shape
        ):
            result[part] = (count, before["fingerprint"], written_through)
        else:
            result[part] = (count, None, written_through)
            if (
                before is not None
                and before["rows"] == count
                and before["columns"] == shape
                and before["fingerprint"] is not None
            ):
                to_hash.append(part)
    if to_hash:
        where = (
            ""
            if len(to_hash) == len(marks)
            else "where " + " or ".join(f"({partitioning.rows_of(part)})" for part in to_hash)
        )
        hashed = connection.execute(
            partitioning.per_part(relation, f"sum(hash({quoted}))::varchar", where)
        ).fetchall()
        for part, fingerprint in hashed:
            count, _, written_through = result[part]
            result[part] = (count, fingerprint, written_through)
    return result


def _published_parts(marts_link: Path) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """Per section ("nights", "months") and table, what the current publication holds, with
    each file's path. Empty when nothing is published yet, or the publication predates it."""
    try:
        document = json.loads((marts_link / PUBLICATION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    directory = marts_link.resolve()
    return {
        section: {
            table: {
                part: {**record, "path": directory / record["file"]}
                for part, record in by_part.items()
            }
            for table, by_part in (document.get(section) or {}).items()
        }
        for section in ("nights", "months")
    }


def _swap_link(link: Path, target_name: str) -> str | None:
    """Point ``link`` at ``target_name`` by renaming a new link over it; returns the old target."""
    previous = os.readlink(link) if link.is_symlink() else None
    if link.exists() and not link.is_symlink():
        raise PublishError(f"{link} is not a symlink; move it away before publishing")
    staging = link.with_name(f".{link.name}.link{_TEMPORARY_SUFFIX}")
    staging.unlink(missing_ok=True)
    staging.symlink_to(target_name, target_is_directory=True)
    os.replace(staging, link)
    return previous


def _link_points_to(link: Path, target_name: str) -> bool:
    return link.is_symlink() and os.readlink(link) == target_name


def _remove_leftovers(published_dir: Path) -> None:
    """Delete the temporary files of a publisher that died; the lock says none is running.

    Its half-written Parquet directory goes with the next prune, after the link has moved.
    """
    for entry in published_dir.iterdir():
        if entry.name.startswith(".") and entry.name.removesuffix(_WAL_SUFFIX).endswith(
            _TEMPORARY_SUFFIX
        ):
            entry.unlink(missing_ok=True)


def _prune_marts_dirs(published_dir: Path, keep: set[str | None]) -> None:
    """Remove the Parquet directories of older nights and of publishers that died."""
    for entry in published_dir.iterdir():
        if entry.name.startswith(_MARTS_DIR_PREFIX) and entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)


def _write_json(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
