"""The nightly export publisher for customer segments (人群包).

Marketing tools load one directory per night, ``<exports_root>/<YYYY-MM-DD>/``:

* ``<name>.parquet`` / ``<name>.csv`` / ``<name>.xlsx``: the segment's declared columns, one
  row per customer, sorted by customer_id. Parquet, for programs, keeps raw values; the CSV and
  the workbook, for people, are written for Excel (see ``UTF8_BOM`` and ``FORMULA_PREFIXES``),
  the workbook with the columns' display names as headers.
* ``<name>.entered.csv`` / ``<name>.left.csv``: customer_id of the customers who entered / left
  the segment since the previous published night (the latest earlier night with a manifest),
  for people like the segment's CSV.
* ``wecom_tag_sync.csv``: the WeCom tag adds and removes implied by those changes, each add
  with the customer's remark, and a ``remark`` row for a customer whose remark changed since
  the one last sent (``wecom_sent_remarks.parquet`` carries what was sent, night to night);
  for programs, like the per-friendship ``wecom_mark_tag.csv``.
* ``<table>.parquet`` / ``<table>.csv`` / ``<table>.xlsx`` of each customer table (e.g.
  ``customer_reasons``: every customer's lifecycle stage and value tier, and why): the Parquet
  keeps the relation's fields, the CSV and workbook the table as people read it.
* ``manifest.json``: what was published, with a sha256 for every file; written last, and its
  presence is what makes a directory a published night.

Why it is built this way:

* The warehouse is opened read-only, so publishing can never change it.
* A night is built in a sibling temporary directory and renamed into place, so a reader never
  sees a half-written night, and a failed run leaves the previously published night untouched.
* Data files are deterministic (sorted rows, pinned Parquet options, pinned session time zone),
  so re-publishing a night gives byte-identical data files and checksums (for the same library
  versions: Parquet files record the writer's version); only the manifest's run_id and
  published_at change.

Nothing here imports Dagster: the asset that calls ``publish_night`` lives elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xlsxwriter

from orchestration import duckdb_settings
from orchestration.csv_text import csv_lines
from orchestration.duckdb_settings import fetch_one, text_literal
from orchestration.publishing.durable import fsync
from orchestration.publishing.errors import PublishError
from orchestration.publishing.guard import ExportGuard
from orchestration.publishing.lock import DEFAULT_LOCK_TIMEOUT_SECONDS, publisher_lock
from orchestration.publishing.wecom import (
    TAG_SEPARATOR,
    Friendship,
    MarkTagCall,
    WecomLimits,
    dry_run_summary,
    mark_tag_calls,
    parse_tags,
)

logger = logging.getLogger(__name__)

CUSTOMER_ID: Final = "customer_id"
MANIFEST_FILE: Final = "manifest.json"
SYNC_STEM: Final = "wecom_tag_sync"
SYNC_FILE: Final = f"{SYNC_STEM}.csv"
SYNC_COLUMNS: Final = ("tag", "action", "customer_id", "remark")
# A sync row that only re-sends a changed remark: no tag, this action.
REMARK_ACTION: Final = "remark"
SENT_REMARKS_FILE: Final = "wecom_sent_remarks.parquet"
MANIFEST_FORMAT_VERSION: Final = 2
# Nights the churn guard held back wait here, outside the published nights, for `scrm release`.
HELD_DIR: Final = "held"
FRIEND_TAGS_FILE: Final = "wecom_friend_tags.parquet"
MARK_TAG_FILE: Final = "wecom_mark_tag.csv"
MARK_TAG_COLUMNS: Final = ("minute", "staff_id", "customer_id", "add_tags", "remove_tags")
MARK_TAG_SUMMARY_FILE: Final = "wecom_mark_tag.summary.json"
# The dry-run summary's figures the manifest repeats (the summary file has them all).
MARK_TAG_MANIFEST_KEYS: Final = (
    "calls",
    "friendships_touched",
    "tags_touched",
    "adds",
    "removes",
    "minutes_needed",
    "largest_changes",
)

# Who reads a file decides how it is written (docs/segments.md). Files for people, a segment's
# CSV, .xlsx and entered / left lists, are for Excel: the CSV starts with a UTF-8 byte-order
# mark (without one, Excel on Chinese Windows reads it as GBK) and text that a spreadsheet
# could run as a formula is escaped. Files for programs, the WeCom sync and mark_tag files,
# Parquet and JSON, carry every value exactly as it is.
UTF8_BOM: Final = b"\xef\xbb\xbf"
# OWASP "CSV Injection": a cell starting with one of these may be run as a formula by a
# spreadsheet, so in a file for people, text cells starting with one get a leading single
# quote. Numbers are left as they are (a negative number is data, not a formula).
FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
# A segment of more rows gets no .xlsx (var export_xlsx_max_rows): XlsxWriter writes about
# 30,000 rows of 4 columns a second, and no one reads more rows than that in a spreadsheet.
XLSX_MAX_ROWS: Final = 100_000

_SEGMENT_NAME = re.compile(r"[a-z0-9_]+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The run id becomes part of a directory name, so it must not carry a path separator.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_NIGHT_DIR = re.compile(r"\d{4}-\d{2}-\d{2}")
_CSV_BATCH_ROWS: Final = 65_536
# Excel's limits: rows a sheet holds under its header, characters of a sheet name, digits of
# a number it keeps exactly, its first calendar year.
XLSX_SHEET_ROWS: Final = 1_048_575
_XLSX_TITLE_CHARS: Final = 31
_XLSX_EXACT_DIGITS: Final = 15
_XLSX_EXACT_UP_TO: Final = 10**_XLSX_EXACT_DIGITS - 1
_XLSX_FIRST_YEAR: Final = 1900
_XLSX_MIN_WIDTH: Final = 8
_XLSX_MAX_WIDTH: Final = 60

# Every option that could otherwise vary is pinned, so the same table gives the same bytes.
# Statistics are kept (readers use them) and are a pure function of the data.
_PARQUET_OPTIONS: Final[dict[str, Any]] = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "1.0",
    "data_page_size": 1 << 20,
    "row_group_size": 1 << 20,
    "write_page_index": False,
    "write_page_checksum": False,
    "store_schema": True,
    "use_compliant_nested_type": True,
    "use_deprecated_int96_timestamps": False,
}

# DuckDB session settings that change the Arrow result, pinned for determinism: the time zone
# decides the zone recorded for TIMESTAMPTZ columns and how the CSV renders them.
_SESSION_SETTINGS: Final = (
    "SET TimeZone = 'UTC'",
    "SET produce_arrow_string_view = false",
    "SET arrow_large_buffer_size = false",
    "SET arrow_lossless_conversion = false",
)


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
        _quote_relation(self.relation, label)
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
            _quote_relation(self.members_relation, f"{label} members_relation")
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
        relation = _quote_relation(self.relation, f"segment {self.name!r}")
        conditions = []
        if self.rows_where is not None:
            column, value = self.rows_where
            conditions.append(f"{_quote_identifier(column)} = {text_literal(value)}")
        if self.members_relation is not None:
            conditions.append(
                f"{_quote_identifier(CUSTOMER_ID)} IN (SELECT customer_id FROM "
                f"{self._members_sql(as_of)} WHERE is_exported)"
            )
        if not conditions:
            return relation
        return f"(SELECT * FROM {relation} WHERE {' AND '.join(conditions)})"

    def _members_sql(self, as_of: date) -> str:
        """This segment's rows of members_relation for the night, as a FROM item."""
        members = _quote_relation(self.members_relation, f"segment {self.name!r}")
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
        _quote_relation(self.relation, label)
        for name, columns in (("columns", self.columns), ("people_columns", self.people_columns)):
            if not columns or columns[0] != CUSTOMER_ID:
                raise PublishError(f"{label}: {name} must start with {CUSTOMER_ID!r}")
        if len(self.headers) != len(self.people_columns):
            raise PublishError(f"{label}: headers must be one text per people column")


@dataclass(frozen=True)
class _SegmentResult:
    """What one segment's export produced, kept for the sync file and the manifest."""

    ids: list[Any]
    previous_ids: list[Any]
    previous_tag: str | None
    entered: list[Any]
    left: list[Any]
    files: dict[str, str]
    membership: dict[str, int] | None


def publish_night(
    warehouse: Path,
    exports_root: Path,
    as_of: date,
    run_id: str,
    segments: Sequence[SegmentExport],
    *,
    remarks_relation: str | None = None,
    published_at: datetime | None = None,
    lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
    friendship_tags_relation: str | None = None,
    wecom_limits: WecomLimits | None = None,
    tag_coverage_relation: str | None = None,
    guard: ExportGuard | None = None,
    source_rows_relation: str | None = None,
    xlsx_max_rows: int = XLSX_MAX_ROWS,
    customer_tables: Sequence[CustomerTable] = (),
) -> dict[str, Any]:
    """Publish the night ``as_of`` atomically and return its manifest.

    Everything is written to ``.tmp-<D>-<run_id>`` first and renamed to ``<D>`` only when
    complete; on failure the temporary directory is removed, any existing ``<D>`` is left as it
    was, and PublishError is raised. One publisher at a time holds ``exports_root``'s lock.

    With ``friendship_tags_relation`` (staff_id, customer_id, wecom_tags), the night also gets
    the per-friendship mark_tag file (orchestration/publishing/wecom.py). With
    ``tag_coverage_relation`` (tag_name, coverage), the manifest records tag coverage, and with
    ``source_rows_relation`` (source_name, clean_rows) each raw source's clean rows. With
    ``guard``, a night that trips it goes to ``held/<D>`` instead (guard.py); the manifest's
    ``guard`` entry says so, and whether the BI copy is held too (``holds_published_warehouse``).
    A segment of more than ``xlsx_max_rows`` rows gets no .xlsx (the manifest records the limit).
    Each of ``customer_tables`` is written beside the segments (manifest ``customer_tables``).
    """
    warehouse, exports_root = Path(warehouse), Path(exports_root)
    _check_arguments(as_of, run_id, segments, remarks_relation, published_at)
    stems = [segment.name for segment in segments]
    clashing = sorted({table.name for table in customer_tables if table.name in stems})
    if clashing or len({table.name for table in customer_tables}) != len(customer_tables):
        raise PublishError(f"customer tables must have names of their own: {clashing}")
    check_xlsx_max_rows(xlsx_max_rows)
    night = as_of.isoformat()
    stamp = (published_at or datetime.now(UTC)).isoformat()
    temporary = exports_root / f".tmp-{night}-{run_id}"
    aside = exports_root / f".old-{night}-{run_id}"
    try:
        with publisher_lock(exports_root, lock_timeout_seconds):
            _recover_interrupted(exports_root)
            # Strictly earlier: re-publishing D must diff against the night before D, never D.
            previous = latest_published_night(exports_root, before=as_of)
            previous_manifest = read_manifest(exports_root, previous) if previous else None
            temporary.mkdir()
            manifest = _build_night(
                warehouse,
                temporary,
                segments,
                remarks_relation,
                previous_dir=exports_root / previous.isoformat() if previous else None,
                previous_manifest=previous_manifest,
                header={
                    "format_version": MANIFEST_FORMAT_VERSION,
                    "as_of_date": night,
                    "run_id": run_id,
                    "published_at": stamp,
                    "previous_night": previous.isoformat() if previous else None,
                    "xlsx_max_rows": xlsx_max_rows,
                },
                extras=_Extras(
                    friendship_tags_relation,
                    wecom_limits or WecomLimits.from_project(),
                    tag_coverage_relation,
                    guard,
                    source_rows_relation,
                    tuple(customer_tables),
                ),
            )
            fsync(temporary)
            held = exports_root / HELD_DIR / night
            if manifest["guard"]["held"]:
                held.parent.mkdir(exist_ok=True)
                _swap_into_place(temporary, held, held.with_name(f".old-{night}-{run_id}"))
            else:
                # A held version of this night is superseded by the one published now.
                shutil.rmtree(held, ignore_errors=True)
                _swap_into_place(temporary, exports_root / night, aside)
    except BaseException as error:
        shutil.rmtree(temporary, ignore_errors=True)
        if isinstance(error, PublishError) or not isinstance(error, Exception):
            raise
        raise PublishError(f"publishing night {night} (run {run_id}) failed: {error}") from error
    return manifest


def latest_published_night(exports_root: Path, *, before: date | None = None) -> date | None:
    """The latest night under ``exports_root`` with a manifest (only nights < ``before``).

    A directory without a manifest is not a published night, and temporary or set-aside
    directories (``.tmp-*``, ``.old-*``) are never considered.
    """
    nights = _published_nights(Path(exports_root))
    return max((night for night in nights if before is None or night < before), default=None)


def _published_nights(exports_root: Path) -> dict[date, Path]:
    """Every night under ``exports_root`` with a manifest, and its folder."""
    if not exports_root.is_dir():
        return {}
    nights = {}
    for entry in exports_root.iterdir():
        if not _NIGHT_DIR.fullmatch(entry.name) or not (entry / MANIFEST_FILE).is_file():
            continue
        try:
            nights[date.fromisoformat(entry.name)] = entry
        except ValueError:
            continue
    return nights


def read_manifest(exports_root: Path, as_of: date) -> dict[str, Any]:
    """The manifest of the published night ``as_of``; PublishError if there is none."""
    path = Path(exports_root) / as_of.isoformat() / MANIFEST_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise PublishError(f"no published night {as_of.isoformat()} ({path} missing)") from error
    except (OSError, ValueError) as error:
        raise PublishError(f"cannot read the manifest {path}: {error}") from error


def check_days_kept(days_kept: Any) -> int | None:
    """The var export_days_kept, checked: None (keep every night) or a whole number >= 1."""
    if days_kept is not None and (
        isinstance(days_kept, bool) or not isinstance(days_kept, int) or days_kept < 1
    ):
        raise PublishError(
            f"export_days_kept is {days_kept!r}: it must be null (keep every night) or a "
            "whole number of days, at least 1"
        )
    return days_kept


def check_xlsx_max_rows(max_rows: Any) -> int:
    """The var export_xlsx_max_rows, checked: a whole number from 0 (no .xlsx) to the rows
    one Excel sheet holds under its header."""
    if (
        isinstance(max_rows, bool)
        or not isinstance(max_rows, int)
        or not 0 <= max_rows <= XLSX_SHEET_ROWS
    ):
        raise PublishError(
            f"export_xlsx_max_rows is {max_rows!r}: it must be a whole number from 0 (no .xlsx) "
            f"to {XLSX_SHEET_ROWS:,} (the rows an Excel sheet holds under its header)"
        )
    return max_rows


def prune_published_nights(
    exports_root: Path,
    days_kept: int | None,
    *,
    keep: date | None = None,
    lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
) -> list[date]:
    """Remove the published nights ``days_kept`` days or more older than the newest one, so
    that the nights of the last ``days_kept`` days stay; returns the nights removed.

    ``None`` keeps every night. The night ``keep`` (the one just published) stays whatever
    its age: a backfill's next night diffs against it. Held nights (``held/``) and folders
    without a manifest are left alone.
    """
    days_kept = check_days_kept(days_kept)
    if days_kept is None:
        return []
    exports_root = Path(exports_root)
    with publisher_lock(exports_root, lock_timeout_seconds):
        nights = _published_nights(exports_root)
        if not nights:
            return []
        newest = max(nights)
        removed = [
            night
            for night in sorted(nights)
            if (newest - night).days >= days_kept and night != keep
        ]
        for night in removed:
            shutil.rmtree(nights[night])
    return removed


def _recover_interrupted(exports_root: Path) -> None:
    """Undo what a publisher that died left behind; the lock says none is running.

    A ``.tmp-*`` directory is an unfinished night: removed. A ``.old-<D>-*`` directory is a
    published (or held) night set aside for its replacement: put back if the publisher died
    before renaming the replacement into ``<D>``, removed otherwise.
    """
    held = exports_root / HELD_DIR
    for directory in (exports_root, held) if held.is_dir() else (exports_root,):
        for entry in sorted(directory.iterdir()):
            if entry.name.startswith(".tmp-"):
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith(".old-"):
                final = directory / entry.name[len(".old-") :][:10]
                if _NIGHT_DIR.fullmatch(final.name) and not final.exists():
                    logger.warning("restoring %s, set aside by a publisher that died", final)
                    entry.rename(final)
                else:
                    shutil.rmtree(entry, ignore_errors=True)


def _check_arguments(
    as_of: date,
    run_id: str,
    segments: Sequence[SegmentExport],
    remarks_relation: str | None,
    published_at: datetime | None,
) -> None:
    """Reject bad arguments before touching the file system."""
    if not isinstance(as_of, date) or isinstance(as_of, datetime):
        raise PublishError(f"as_of must be a date, got {as_of!r}")
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise PublishError(f"run_id {run_id!r} must match {_RUN_ID.pattern}")
    if published_at is not None and (
        not isinstance(published_at, datetime) or published_at.utcoffset() is None
    ):
        raise PublishError(f"published_at must be a time-zone aware datetime: {published_at!r}")
    seen: set[str] = set()
    for segment in segments:
        if not isinstance(segment, SegmentExport):
            raise PublishError(f"expected SegmentExport, got {segment!r}")
        if segment.name in seen:
            raise PublishError(f"segment {segment.name!r} is listed twice")
        seen.add(segment.name)
    if remarks_relation is not None:
        _quote_relation(remarks_relation, "remarks_relation")


def _build_night(
    warehouse: Path,
    directory: Path,
    segments: Sequence[SegmentExport],
    remarks_relation: str | None,
    *,
    previous_dir: Path | None,
    previous_manifest: dict[str, Any] | None,
    header: dict[str, Any],
    extras: _Extras | None = None,
) -> dict[str, Any]:
    """Write every file of the night into ``directory`` and return the manifest."""
    extras = extras or _Extras()
    previous_segments = (previous_manifest or {}).get("segments", {})
    with _connect(warehouse) as connection:
        results = [
            _export_segment(
                connection,
                directory,
                segment,
                date.fromisoformat(header["as_of_date"]),
                previous_dir,
                previous_segments.get(segment.name),
                header["xlsx_max_rows"],
            )
            for segment in segments
        ]
        changes = _tag_changes(segments, results)
        remarks: dict[Any, str] = {}
        remarks_too_long = 0
        if remarks_relation is not None:
            remarks, remarks_too_long = _whole_remarks(
                _load_remarks(connection, remarks_relation), extras.wecom_limits.remark_max_chars
            )
        mark_tag = None
        if extras.friendship_tags_relation is not None:
            mark_tag = _write_mark_tag(
                connection,
                directory,
                extras.friendship_tags_relation,
                extras.wecom_limits,
                previous_dir,
            )
        tag_coverage = None
        if extras.tag_coverage_relation is not None:
            tag_coverage = _load_tag_coverage(connection, extras.tag_coverage_relation)
        source_rows = None
        if extras.source_rows_relation is not None:
            source_rows = _load_source_rows(connection, extras.source_rows_relation)
        customer_tables = {
            table.name: _export_customer_table(
                connection,
                directory,
                table,
                date.fromisoformat(header["as_of_date"]),
                header["xlsx_max_rows"],
            )
            for table in extras.customer_tables
        }

    added = {customer_id for _, action, customer_id in changes if action == "add"}
    sent_before = _read_sent_remarks(previous_dir, previous_manifest)
    if sent_before is None:
        # The previous night did not record what it sent: its tagged customers hold remarks
        # of unknown age, so tonight sends theirs once.
        sent_before = {
            customer_id: None
            for result in results
            if result.previous_tag is not None
            for customer_id in result.previous_ids
        }
    resent = _changed_remarks(sent_before, remarks, added)
    sync_rows = sorted(
        [
            (tag, action, customer_id, remarks.get(customer_id, "") if action == "add" else "")
            for tag, action, customer_id in changes
        ]
        + [("", REMARK_ACTION, customer_id, remarks[customer_id]) for customer_id in resent],
        key=lambda row: _sync_sort_key(row[:3]),
    )
    sync_sha = _write_table_csv(directory / SYNC_FILE, _sync_table(sync_rows), for_people=False)
    sent_remarks = None
    if remarks_relation is not None:
        sent_tonight = {
            customer_id: remarks[customer_id]
            for customer_id in added | resent
            if customer_id in remarks
        }
        sent = {
            customer_id: remark
            for customer_id, remark in (sent_before | sent_tonight).items()
            if remark is not None
        }
        sent_remarks = {
            "file": SENT_REMARKS_FILE,
            "sha256": _write_parquet(directory / SENT_REMARKS_FILE, _sent_remarks_table(sent)),
            "customers": len(sent),
        }

    manifest = dict(header)
    manifest["segments"] = {
        segment.name: {
            "name": segment.name,
            "relation": segment.relation,
            "columns": list(segment.columns),
            "display_name": segment.display_name,
            "description": segment.description,
            "owner": segment.owner,
            "wecom_tag": segment.wecom_tag,
            "sql_hash": segment.sql_hash,
            "rows": len(result.ids),
            "entered": len(result.entered),
            "left": len(result.left),
            "files": result.files,
            **({"membership": result.membership} if result.membership is not None else {}),
        }
        for segment, result in zip(segments, results, strict=True)
    }
    manifest["wecom_tag_sync"] = {
        "file": SYNC_FILE,
        "sha256": sync_sha,
        "rows": len(sync_rows),
        "add": sum(1 for row in sync_rows if row[1] == "add"),
        "remove": sum(1 for row in sync_rows if row[1] == "remove"),
        "remark": len(resent),
        "remarks_too_long": remarks_too_long,
        **({"sent_remarks": sent_remarks} if sent_remarks is not None else {}),
    }
    if customer_tables:
        manifest["customer_tables"] = customer_tables
    if mark_tag is not None:
        manifest["wecom_mark_tag"] = mark_tag
    if tag_coverage is not None:
        manifest["tag_coverage"] = tag_coverage
    if source_rows is not None:
        manifest["source_clean_rows"] = source_rows
    guard = extras.guard
    findings = guard.findings(manifest, previous_manifest) if guard else []
    collapsed = guard.collapsed_source_findings(manifest, previous_manifest) if guard else []
    manifest["guard"] = {
        "held": bool(findings),
        "reasons": [finding.text() for finding in findings],
        # The same reasons as fields, which the report words in the operator's language.
        "findings": [finding.fields() for finding in findings],
        "holds_published_warehouse": bool(collapsed),
    }
    _write_manifest(directory, manifest)
    return manifest


@dataclass(frozen=True)
class _Extras:
    """The optional parts of a night (see publish_night)."""

    friendship_tags_relation: str | None = None
    wecom_limits: WecomLimits = field(default_factory=WecomLimits.from_project)
    tag_coverage_relation: str | None = None
    guard: ExportGuard | None = None
    source_rows_relation: str | None = None
    customer_tables: tuple[CustomerTable, ...] = ()


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    _write_json(directory / MANIFEST_FILE, manifest)


def _write_json(path: Path, document: dict[str, Any]) -> str:
    """Sorted keys, readable Chinese; returns the file's sha256."""
    text = json.dumps(document, sort_keys=True, ensure_ascii=False, indent=2) + "\n"
    return _write_bytes(path, text.encode("utf-8"))


def _write_mark_tag(
    connection: duckdb.DuckDBPyConnection,
    directory: Path,
    relation: str,
    limits: WecomLimits,
    previous_dir: Path | None,
) -> dict[str, Any]:
    """Tonight's tag state per friendship, its diff with the previous night, and a summary."""
    quoted = _quote_relation(relation, "friendship_tags_relation")
    state = (
        connection.sql(
            f"SELECT staff_id, customer_id, coalesce(wecom_tags, '') AS wecom_tags FROM {quoted} "
            "ORDER BY staff_id, customer_id"
        )
        .to_arrow_table()
        .combine_chunks()
    )
    previous_state = None
    if previous_dir is not None and (previous_dir / FRIEND_TAGS_FILE).is_file():
        previous_state = pq.read_table(previous_dir / FRIEND_TAGS_FILE)
    previous, current = _changed_friendship_tags(connection, state, previous_state)
    calls = mark_tag_calls(previous, current, limits)
    summary = dry_run_summary(calls)
    files = {
        FRIEND_TAGS_FILE: _write_parquet(directory / FRIEND_TAGS_FILE, state),
        MARK_TAG_FILE: _write_table_csv(
            directory / MARK_TAG_FILE, _mark_tag_table(calls), for_people=False
        ),
    }
    files[MARK_TAG_SUMMARY_FILE] = _write_json(directory / MARK_TAG_SUMMARY_FILE, summary)
    return {
        "files": files,
        "friendships": state.num_rows,
        "limits": {
            "calls_per_minute": limits.calls_per_minute,
            "calls_per_hour": limits.calls_per_hour,
        },
        **{key: summary[key] for key in MARK_TAG_MANIFEST_KEYS},
    }


def _sync_table(rows: Sequence[tuple[str, str, Any, str]]) -> pa.Table:
    """The sync rows as the text columns of the sync file (SYNC_COLUMNS): customer ids of
    segments of different id types share the column."""
    columns = zip(*rows, strict=True) if rows else [()] * len(SYNC_COLUMNS)
    return pa.table(
        {
            name: pa.array([_plain_text(value) for value in values], type=pa.string())
            for name, values in zip(SYNC_COLUMNS, columns, strict=True)
        }
    )


def _mark_tag_table(calls: Sequence[MarkTagCall]) -> pa.Table:
    """The calls as the columns of the mark_tag file (MARK_TAG_COLUMNS)."""
    columns = (
        pa.array([call.minute for call in calls], type=pa.int64()),
        pa.array([call.staff_id for call in calls], type=pa.string()),
        pa.array([call.customer_id for call in calls], type=pa.string()),
        pa.array([TAG_SEPARATOR.join(call.add_tags) for call in calls], type=pa.string()),
        pa.array([TAG_SEPARATOR.join(call.remove_tags) for call in calls], type=pa.string()),
    )
    return pa.table(dict(zip(MARK_TAG_COLUMNS, columns, strict=True)))


def _changed_friendship_tags(
    connection: duckdb.DuckDBPyConnection, state: pa.Table, previous_state: pa.Table | None
) -> tuple[dict[Friendship, frozenset[str]], dict[Friendship, frozenset[str]]]:
    """The previous and current tags of the friendships whose tag text changed tonight.

    Comparing the texts in SQL first leaves Python only the few friendships that changed (at a
    million customers, parsing all 2.4 million friendships twice took half the export). A
    text that changed without changing the set of tags ('a|b' to 'b|a') gives no call:
    mark_tag_calls compares the sets. The mart is unique per friendship (a dbt test).
    """
    if previous_state is None:
        previous_state = state.schema.empty_table()
    connection.register("_tonight_friendship_tags", state)
    connection.register("_previous_friendship_tags", previous_state)
    try:
        changed = connection.sql(
            "SELECT tonight.staff_id, tonight.customer_id, tonight.wecom_tags, "
            "coalesce(previous.wecom_tags, '') AS previous_tags "
            "FROM _tonight_friendship_tags AS tonight "
            "LEFT JOIN _previous_friendship_tags AS previous "
            "ON tonight.staff_id = previous.staff_id "
            "AND tonight.customer_id = previous.customer_id "
            "WHERE tonight.wecom_tags IS DISTINCT FROM coalesce(previous.wecom_tags, '')"
        ).fetchall()
    finally:
        connection.unregister("_tonight_friendship_tags")
        connection.unregister("_previous_friendship_tags")
    previous = {(staff, customer): parse_tags(tags) for staff, customer, _, tags in changed}
    current = {(staff, customer): parse_tags(tags) for staff, customer, tags, _ in changed}
    return previous, current


def _load_tag_coverage(connection: duckdb.DuckDBPyConnection, relation: str) -> dict[str, float]:
    rows = _named_values(connection, relation, "tag_coverage_relation", "tag_name", "coverage")
    return {tag: float(coverage) for tag, coverage in rows if coverage is not None}


def _load_source_rows(connection: duckdb.DuckDBPyConnection, relation: str) -> dict[str, int]:
    rows = _named_values(connection, relation, "source_rows_relation", "source_name", "clean_rows")
    return {source: int(clean_rows) for source, clean_rows in rows}


def _named_values(
    connection: duckdb.DuckDBPyConnection, relation: str, argument: str, name: str, value: str
) -> list[tuple[Any, Any]]:
    """(name, value) of every row of `relation`, by name: what the manifest records of it."""
    quoted = _quote_relation(relation, argument)
    return connection.sql(f"SELECT {name}, {value} FROM {quoted} ORDER BY {name}").fetchall()


def release_night(
    exports_root: Path,
    as_of: date,
    *,
    released_at: datetime | None = None,
    lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Publish a night the churn guard held, after review; returns its manifest.

    Refused when a later night is already published: its entered/left lists were computed
    without this night, so re-run the nights instead.
    """
    exports_root = Path(exports_root)
    night = as_of.isoformat()
    held = exports_root / HELD_DIR / night
    with publisher_lock(exports_root, lock_timeout_seconds):
        if not (held / MANIFEST_FILE).is_file():
            raise PublishError(f"no held night {night} ({held} has no manifest)")
        later = latest_published_night(exports_root)
        if later is not None and later > as_of:
            raise PublishError(
                f"night {later.isoformat()} is already published after the held night {night}; "
                f"re-run the nights from {night} instead of releasing it"
            )
        manifest = json.loads((held / MANIFEST_FILE).read_text(encoding="utf-8"))
        stamp = (released_at or datetime.now(UTC)).isoformat()
        manifest["guard"] = {**manifest.get("guard", {}), "held": False, "released_at": stamp}
        _write_manifest(held, manifest)
        _swap_into_place(held, exports_root / night, exports_root / f".old-{night}-released")
    return manifest


def _connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
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


def _export_segment(
    connection: duckdb.DuckDBPyConnection,
    directory: Path,
    segment: SegmentExport,
    as_of: date,
    previous_dir: Path | None,
    previous_entry: dict[str, Any] | None,
    xlsx_max_rows: int,
) -> _SegmentResult:
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
        files = _write_table_files(
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
        files[f"{name}.entered.csv"] = _write_table_csv(
            directory / f"{name}.entered.csv", _id_table(entered, id_field), for_people=True
        )
        files[f"{name}.left.csv"] = _write_table_csv(
            directory / f"{name}.left.csv", _id_table(left, id_field), for_people=True
        )
    except PublishError:
        raise
    except Exception as error:
        raise PublishError(f"{label}: {error}") from error
    return _SegmentResult(
        ids=ids,
        previous_ids=previous_ids,
        previous_tag=(previous_entry or {}).get("wecom_tag"),
        entered=entered,
        left=left,
        files=files,
        membership=membership,
    )


def _write_table_files(
    directory: Path,
    name: str,
    table: pa.Table,
    readable: pa.Table,
    headers: Sequence[str],
    sheet_name: str,
    as_of: date,
    xlsx_max_rows: int,
    label: str,
) -> dict[str, str]:
    """A table's Parquet (``table``, for programs), and its CSV and .xlsx (``readable``, for
    people; no .xlsx over ``xlsx_max_rows`` rows): file name -> sha256."""
    files = {
        f"{name}.parquet": _write_parquet(directory / f"{name}.parquet", table),
        f"{name}.csv": _write_table_csv(directory / f"{name}.csv", readable, for_people=True),
    }
    if readable.num_rows <= xlsx_max_rows:
        files[f"{name}.xlsx"] = _write_xlsx(
            directory / f"{name}.xlsx",
            readable,
            headers,
            sheet_name=sheet_name,
            created=datetime.combine(as_of, time()),
        )
    else:
        logger.warning(
            "%s: %d rows, more than export_xlsx_max_rows (%d): no .xlsx, the CSV has them",
            label,
            readable.num_rows,
            xlsx_max_rows,
        )
    return files


def _export_customer_table(
    connection: duckdb.DuckDBPyConnection,
    directory: Path,
    customer_table: CustomerTable,
    as_of: date,
    xlsx_max_rows: int,
) -> dict[str, Any]:
    """Write one customer table's files; its manifest entry (rows, files)."""
    label = f"customer table {customer_table.name!r}"
    try:
        relation = _quote_relation(customer_table.relation, label)
        available = _relation_columns(connection, relation, customer_table.relation, label)
        missing = [column for column in customer_table.columns if column not in available]
        if missing:
            raise PublishError(
                f"{label}: column(s) {missing} not in {customer_table.relation} "
                f"(it has {available})"
            )
        _check_customer_ids(connection, relation, customer_table.relation, label)
        select = ", ".join(_quote_identifier(column) for column in customer_table.columns)
        table = (
            connection.sql(
                f"SELECT {select} FROM {relation} ORDER BY {_quote_identifier(CUSTOMER_ID)}"
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
        files = _write_table_files(
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
    relation = _quote_relation(segment.relation, label)
    available = _relation_columns(connection, relation, segment.relation, label)
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
    _check_customer_ids(connection, relation, segment.relation, label)
    select = ", ".join(_quote_identifier(column) for column in segment.columns)
    sql = f"SELECT {select} FROM {relation} ORDER BY {_quote_identifier(CUSTOMER_ID)}"
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


def _relation_columns(
    connection: duckdb.DuckDBPyConnection, quoted: str, relation: str, label: str
) -> list[str]:
    """Column names of a relation, as DuckDB resolves it; PublishError if it does not exist."""
    try:
        return list(connection.sql(f"SELECT * FROM {quoted} LIMIT 0").columns)
    except duckdb.CatalogException as error:
        raise PublishError(
            f"{label}: relation {relation} does not exist in the warehouse"
        ) from error


def _check_customer_ids(
    connection: duckdb.DuckDBPyConnection, quoted: str, relation: str, label: str
) -> None:
    """One row per customer: a null or repeated customer_id would corrupt the diffs."""
    key = _quote_identifier(CUSTOMER_ID)
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


def _read_previous_ids(
    previous_dir: Path, entry: dict[str, Any], name: str, label: str, id_type: pa.DataType
) -> list[Any]:
    """customer_id of the segment on the previous night, checked against that manifest."""
    filename = f"{name}.parquet"
    path = previous_dir / filename
    if not path.is_file():
        raise PublishError(f"{label}: previous night {previous_dir.name} lacks {filename}")
    expected = entry.get("files", {}).get(filename)
    if expected is not None and _sha256_file(path) != expected:
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


def _tag_changes(
    segments: Sequence[SegmentExport], results: Sequence[_SegmentResult]
) -> list[tuple[str, str, Any]]:
    """(tag, action, customer_id) rows, diffing tag membership rather than segment membership.

    A tag's members are the union of the segments mapped to it, so two segments sharing a tag
    never produce contradictory add/remove rows. The previous side uses the tag each segment had
    on the previous night, so remapping a segment removes the old tag and adds the new one.
    """
    current: dict[str, set[Any]] = {}
    previous: dict[str, set[Any]] = {}
    for segment, result in zip(segments, results, strict=True):
        if segment.wecom_tag is not None:
            current.setdefault(segment.wecom_tag, set()).update(result.ids)
        if result.previous_tag is not None:
            previous.setdefault(result.previous_tag, set()).update(result.previous_ids)
    changes: set[tuple[str, str, Any]] = set()
    for tag in current.keys() | previous.keys():
        now, before = current.get(tag, set()), previous.get(tag, set())
        changes.update((tag, "add", customer_id) for customer_id in now - before)
        changes.update((tag, "remove", customer_id) for customer_id in before - now)
    return sorted(changes, key=_sync_sort_key)


def _sync_sort_key(change: tuple[str, str, Any]) -> tuple[str, str, int, Any]:
    """Sort by tag, action, customer_id; numbers before text so mixed id types still sort."""
    tag, action, customer_id = change
    return (tag, action, *_id_sort_key(customer_id))


def _id_sort_key(customer_id: Any) -> tuple[int, Any]:
    if _is_number(customer_id):
        return (0, customer_id)
    return (1, _plain_text(customer_id))


def _load_remarks(connection: duckdb.DuckDBPyConnection, relation: str) -> dict[Any, Any]:
    """customer_id -> remark from ``relation`` (one row per customer)."""
    label = f"remarks_relation {relation!r}"
    quoted = _quote_relation(relation, label)
    available = _relation_columns(connection, quoted, relation, label)
    missing = [column for column in (CUSTOMER_ID, "remark") if column not in available]
    if missing:
        raise PublishError(f"{label}: column(s) {missing} not in {relation} (it has {available})")
    key = _quote_identifier(CUSTOMER_ID)
    duplicates = connection.execute(
        f"SELECT {key} FROM {quoted} WHERE {key} IS NOT NULL "
        f"GROUP BY {key} HAVING count(*) > 1 ORDER BY {key} LIMIT 5"
    ).fetchall()
    if duplicates:
        raise PublishError(f"{label}: duplicate customer_id {[row[0] for row in duplicates]}")
    rows = connection.execute(
        f'SELECT {key}, "remark" FROM {quoted} WHERE {key} IS NOT NULL'
    ).fetchall()
    return dict(rows)


def _whole_remarks(loaded: dict[Any, Any], max_chars: int) -> tuple[dict[Any, str], int]:
    """The remarks WeCom holds whole, as text, and how many it would cut (left out).

    wecom_customer_remarks fits its parts into the limit; a remark from elsewhere that does
    not fit is not sent rather than cut, so a staff member never reads half of one.
    """
    remarks: dict[Any, str] = {}
    too_long = 0
    for customer_id, value in loaded.items():
        if value is None:
            continue
        remark = _plain_text(value)
        if len(remark) > max_chars:
            too_long += 1
        else:
            remarks[customer_id] = remark
    if too_long:
        logger.warning(
            "%d remark(s) longer than %d characters are not sent (wecom_limits.remark_max_chars)",
            too_long,
            max_chars,
        )
    return remarks, too_long


def _changed_remarks(
    sent_before: dict[Any, str | None], remarks: dict[Any, str], added: set[Any]
) -> set[Any]:
    """Customers sent a remark before (None: of unknown text) whose remark has changed since.
    A customer with an add row tonight is left out: the add row carries tonight's remark."""
    return {
        customer_id
        for customer_id, sent in sent_before.items()
        if customer_id not in added and customer_id in remarks and remarks[customer_id] != sent
    }


def _read_sent_remarks(
    previous_dir: Path | None, previous_manifest: dict[str, Any] | None
) -> dict[Any, str | None] | None:
    """customer_id -> the remark last sent, as the previous published night left it: empty on
    a first night, None when that night did not record it (published without remarks)."""
    if previous_dir is None:
        return {}
    path = previous_dir / SENT_REMARKS_FILE
    if not path.is_file():
        return None
    entry = (previous_manifest or {}).get("wecom_tag_sync", {}).get("sent_remarks", {})
    if entry.get("sha256") is not None and _sha256_file(path) != entry["sha256"]:
        raise PublishError(f"{path} does not match the checksum in its manifest")
    rows = pq.read_table(path).to_pylist()
    return {row[CUSTOMER_ID]: row["remark"] for row in rows}


def _sent_remarks_table(sent: dict[Any, str]) -> pa.Table:
    """The remarks sent so far, sorted by customer_id like the sync file."""
    ids = sorted(sent, key=_id_sort_key)
    id_column = pa.array(ids) if ids else pa.array([], type=pa.string())
    remark_column = pa.array([sent[customer_id] for customer_id in ids], type=pa.string())
    return pa.table({CUSTOMER_ID: id_column, "remark": remark_column})


def _quote_relation(relation: object, label: str) -> str:
    """``schema.table`` (or ``catalog.schema.table``) as quoted SQL, refusing anything else."""
    parts = relation.split(".") if isinstance(relation, str) else []
    if len(parts) not in (2, 3) or not all(_IDENTIFIER.fullmatch(part) for part in parts):
        raise PublishError(f"{label}: relation {relation!r} is not a schema-qualified table name")
    return ".".join(_quote_identifier(part) for part in parts)


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _id_table(ids: list[Any], id_field: pa.Field) -> pa.Table:
    """A one-column table of customer ids, typed like the segment's."""
    return pa.table([pa.array(ids, type=id_field.type)], schema=pa.schema([id_field]))


def _column_cells(column: pa.Array, *, escape: bool) -> pa.Array:
    """The CSV cells of a column, as _cell_text gives them, converted a whole column at once for
    the common types (text, integers, booleans); any other type goes value by value."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pc.fill_null(column, "")
        if not escape:
            return text
        risky = pc.starts_with(text, FORMULA_PREFIXES[0])
        for prefix in FORMULA_PREFIXES[1:]:
            risky = pc.or_(risky, pc.starts_with(text, prefix))
        return pc.if_else(risky, pc.binary_join_element_wise("'", text, ""), text)
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        # Arrow writes integers like str() and booleans as true / false, like _plain_text.
        return pc.fill_null(pc.cast(column, pa.string()), "")
    if pa.types.is_decimal(kind) and kind.scale <= 6:
        # Arrow writes a decimal of up to 6 places without an exponent, as format(v, "f").
        return pc.fill_null(pc.cast(column, pa.string()), "")
    return pa.array(
        [_cell_text(value, escape=escape) for value in column.to_pylist()], type=pa.string()
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _plain_text(value: Any) -> str:
    """A value as CSV text, before formula escaping; deterministic for every Arrow type."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")  # never exponent notation
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _cell_text(value: Any, *, escape: bool) -> str:
    """A CSV cell; escaped, text that a spreadsheet could run as a formula gets a leading
    quote."""
    text = _plain_text(value)
    if escape and not _is_number(value) and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _write_table_csv(path: Path, table: pa.Table, *, for_people: bool) -> str:
    """A table as CSV: UTF-8, a header of the column names, RFC 4180 line endings, minimal
    quoting; returns the file's sha256. For people, the file starts with a byte-order mark and
    formulas are escaped (FORMULA_PREFIXES); for programs, every value is written as it is.

    The lines are orchestration/csv_text.py's, the project's one CSV writer.
    """
    # The header is a row of one cell per column.
    header = [
        pa.array([_cell_text(name, escape=for_people)], type=pa.string())
        for name in table.column_names
    ]
    with path.open("wb") as handle:
        if for_people:
            handle.write(UTF8_BOM)
        handle.write(csv_lines(header))
        for batch in table.to_batches(max_chunksize=_CSV_BATCH_ROWS):
            handle.write(
                csv_lines([_column_cells(column, escape=for_people) for column in batch.columns])
            )
        return _close_csv(path, handle)


def _write_xlsx(
    path: Path, table: pa.Table, headers: Sequence[str], *, sheet_name: str, created: datetime
) -> str:
    """A table of at most XLSX_SHEET_ROWS rows as an Excel workbook for people; returns the
    file's sha256.

    One sheet named for the segment: the headers in bold in a frozen first row with a filter,
    columns as wide as their widest cell (to a limit), numbers, dates and booleans as such,
    and text always as text: a value a spreadsheet could run as a formula is a string cell
    with Excel's quote prefix, so it shows as it is and stays text when edited. Numbers Excel
    would round (more than 15 digits) are text too. The creation time is the night's, so the
    bytes depend on the data alone.
    """
    options = {
        # Row by row to a temporary file: memory stays flat however large the segment.
        "constant_memory": True,
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
        "nan_inf_to_errors": True,
    }
    workbook = xlsxwriter.Workbook(str(path), options)
    workbook.set_properties({"created": created})
    formats = _XlsxFormats(workbook)
    writers = [_xlsx_cell_writer(field.type, formats) for field in table.schema]
    sheet = workbook.add_worksheet(_xlsx_sheet_title(sheet_name))
    for column, width in enumerate(_xlsx_widths(table, headers)):
        sheet.set_column(column, column, width)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, table.num_rows, len(headers) - 1)
    for column, header in enumerate(headers):
        sheet.write_string(0, column, header, formats.header)
    row = 1
    for batch in table.to_batches(max_chunksize=_CSV_BATCH_ROWS):
        values = [column.to_pylist() for column in batch.columns]
        for cells in zip(*values, strict=True):
            for column, (write, value) in enumerate(zip(writers, cells, strict=True)):
                if value is not None:
                    write(sheet, row, column, value)
            row += 1
    workbook.close()
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
    return _sha256_file(path)


class _XlsxFormats:
    """The few cell formats of an exported workbook, each added to it once."""

    def __init__(self, workbook: Any) -> None:
        self._workbook = workbook
        self.header = workbook.add_format({"bold": True})
        # Excel's quote prefix: the cell stays text when a person edits it.
        self.text_as_typed = workbook.add_format({"quote_prefix": True})
        self.date = workbook.add_format({"num_format": "yyyy-mm-dd"})
        self.timestamp = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._decimals: dict[int, Any] = {}

    def decimal(self, places: int) -> Any:
        """Shown with the column's places, as in the CSV (2.00, not 2)."""
        if places not in self._decimals:
            pattern = "0." + "0" * places if places > 0 else "0"
            self._decimals[places] = self._workbook.add_format({"num_format": pattern})
        return self._decimals[places]


def _xlsx_cell_writer(kind: pa.DataType, formats: _XlsxFormats) -> Any:
    """How a column of this Arrow type is written: (sheet, row, column, value) -> None."""

    def text(sheet: Any, row: int, column: int, value: str) -> None:
        risky = value.startswith(FORMULA_PREFIXES)
        sheet.write_string(row, column, value, formats.text_as_typed if risky else None)

    def integer(sheet: Any, row: int, column: int, value: int) -> None:
        if abs(value) <= _XLSX_EXACT_UP_TO:
            sheet.write_number(row, column, value)
        else:
            sheet.write_string(row, column, str(value))

    def decimal(sheet: Any, row: int, column: int, value: Decimal) -> None:
        if len(value.as_tuple().digits) <= _XLSX_EXACT_DIGITS:
            sheet.write_number(row, column, float(value), formats.decimal(kind.scale))
        else:
            sheet.write_string(row, column, format(value, "f"))

    def moment(cell_format: Any) -> Any:
        def write(sheet: Any, row: int, column: int, value: date) -> None:
            if value.year >= _XLSX_FIRST_YEAR:
                sheet.write_datetime(row, column, value, cell_format)
            else:  # before Excel's calendar starts
                sheet.write_string(row, column, value.isoformat())

        return write

    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return text
    if pa.types.is_integer(kind):
        return integer
    if pa.types.is_decimal(kind):
        return decimal
    if pa.types.is_boolean(kind):
        return lambda sheet, row, column, value: sheet.write_boolean(row, column, value)
    if pa.types.is_floating(kind):
        return lambda sheet, row, column, value: sheet.write_number(row, column, value)
    if pa.types.is_date(kind):
        return moment(formats.date)
    if pa.types.is_timestamp(kind) and kind.tz is None:
        return moment(formats.timestamp)
    # Anything else (a time-zone aware timestamp, a list) as the CSV writes it.
    return lambda sheet, row, column, value: text(sheet, row, column, _plain_text(value))


def _xlsx_widths(table: pa.Table, headers: Sequence[str]) -> list[int]:
    """Each column's width in Excel's units (about one Latin letter; a Chinese character takes
    two): its widest cell or header, with a margin, within limits."""
    widths = []
    for header, column in zip(headers, table.columns, strict=True):
        widest = _display_width(pa.array([header]))
        for chunk in column.chunks:
            widest = max(widest, _display_width(_column_cells(chunk, escape=False)))
        widths.append(min(max(widest + 2, _XLSX_MIN_WIDTH), _XLSX_MAX_WIDTH))
    return widths


def _display_width(cells: pa.Array) -> int:
    """The widest cell: (UTF-8 bytes + characters) / 2 counts 1 for a Latin letter (1 byte)
    and 2 for a Chinese character (3 bytes)."""
    if len(cells) == 0:
        return 0
    halves = pc.add(pc.binary_length(cells), pc.utf8_length(cells))
    return (pc.max(halves).as_py() or 0) // 2


def _xlsx_sheet_title(name: str) -> str:
    """A sheet name Excel accepts: without []:*?/\\ and at most 31 characters."""
    title = re.sub(r"[\[\]:*?/\\]", " ", name).strip().strip("'")[:_XLSX_TITLE_CHARS]
    return title or "Sheet1"


def _close_csv(path: Path, handle: Any) -> str:
    handle.flush()
    os.fsync(handle.fileno())
    return _sha256_file(path)


def _write_parquet(path: Path, table: pa.Table) -> str:
    """Raw values with pinned writer options; returns the file's sha256."""
    with path.open("wb") as handle:
        pq.write_table(table, handle, **_PARQUET_OPTIONS)
        handle.flush()
        os.fsync(handle.fileno())
    return _sha256_file(path)


def _write_bytes(path: Path, data: bytes) -> str:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _swap_into_place(temporary: Path, final: Path, aside: Path) -> None:
    """Replace ``final`` with ``temporary`` by renames, restoring ``final`` if that fails.

    Between the two renames ``final`` briefly does not exist, but it is never half-written.
    """
    if aside.exists():  # left behind by a crashed run with the same run id
        shutil.rmtree(aside)
    replacing = final.exists()
    if replacing:
        final.rename(aside)
    try:
        temporary.rename(final)
    except BaseException:
        if replacing:
            aside.rename(final)
        raise
    # The night is published; tidying up afterwards must not turn it into a failure.
    try:
        fsync(final.parent)
        if replacing:
            shutil.rmtree(aside)
    except OSError as error:
        logger.warning("published %s but could not tidy up %s: %s", final, aside, error)
