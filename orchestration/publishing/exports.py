"""The nightly export publisher for customer segments (人群包).

Marketing tools load one directory per night, ``<exports_root>/<YYYY-MM-DD>/``:

* the segment files (segment_files.py): ``<name>.parquet`` / ``<name>.csv`` / ``<name>.xlsx``
  of each segment, one row per customer sorted by customer_id, Parquet for programs, the CSV
  and workbook for people (table_files.py); ``<name>.entered.csv`` / ``<name>.left.csv``: the
  customers who entered / left it since the previous published night (the latest earlier
  night with a manifest); and the same three files of each customer table (e.g.
  ``customer_reasons``: every customer's lifecycle stage and value tier, and why);
* the WeCom sync files (wecom_sync.py): ``wecom_tag_sync.csv``, the tag adds, removes and
  changed remarks those changes imply, and the per-friendship ``wecom_mark_tag.csv``;
* ``manifest.json``: what was published, with a sha256 for every file; written last, and its
  presence is what makes a directory a published night.

Why it is built this way:

* The warehouse is opened read-only, so publishing can never change it.
* A night is built in a sibling temporary directory and renamed into place (durable.py), so a
  reader never sees a half-written night, and a failed run leaves the previously published
  night untouched.
* Data files are deterministic (sorted rows, pinned Parquet options, pinned session time zone),
  so re-publishing a night gives byte-identical data files and checksums (for the same library
  versions: Parquet files record the writer's version); only the manifest's run_id and
  published_at change.

Nothing here imports Dagster: the asset that calls ``publish_night`` lives elsewhere.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import duckdb

from orchestration.durable import fsync, swap_into_place, write_json
from orchestration.layout import HELD_DIR, MANIFEST_FILE
from orchestration.publishing.errors import PublishError
from orchestration.publishing.guard import ExportGuard
from orchestration.publishing.lock import DEFAULT_LOCK_TIMEOUT_SECONDS, publisher_lock
from orchestration.publishing.relations import connect_read_only, named_values, quote_relation
from orchestration.publishing.segment_files import (
    CustomerTable,
    SegmentExport,
    export_customer_table,
    export_segment,
)
from orchestration.publishing.table_files import (
    XLSX_MAX_ROWS,
    check_xlsx_max_rows,
    write_parquet,
    write_table_csv,
)
from orchestration.publishing.wecom_sync import (
    REMARK_ACTION,
    SENT_REMARKS_FILE,
    SYNC_FILE,
    changed_remarks,
    load_remarks,
    read_sent_remarks,
    sent_remarks_table,
    sync_sort_key,
    sync_table,
    tag_changes,
    whole_remarks,
    write_mark_tag,
)
from orchestration.wecom_tags import WecomLimits

logger = logging.getLogger(__name__)

MANIFEST_FORMAT_VERSION: Final = 2
# The run id becomes part of a directory name, so it must not carry a path separator.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_NIGHT_DIR = re.compile(r"\d{4}-\d{2}-\d{2}")


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
                swap_into_place(temporary, held, held.with_name(f".old-{night}-{run_id}"))
            else:
                # A held version of this night is superseded by the one published now.
                shutil.rmtree(held, ignore_errors=True)
                swap_into_place(temporary, exports_root / night, aside)
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
        quote_relation(remarks_relation, "remarks_relation")


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
    with connect_read_only(warehouse) as connection:
        results = [
            export_segment(
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
        changes = tag_changes(segments, results)
        remarks: dict[Any, str] = {}
        remarks_too_long = 0
        if remarks_relation is not None:
            remarks, remarks_too_long = whole_remarks(
                load_remarks(connection, remarks_relation), extras.wecom_limits.remark_max_chars
            )
        mark_tag = None
        if extras.friendship_tags_relation is not None:
            mark_tag = write_mark_tag(
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
            table.name: export_customer_table(
                connection,
                directory,
                table,
                date.fromisoformat(header["as_of_date"]),
                header["xlsx_max_rows"],
            )
            for table in extras.customer_tables
        }

    added = {customer_id for _, action, customer_id in changes if action == "add"}
    sent_before = read_sent_remarks(previous_dir, previous_manifest)
    if sent_before is None:
        # The previous night did not record what it sent: its tagged customers hold remarks
        # of unknown age, so tonight sends theirs once.
        sent_before = {
            customer_id: None
            for result in results
            if result.previous_tag is not None
            for customer_id in result.previous_ids
        }
    resent = changed_remarks(sent_before, remarks, added)
    sync_rows = sorted(
        [
            (tag, action, customer_id, remarks.get(customer_id, "") if action == "add" else "")
            for tag, action, customer_id in changes
        ]
        + [("", REMARK_ACTION, customer_id, remarks[customer_id]) for customer_id in resent],
        key=lambda row: sync_sort_key(row[:3]),
    )
    sync_sha = write_table_csv(directory / SYNC_FILE, sync_table(sync_rows), for_people=False)
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
            "sha256": write_parquet(directory / SENT_REMARKS_FILE, sent_remarks_table(sent)),
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
    write_json(directory / MANIFEST_FILE, manifest)


def _load_tag_coverage(connection: duckdb.DuckDBPyConnection, relation: str) -> dict[str, float]:
    rows = named_values(connection, relation, "tag_coverage_relation", "tag_name", "coverage")
    return {tag: float(coverage) for tag, coverage in rows if coverage is not None}


def _load_source_rows(connection: duckdb.DuckDBPyConnection, relation: str) -> dict[str, int]:
    rows = named_values(connection, relation, "source_rows_relation", "source_name", "clean_rows")
    return {source: int(clean_rows) for source, clean_rows in rows}


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
        swap_into_place(held, exports_root / night, exports_root / f".old-{night}-released")
    return manifest
