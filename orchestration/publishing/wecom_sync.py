"""The WeCom sync files of a night.

* ``wecom_tag_sync.csv``: the WeCom tag adds and removes implied by the segments' changes,
  each add with the customer's remark, and a ``remark`` row for a customer whose remark
  changed since the one last sent (``wecom_sent_remarks.parquet`` carries what was sent,
  night to night).
* ``wecom_friend_tags.parquet``, ``wecom_mark_tag.csv`` and its summary: each friendship's
  tags tonight and the mark_tag calls from the previous night's (orchestration/publishing/
  wecom.py). All are files for programs: every value is written as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.durable import sha256_file, write_json
from orchestration.publishing.errors import PublishError
from orchestration.publishing.relations import (
    CUSTOMER_ID,
    quote_identifier,
    quote_relation,
    relation_columns,
)
from orchestration.publishing.table_files import (
    is_number,
    plain_text,
    write_parquet,
    write_table_csv,
)
from orchestration.publishing.wecom import (
    Friendship,
    MarkTagCall,
    dry_run_summary,
    mark_tag_calls,
    parse_tags,
)
from orchestration.wecom_tags import TAG_SEPARATOR, WecomLimits

if TYPE_CHECKING:
    from orchestration.publishing.segment_files import SegmentExport, SegmentResult

logger = logging.getLogger(__name__)

SYNC_STEM: Final = "wecom_tag_sync"
SYNC_FILE: Final = f"{SYNC_STEM}.csv"
SYNC_COLUMNS: Final = ("tag", "action", "customer_id", "remark")
# A sync row that only re-sends a changed remark: no tag, this action.
REMARK_ACTION: Final = "remark"
SENT_REMARKS_FILE: Final = "wecom_sent_remarks.parquet"
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


def tag_changes(
    segments: Sequence[SegmentExport], results: Sequence[SegmentResult]
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
    return sorted(changes, key=sync_sort_key)


def sync_sort_key(change: tuple[str, str, Any]) -> tuple[str, str, int, Any]:
    """Sort by tag, action, customer_id; numbers before text so mixed id types still sort."""
    tag, action, customer_id = change
    return (tag, action, *_id_sort_key(customer_id))


def _id_sort_key(customer_id: Any) -> tuple[int, Any]:
    if is_number(customer_id):
        return (0, customer_id)
    return (1, plain_text(customer_id))


def sync_table(rows: Sequence[tuple[str, str, Any, str]]) -> pa.Table:
    """The sync rows as the text columns of the sync file (SYNC_COLUMNS): customer ids of
    segments of different id types share the column."""
    columns = zip(*rows, strict=True) if rows else [()] * len(SYNC_COLUMNS)
    return pa.table(
        {
            name: pa.array([plain_text(value) for value in values], type=pa.string())
            for name, values in zip(SYNC_COLUMNS, columns, strict=True)
        }
    )


def load_remarks(connection: duckdb.DuckDBPyConnection, relation: str) -> dict[Any, Any]:
    """customer_id -> remark from ``relation`` (one row per customer)."""
    label = f"remarks_relation {relation!r}"
    quoted = quote_relation(relation, label)
    available = relation_columns(connection, quoted, relation, label)
    missing = [column for column in (CUSTOMER_ID, "remark") if column not in available]
    if missing:
        raise PublishError(f"{label}: column(s) {missing} not in {relation} (it has {available})")
    key = quote_identifier(CUSTOMER_ID)
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


def whole_remarks(loaded: dict[Any, Any], max_chars: int) -> tuple[dict[Any, str], int]:
    """The remarks WeCom holds whole, as text, and how many it would cut (left out).

    wecom_customer_remarks fits its parts into the limit; a remark from elsewhere that does
    not fit is not sent rather than cut, so a staff member never reads half of one.
    """
    remarks: dict[Any, str] = {}
    too_long = 0
    for customer_id, value in loaded.items():
        if value is None:
            continue
        remark = plain_text(value)
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


def changed_remarks(
    sent_before: dict[Any, str | None], remarks: dict[Any, str], added: set[Any]
) -> set[Any]:
    """Customers sent a remark before (None: of unknown text) whose remark has changed since.
    A customer with an add row tonight is left out: the add row carries tonight's remark."""
    return {
        customer_id
        for customer_id, sent in sent_before.items()
        if customer_id not in added and customer_id in remarks and remarks[customer_id] != sent
    }


def read_sent_remarks(
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
    if entry.get("sha256") is not None and sha256_file(path) != entry["sha256"]:
        raise PublishError(f"{path} does not match the checksum in its manifest")
    rows = pq.read_table(path).to_pylist()
    return {row[CUSTOMER_ID]: row["remark"] for row in rows}


def sent_remarks_table(sent: dict[Any, str]) -> pa.Table:
    """The remarks sent so far, sorted by customer_id like the sync file."""
    ids = sorted(sent, key=_id_sort_key)
    id_column = pa.array(ids) if ids else pa.array([], type=pa.string())
    remark_column = pa.array([sent[customer_id] for customer_id in ids], type=pa.string())
    return pa.table({CUSTOMER_ID: id_column, "remark": remark_column})


def write_mark_tag(
    connection: duckdb.DuckDBPyConnection,
    directory: Path,
    relation: str,
    limits: WecomLimits,
    previous_dir: Path | None,
) -> dict[str, Any]:
    """Tonight's tag state per friendship, its diff with the previous night, and a summary."""
    quoted = quote_relation(relation, "friendship_tags_relation")
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
        FRIEND_TAGS_FILE: write_parquet(directory / FRIEND_TAGS_FILE, state),
        MARK_TAG_FILE: write_table_csv(
            directory / MARK_TAG_FILE, _mark_tag_table(calls), for_people=False
        ),
    }
    files[MARK_TAG_SUMMARY_FILE] = write_json(directory / MARK_TAG_SUMMARY_FILE, summary)
    return {
        "files": files,
        "friendships": state.num_rows,
        "limits": {
            "calls_per_minute": limits.calls_per_minute,
            "calls_per_hour": limits.calls_per_hour,
        },
        **{key: summary[key] for key in MARK_TAG_MANIFEST_KEYS},
    }


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
