"""The nightly HTML report: one self-contained page per night for the people who run the shop.

``<reports_root>/<YYYY-MM-DD>.html`` shows whether the churn guard held the night's exports,
the night's segments (members, who was exported and who was held back, who entered and who
left), the campaign lift of segments with a holdout, the WeCom tag sync dry run, the RFM grid,
lifecycle stages and the moves between them, friend adds and deletions by acquisition channel
over time, each staff member's friends, chats and first responses, tag coverage, a model card
for the BTYD predictions (fits and backtest) and where every raw row went.

Why it is built this way:

* One file with everything inline (SVG charts, CSS, no script): it opens from a mail
  attachment, a file share or a laptop without network, and nothing in it fetches anything.
* Charts are matplotlib figures saved as SVG with text kept as text, a pinned hash salt and no
  date, so the same night renders to the same bytes: two renders that differ hold different
  data. Text stays text in the SVG, so the browser draws Chinese with the page's fonts.
* Every word a person reads is in the operator's language, Simplified Chinese unless
  SCRM_LANG=en (orchestration/language.py); segments and tags go by their display names, the
  code name beside them.
* The warehouse is opened read-only, and a night the warehouse no longer holds is refused:
  most marts are rebuilt every night, so an older night's report would mix two nights.
* The file is written beside its final name and renamed into place, so a reader never sees
  half a report.

This module reads the warehouse and assembles the sections; charts.py draws the charts,
formatting.py writes cells, months, stages and names, and templates/ holds the page. Nothing
here imports Dagster: the asset that calls ``write_nightly_report`` lives elsewhere.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import duckdb
import jinja2

from orchestration import duckdb_settings
from orchestration.durable import fsync
from orchestration.guard_findings import SEGMENT, SOURCE, TAG, GuardFinding
from orchestration.language import (
    N_,
    _,
    current_language,
    html_language,
    ngettext,
    speaking,
)
from orchestration.layout import HELD_DIR, MANIFEST_FILE
from orchestration.predictive.btyd import described
from orchestration.predictive.nightly import (
    BG_NBD_BACKTEST,
    CONVERGED,
    FIT_DETAILS,
    FIT_STATUSES,
    NO_INTERIOR_MAXIMUM,
    NON_FINITE_PREDICTIONS,
    REPEAT_BUYERS,
    USABLE_STATUSES,
)
from orchestration.project import dbt_project, project_vars
from orchestration.reporting.charts import (
    Chart,
    backtest_chart,
    friends_chart,
    lifecycle_flow_chart,
    lifecycle_monthly_chart,
    lifecycle_stages_chart,
    lift_chart,
    rfm_chart,
    segments_chart,
    tag_coverage_chart,
)
from orchestration.reporting.formatting import (
    FIRST_STAGE,
    FLOW_WINDOW_DAYS,
    FRIEND_MONTHS,
    LIFECYCLE_MONTHS,
    MISSING,
    OTHER_CHANNELS,
    RFM_SCORES,
    SUPPRESSIONS,
    TOP_CHANNELS,
    bucket_order,
    channel_label,
    date_cell,
    int_cell,
    interval_cell,
    is_chinese,
    month_cell,
    month_start,
    months_between,
    name_cells,
    name_headers,
    name_label,
    number_cell,
    ordered_stages,
    parameters_text,
    part_of_cell,
    percent_cell,
    points_cell,
    share_cell,
    signed_cell,
    stage_label,
    sum_by,
    text_cell,
    value_label,
    yes_no_cell,
)
from orchestration.segment_declarations import segment_declaration
from orchestration.segments import (
    action_display_name,
    action_export_description,
    load_manifest,
    next_best_action_export_name,
    segment_description,
)
from orchestration.tag_registry import tag_declaration, tag_descriptions

if TYPE_CHECKING:
    pass

REPORT_SUFFIX: Final = ".html"

# Every chart the report can hold, in page order. A chart is left out (with a note saying
# why) when the night has nothing to draw, e.g. no backtest on a night with too few buyers.
CHART_IDS: Final = (
    "segments",
    "campaign_lift",
    "rfm_grid",
    "lifecycle_stages",
    "lifecycle_flow",
    "lifecycle_monthly",
    "friends_by_channel",
    "tag_coverage",
    "model_backtest",
)

# marts.customer_rfm's rfm_segment values (English) and rfm_class values (Chinese), data
# (models/marts/customer_value/customer_rfm.sql), each with its message: named in the page's
# language, the value beside where that differs; a value not listed shows as it is.
RFM_SEGMENTS: Final = {
    segment: segment
    for segment in (
        N_("Champions"),
        N_("Loyal"),
        N_("Potential Loyalist"),
        N_("New"),
        N_("Promising"),
        N_("Need Attention"),
        N_("About to Sleep"),
        N_("At Risk"),
        N_("Cannot Lose Them"),
        N_("Hibernating"),
        N_("Lost"),
    )
}
RFM_CLASSES: Final = {
    "重要价值客户": N_("Important value customers"),
    "重要发展客户": N_("Important development customers"),
    "重要保持客户": N_("Important retention customers"),
    "重要挽留客户": N_("Important win-back customers"),
    "一般价值客户": N_("Ordinary value customers"),
    "一般发展客户": N_("Ordinary development customers"),
    "一般保持客户": N_("Ordinary retention customers"),
    "一般挽留客户": N_("Ordinary win-back customers"),
}
# Entry nights listed one by one in the campaign lift section, newest first.
LIFT_ENTRY_DATES: Final = 14
EXPORTS_DIR: Final = "exports"

# Tables that hold one night only (rebuilt every night); the report checks they hold as_of.
_ONE_NIGHT_TABLES: Final = (
    "marts.customer_rfm",
    "marts.customer_lifecycle",
    "marts.lifecycle_flow",
    "marts.friend_metrics_daily",
    "marts.staff_metrics_daily",
    "marts.staff_metrics_window",
    "marts.staff_deletion_alerts",
    "marts.dim_channels",
    "marts.tag_catalog",
    "marts.tag_unseen_values",
    "marts.campaign_lift",
    "marts.campaign_lift_pooled",
    "marts.person_ids",
    "marts.identity_link_status",
    "marts.identity_blocked_ids",
    "marts.identity_large_persons",
    "marts.person_merges",
    "marts.dim_groups",
    "marts.group_memberships",
    "marts.group_metrics_daily",
    "marts.dim_tag_library",
    "marts.customer_staff_tags",
    "marts.staff_tag_conflicts",
)
_REQUIRED_TABLES: Final = (
    *_ONE_NIGHT_TABLES,
    "marts.segment_membership",
    "marts.raw_row_accounting",
)
# Written by the predictive asset; a warehouse built before it ran has neither.
_PREDICTIVE_TABLES: Final = ("predictive.btyd_model_fits", "predictive.model_backtest")


class ReportError(Exception):
    """The report could not be rendered; the message says which table or file was wrong."""


@dataclass(frozen=True)
class Table:
    """A table as display strings; ``numeric`` right-aligns a column."""

    table_id: str
    caption: str
    header: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    numeric: tuple[bool, ...]
    footer: tuple[str, ...] | None = None
    # Long tables behind the charts go in a <details> element, closed.
    collapsed: bool = False


@dataclass(frozen=True)
class Section:
    section_id: str
    title: str
    intro: tuple[str, ...]
    charts: list[Chart]
    tables: list[Table]
    notes: tuple[str, ...] = ()
    # Tables shown before the charts: what a reader needs first, like the model card.
    lead: tuple[Table, ...] = ()


class _SegmentRow(NamedTuple):
    name: str
    display_name: str
    # Everyone who qualifies, and those held back by reason (the manifest's membership block,
    # or segment_membership without a manifest); None for an export that is not a segment.
    members: int | None
    held_back: Mapping[str, int] | None
    # Exported customers: rows of the night's export file, or is_exported without a manifest.
    exported: int
    entered: int
    left: int
    owner: str
    wecom_tag: str
    description: str

    @property
    def size(self) -> int:
        return self.members if self.members is not None else self.exported


@dataclass(frozen=True)
class GuardNotice:
    """What the page says at the top about the churn guard (the manifest's ``guard`` block)."""

    held: bool
    reasons: tuple[str, ...]
    # Where the night's exports are, relative to the home, and how to release a held night.
    home: str
    exports_dir: str
    release_command: str
    released_at: str | None


class DisplayNames(NamedTuple):
    """What the page calls each segment (and export) and tag, in its language, by code name;
    a name not listed goes by its code name. ``descriptions``: the exports the page describes
    in its own language (a segment's, from its YAML; an action's), whatever language the
    night's exports were in."""

    segments: Mapping[str, str]
    tags: Mapping[str, str]
    descriptions: Mapping[str, str]
    # Each tag's description in the page's language (its YAML, through the dbt manifest).
    tag_descriptions: Mapping[str, str] = MappingProxyType({})


def render_nightly_report(
    warehouse: Path,
    as_of: date,
    exports_manifest: Mapping[str, Any] | None = None,
    *,
    home: Path | None = None,
    rfm_window_days: int | None = None,
    language: str | None = None,
    dbt_manifest: Mapping[str, Any] | None = None,
) -> str:
    """The night's report as one HTML document, in ``language`` (default: $SCRM_LANG, else
    Simplified Chinese; orchestration/language.py).

    ``exports_manifest`` is the night's ``exports/<date>/manifest.json``, or
    ``exports/held/<date>/manifest.json`` for a night the churn guard held (see
    ``orchestration.publishing.exports.read_manifest``). Segment counts, entered/left, the
    WeCom dry run and the guard's verdict come from it when given, so the report shows what
    was published (or held); without it segments are counted from ``marts.segment_membership``
    against the previous night kept there. ``home`` (default: the warehouse's folder) is the
    ``--home`` of the release command shown for a held night. ``rfm_window_days`` (default:
    the dbt var, which marts.customer_rfm was built with) names the RFM window.
    ``dbt_manifest`` (default: the project's target/manifest.json) holds the segments'
    descriptions in both languages and the English display names, meta display_name_en,
    which the warehouse's catalogs do not keep.
    """
    with speaking(language):
        return _render(warehouse, as_of, exports_manifest, home, rfm_window_days, dbt_manifest)


def _render(
    warehouse: Path,
    as_of: date,
    exports_manifest: Mapping[str, Any] | None,
    home: Path | None,
    rfm_window_days: int | None,
    dbt_manifest: Mapping[str, Any] | None,
) -> str:
    if rfm_window_days is None:
        rfm_window_days = int(project_vars()["rfm_window_days"])
    if not isinstance(as_of, date):
        raise ReportError(f"as_of must be a date, got {as_of!r}")
    if exports_manifest is not None and exports_manifest.get("as_of_date") != as_of.isoformat():
        raise ReportError(
            f"the exports manifest is for {exports_manifest.get('as_of_date')!r}, "
            f"not {as_of.isoformat()}"
        )
    warehouse = Path(warehouse)
    connection = _connect(warehouse)
    try:
        _check_night(connection, as_of)
        names = _display_names(connection, dbt_manifest)
        guard = _guard_notice(
            names, exports_manifest, as_of, home if home is not None else warehouse.parent
        )
        segments = _segments_section(connection, as_of, exports_manifest, guard, names)
        sections = [
            segments,
            _lift_section(connection, as_of, names),
            _wecom_section(exports_manifest, guard, names),
            _rfm_section(connection, as_of, rfm_window_days),
            _lifecycle_section(connection, as_of),
            _friends_section(connection, as_of),
            _staff_section(connection, as_of),
            _tags_section(connection, as_of, names),
            _models_section(connection, as_of),
            _identity_section(connection, as_of),
            _accounting_section(connection),
        ]
        summary = _summary_table(connection, as_of, segments)
        segment_summaries = _segment_summaries(connection, as_of, names)
    finally:
        connection.close()
    return _TEMPLATE.render(
        as_of=as_of.isoformat(),
        guard=guard,
        summary=summary,
        segment_summaries=segment_summaries,
        sections=sections,
        lang=html_language(current_language()),
        text=_page_text(as_of),
    )


def write_nightly_report(
    warehouse: Path,
    reports_root: Path,
    as_of: date,
    exports_manifest: Mapping[str, Any] | None = None,
    *,
    home: Path | None = None,
    language: str | None = None,
) -> Path:
    """Render the night and write ``reports_root/<YYYY-MM-DD>.html`` atomically."""
    document = render_nightly_report(
        warehouse, as_of, exports_manifest, home=home, language=language
    )
    reports_root = Path(reports_root)
    reports_root.mkdir(parents=True, exist_ok=True)
    target = reports_root / f"{as_of.isoformat()}{REPORT_SUFFIX}"
    temporary = reports_root / f".{target.name}.{os.getpid()}.tmp"
    try:
        with temporary.open("wb") as handle:
            handle.write(document.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    fsync(reports_root)
    return target


def _guard_notice(
    names: DisplayNames,
    manifest: Mapping[str, Any] | None,
    as_of: date,
    home: Path,
) -> GuardNotice | None:
    """The churn guard's verdict on the night; None without a manifest or a guard block."""
    guard = (manifest or {}).get("guard")
    if not guard:
        return None
    night = as_of.isoformat()
    held = bool(guard.get("held"))
    return GuardNotice(
        held=held,
        reasons=_guard_reasons(names, guard),
        home=str(home),
        exports_dir=f"{EXPORTS_DIR}/{HELD_DIR}/{night}/" if held else f"{EXPORTS_DIR}/{night}/",
        release_command=f"scrm release --home {shlex.quote(str(home))} --as-of {night}",
        released_at=guard.get("released_at"),
    )


def guard_reasons(
    exports_manifest: Mapping[str, Any],
    language: str | None = None,
    dbt_manifest: Mapping[str, Any] | None = None,
) -> tuple[str, ...]:
    """A held night's guard reasons in ``language`` (default: the configured one), for `scrm
    release`: segments and tags by their display names in that language as their YAML declares
    them (``dbt_manifest``, default: the project's, if prepared), the code name beside, as the
    report names them. A segment the YAML no longer declares goes by the display name its
    exports were published with (in Chinese), anything else unnamed by its code name: the
    night is released either way, so a missing dbt manifest only costs the names."""
    if dbt_manifest is None:
        path = dbt_project.manifest_path
        dbt_manifest = load_manifest(path) if path.is_file() else {"nodes": {}}
    with speaking(language):
        names = declared_display_names(dbt_manifest)
        published = (
            {
                name: str(entry["display_name"])
                for name, entry in (exports_manifest.get("segments") or {}).items()
                if entry.get("display_name")
            }
            if is_chinese()
            else {}
        )
        segments = {**published, **names.segments}
        return _guard_reasons(DisplayNames(segments, names.tags, {}), exports_manifest["guard"])


def _guard_reasons(names: DisplayNames, guard: Mapping[str, Any]) -> tuple[str, ...]:
    """The guard's reasons in the operator's language, from the fields the manifest keeps
    (guard.findings); a manifest written before it kept them has its English reasons shown."""
    findings = guard.get("findings")
    if findings is None:
        return tuple(str(reason) for reason in guard.get("reasons") or ())
    return tuple(
        _guard_finding_text(GuardFinding.from_fields(fields), names.segments, names.tags)
        for fields in findings
    )


def _guard_finding_text(
    finding: GuardFinding, segments: Mapping[str, str], tags: Mapping[str, str]
) -> str:
    change = f"{finding.change:+.0%}"
    allowed = f"{finding.allowed:.0%}"
    if finding.kind == SEGMENT:
        return _(
            "segment {name}: {before} → {tonight} customers ({change}; the guard allows ±{allowed})"
        ).format(
            name=name_label(finding.name, segments),
            before=int_cell(finding.before),
            tonight=int_cell(finding.tonight),
            change=change,
            allowed=allowed,
        )
    if finding.kind == TAG:
        return _(
            "tag {name}: coverage {before} → {tonight} ({change}; the guard allows -{allowed})"
        ).format(
            name=name_label(finding.name, tags),
            before=percent_cell(finding.before),
            tonight=percent_cell(finding.tonight),
            change=change,
            allowed=allowed,
        )
    if finding.kind == SOURCE:
        return _(
            "source {name}: {before} → {tonight} clean rows ({change}; the guard allows -{allowed})"
        ).format(
            name=finding.name,
            before=int_cell(finding.before),
            tonight=int_cell(finding.tonight),
            change=change,
            allowed=allowed,
        )
    # A kind of finding added to the guard without words here still reads, in English.
    return finding.text()


# --- reading the warehouse -----------------------------------------------------------------


def _connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    if not warehouse.is_file():
        raise ReportError(f"warehouse {warehouse} does not exist")
    try:
        return duckdb_settings.connect(warehouse, read_only=True)
    except duckdb.Error as error:
        raise ReportError(f"cannot open the warehouse {warehouse} read-only: {error}") from error


def _rows(
    connection: duckdb.DuckDBPyConnection, sql: str, parameters: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    # Fetch everything: DuckDB 2.0 refuses a new statement while a result is unfinished.
    return connection.execute(sql, list(parameters)).fetchall()


def _existing_tables(connection: duckdb.DuckDBPyConnection) -> set[str]:
    rows = _rows(
        connection,
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_schema in ('marts', 'predictive')",
    )
    return {name for (name,) in rows}


def _check_night(connection: duckdb.DuckDBPyConnection, as_of: date) -> None:
    """Every table is there, and the one-night tables hold ``as_of``."""
    missing = [table for table in _REQUIRED_TABLES if table not in _existing_tables(connection)]
    if missing:
        raise ReportError(f"the warehouse lacks {', '.join(missing)}: has the night been built?")
    for table in _ONE_NIGHT_TABLES:
        ((first, last),) = _rows(
            connection, f"select min(as_of_date), max(as_of_date) from {table}"
        )
        if first is not None and (first != as_of or last != as_of):
            night = first.isoformat() if first == last else f"{first} to {last}"
            raise ReportError(
                f"{table} holds the night of {night}, not {as_of.isoformat()}: the marts are "
                "rebuilt every night, so only the night the warehouse holds can be reported"
            )


# --- sections --------------------------------------------------------------------------------


def _summary_table(connection: duckdb.DuckDBPyConnection, as_of: date, segments: Section) -> Table:
    ((customers,),) = _rows(
        connection, "select count(*) from marts.customer_lifecycle where as_of_date = ?", [as_of]
    )
    ((buyers,),) = _rows(
        connection, "select count(*) from marts.customer_rfm where as_of_date = ?", [as_of]
    )
    ((friendships,),) = _rows(
        connection,
        "select coalesce(sum(net_friends), 0) from marts.friend_metrics_daily where as_of_date = ?",
        [as_of],
    )
    ((tags, unseen_values),) = _rows(
        connection,
        "select count(*), coalesce(sum(unseen_value_customers), 0) "
        "from marts.tag_catalog where as_of_date = ?",
        [as_of],
    )
    ((raw_rows, unbalanced),) = _rows(
        connection,
        "select coalesce(sum(raw_rows), 0), count(case when not is_balanced then 1 end) "
        "from marts.raw_row_accounting",
    )
    segment_count = len(segments.tables[0].rows) if segments.tables else 0
    rows = [
        (_("Customers known"), int_cell(customers)),
        (_("Customers with a purchase (RFM scored)"), int_cell(buyers)),
        (_("Friendships now (customer-staff pairs)"), int_cell(friendships)),
        (_("Segments and exports"), int_cell(segment_count)),
        (_("Tags in the catalog"), int_cell(tags)),
        (_("Tag values outside the known values (customers)"), int_cell(unseen_values)),
        (_("Raw rows"), int_cell(raw_rows)),
        (_("Sources not balanced"), int_cell(unbalanced)),
    ]
    return Table(
        "summary", _("The night at a glance"), (_("Measure"), _("Value")), rows, (False, True)
    )


def _segment_summaries(
    connection: duckdb.DuckDBPyConnection, as_of: date, names: DisplayNames
) -> list[str]:
    """A sentence per segment for the top of the page: its size tonight, who entered and left
    it since the previous night, and its holdout.

    Members, not exports (marts.segment_membership against the previous night it holds): the
    segments table beside it counts what each export published.
    """
    rows, previous = _segments_from_membership(connection, as_of, names)
    summaries = []
    for row in rows:
        holdout = (row.held_back or {}).get("holdout", 0)
        segment = name_label(row.name, names.segments)
        if previous is None:
            text = _(
                "{segment}: {members} in the segment; no earlier night to compare with; "
                "{holdout} in the holdout."
            )
        else:
            text = _(
                "{segment}: {members} in the segment; since {night}: {entered} entered, "
                "{left} left; {holdout} in the holdout."
            )
        summaries.append(
            text.format(
                segment=segment,
                members=int_cell(row.members),
                night=date_cell(previous),
                entered=int_cell(row.entered),
                left=int_cell(row.left),
                holdout=int_cell(holdout),
            )
        )
    return summaries


def _segments_section(
    connection: duckdb.DuckDBPyConnection,
    as_of: date,
    manifest: Mapping[str, Any] | None,
    guard: GuardNotice | None,
    names: DisplayNames,
) -> Section:
    if manifest is not None:
        rows = [
            _in_page_language(_segment_from_manifest(name, entry), names)
            for name, entry in sorted(manifest.get("segments", {}).items())
        ]
        previous = manifest.get("previous_night")
        run = manifest.get("run_id", MISSING)
        if guard is not None and guard.held:
            where = _(
                "the exports the churn guard held back ({manifest}, run {run}): none of them "
                "was published"
            ).format(manifest=f"{guard.exports_dir}{MANIFEST_FILE}", run=run)
        else:
            where = _("the published exports ({manifest}, run {run})").format(
                manifest=f"{EXPORTS_DIR}/{as_of.isoformat()}/{MANIFEST_FILE}", run=run
            )
        source = " ".join(
            (
                _("Every number comes from {where}.").format(where=where),
                _(
                    "Entered and left are counted against the previous published night, {night}."
                ).format(night=previous)
                if previous
                else _(
                    "Entered and left are counted against the previous published night; there "
                    "is none, so every exported row entered."
                ),
                _(
                    "Members, holdout, priority and cool-down are the manifest's membership "
                    "counts (from marts.segment_membership when the exports were written); an "
                    "export that is no segment model (one file per next best action) has only "
                    "exported rows."
                ),
            )
        )
    else:
        rows, previous = _segments_from_membership(connection, as_of, names)
        source = " ".join(
            (
                _(
                    "No exports manifest for this night: members, exported and held-back "
                    "customers are counted from marts.segment_membership, and entered and left "
                    "(members, not exports) against its previous night, {night}."
                ).format(night=previous)
                if previous
                else _(
                    "No exports manifest for this night: members, exported and held-back "
                    "customers are counted from marts.segment_membership, and entered and left "
                    "(members, not exports) against no earlier night there."
                ),
                _("Segments without members on either night are not listed."),
            )
        )
    charts = [segments_chart(rows)] if rows else []
    notes = () if rows else (_("No segments this night."),)
    first_header, second_header = name_headers(_("Segment"))
    table = Table(
        "segments",
        _("Segments (人群包) and exports"),
        (
            first_header,
            second_header,
            _("Members"),
            _("Exported"),
            *(_(header) for _reason, header in SUPPRESSIONS),
            _("Entered"),
            _("Left"),
            _("Owner"),
            _("WeCom tag"),
            _("Description"),
        ),
        [
            (
                *name_cells(row.name, row.display_name),
                int_cell(row.members),
                int_cell(row.exported),
                *(
                    int_cell(None if row.held_back is None else row.held_back.get(reason, 0))
                    for reason, _header in SUPPRESSIONS
                ),
                int_cell(row.entered),
                int_cell(row.left),
                row.owner,
                row.wecom_tag,
                row.description,
            )
            for row in rows
        ],
        (False, False, True, *(True for _ in SUPPRESSIONS), True, True, True, False, False, False),
    )
    return Section(
        "segments",
        _("Segments"),
        (
            _(
                "Who is in each segment tonight, who was exported and who was held back, and "
                "who entered or left the export since the previous night. A member is held back "
                "by cool-down (pushed too recently), priority (a higher-priority push goes out "
                "instead) or holdout (the segment's control group): Members = Exported + "
                "Holdout + Priority + Cool-down (docs/segments.md). Each row with an export is "
                "a file set in the night's exports."
            ),
            source,
        ),
        charts,
        [table],
        notes,
    )


def _segment_from_manifest(name: str, entry: Mapping[str, Any]) -> _SegmentRow:
    # Segment models carry a membership block; other exports (one file per next best action)
    # have no members of their own, only the rows they export.
    membership = entry.get("membership")
    return _SegmentRow(
        name=name,
        display_name=text_cell(entry.get("display_name")),
        members=None if membership is None else int(membership["members"]),
        held_back=None
        if membership is None
        else {reason: int(membership.get(reason, 0)) for reason, _header in SUPPRESSIONS},
        exported=int(entry["rows"]),
        entered=int(entry["entered"]),
        left=int(entry["left"]),
        owner=text_cell(entry.get("owner")),
        wecom_tag=text_cell(entry.get("wecom_tag")),
        description=text_cell(entry.get("description")),
    )


def _in_page_language(row: _SegmentRow, names: DisplayNames) -> _SegmentRow:
    """A manifest's segment named, and an action's export described, in the page's language:
    the manifest keeps those of the language the night's exports were written in."""
    fallback = row.display_name if is_chinese() else ""
    return row._replace(
        display_name=names.segments.get(row.name) or fallback,
        description=names.descriptions.get(row.name, row.description),
    )


def _segments_from_membership(
    connection: duckdb.DuckDBPyConnection, as_of: date, names: DisplayNames
) -> tuple[list[_SegmentRow], date | None]:
    ((previous,),) = _rows(
        connection,
        "select max(as_of_date) from marts.segment_membership where as_of_date < ?",
        [as_of],
    )
    counts = _rows(
        connection,
        """
        with tonight as (
            select segment_name, customer_id, is_exported, suppression
            from marts.segment_membership
            where as_of_date = ?
        ),
        before as (
            select segment_name, customer_id from marts.segment_membership
            where as_of_date = ?
        )
        select
            coalesce(tonight.segment_name, before.segment_name) as segment_name,
            count(tonight.customer_id),
            count(case when tonight.is_exported then 1 end),
            count(case when tonight.suppression = 'holdout' then 1 end),
            count(case when tonight.suppression = 'priority' then 1 end),
            count(case when tonight.suppression = 'cooldown' then 1 end),
            count(case when before.customer_id is null then tonight.customer_id end),
            count(case when tonight.customer_id is null then before.customer_id end)
        from tonight
        full outer join before
            on tonight.segment_name = before.segment_name
            and tonight.customer_id = before.customer_id
        group by 1
        order by 1
        """,
        [as_of, previous],
    )
    rows = [
        _SegmentRow(
            name=name,
            display_name=names.segments.get(name, ""),
            members=int(members),
            held_back={
                "holdout": int(holdout),
                "priority": int(priority),
                "cooldown": int(cooldown),
            },
            exported=int(exported),
            entered=int(entered),
            left=int(left),
            owner="",
            wecom_tag="",
            description=names.descriptions.get(name, ""),
        )
        for name, members, exported, holdout, priority, cooldown, entered, left in counts
    ]
    return rows, previous


class _LiftNight(NamedTuple):
    """One row of marts.campaign_lift: a segment's customers who entered on one night."""

    segment: str
    entry_date: date
    window_days: int
    is_window_complete: bool
    min_arm_customers: int
    too_few_to_tell: bool
    treated_customers: int
    treated_converted: int
    treated_rate: float | None
    holdout_customers: int
    holdout_converted: int
    holdout_rate: float | None
    lift: float | None
    lift_low: float | None
    lift_high: float | None
    spend_lift_cny: float | None
    spend_lift_low_cny: float | None
    spend_lift_high_cny: float | None


class _PooledLift(NamedTuple):
    """One row of marts.campaign_lift_pooled: a segment's entry nights with a complete window
    pooled, with the mart's intervals."""

    segment: str
    entry_nights: int
    too_few_to_tell: bool
    treated_customers: int
    treated_converted: int
    treated_rate: float | None
    holdout_customers: int
    holdout_converted: int
    holdout_rate: float | None
    lift: float | None
    lift_low: float | None
    lift_high: float | None

    @property
    def interval(self) -> tuple[float, float] | None:
        if self.lift_low is None or self.lift_high is None:
            return None
        return self.lift_low, self.lift_high


def _lift_section(
    connection: duckdb.DuckDBPyConnection, as_of: date, display_names: DisplayNames
) -> Section:
    nights = [
        _LiftNight(*row)
        for row in _rows(
            connection,
            """
            select
                segment_name, entry_date, window_days, is_window_complete,
                min_arm_customers, too_few_to_tell,
                treated_customers, treated_converted, treated_conversion_rate,
                holdout_customers, holdout_converted, holdout_conversion_rate,
                conversion_lift, conversion_lift_ci_low, conversion_lift_ci_high,
                spend_lift_cny, spend_lift_ci_low_cny, spend_lift_ci_high_cny
            from marts.campaign_lift where as_of_date = ?
            order by segment_name, entry_date
            """,
            [as_of],
        )
    ]
    pooled = [
        _PooledLift(*row)
        for row in _rows(
            connection,
            """
            select
                segment_name, entry_nights, too_few_to_tell,
                treated_customers, treated_converted, treated_conversion_rate,
                holdout_customers, holdout_converted, holdout_conversion_rate,
                conversion_lift, conversion_lift_ci_low, conversion_lift_ci_high
            from marts.campaign_lift_pooled where as_of_date = ?
            order by segment_name
            """,
            [as_of],
        )
    ]
    names = display_names.segments
    pooled_table = Table(
        "campaign_lift_pooled",
        _("Lift per segment, entry nights with a complete window pooled (converted of customers)"),
        (
            _("Segment"),
            _("Entry nights"),
            _("Treated"),
            _("Treated rate"),
            _("Holdout"),
            _("Holdout rate"),
            _("Lift (pp)"),
            _("95% CI (pp)"),
            _("Too few to tell"),
        ),
        [
            (
                name_label(row.segment, names),
                int_cell(row.entry_nights),
                part_of_cell(row.treated_converted, row.treated_customers),
                percent_cell(row.treated_rate),
                part_of_cell(row.holdout_converted, row.holdout_customers),
                percent_cell(row.holdout_rate),
                points_cell(row.lift),
                interval_cell(row.interval, points_cell),
                yes_no_cell(row.too_few_to_tell),
            )
            for row in pooled
        ],
        (False, True, True, True, True, True, True, True, False),
    )
    recent_dates = sorted({night.entry_date for night in nights}, reverse=True)[:LIFT_ENTRY_DATES]
    recent = sorted(
        (night for night in nights if night.entry_date in recent_dates),
        key=lambda night: (-night.entry_date.toordinal(), night.segment),
    )
    recent_table = Table(
        "campaign_lift_recent",
        _("The latest {count} entry nights at most, one by one (converted of customers)").format(
            count=LIFT_ENTRY_DATES
        ),
        (
            _("Entry night"),
            _("Segment"),
            _("Window"),
            _("Treated"),
            _("Treated rate"),
            _("Holdout"),
            _("Holdout rate"),
            _("Lift (pp)"),
            _("95% CI (pp)"),
            _("Spend lift (CNY)"),
            _("95% CI (CNY)"),
            _("Too few to tell"),
        ),
        [
            (
                night.entry_date.isoformat(),
                name_label(night.segment, names),
                _("complete")
                if night.is_window_complete
                else _("open until {day}").format(day=_window_end(night).isoformat()),
                part_of_cell(night.treated_converted, night.treated_customers),
                percent_cell(night.treated_rate),
                part_of_cell(night.holdout_converted, night.holdout_customers),
                percent_cell(night.holdout_rate),
                points_cell(night.lift),
                interval_cell((night.lift_low, night.lift_high), points_cell),
                signed_cell(night.spend_lift_cny),
                interval_cell((night.spend_lift_low_cny, night.spend_lift_high_cny), signed_cell),
                yes_no_cell(night.too_few_to_tell),
            )
            for night in recent
        ],
        (False, False, False, *(True for _ in range(8)), False),
    )

    notes = []
    if not nights:
        notes.append(
            _(
                "No customers have entered a segment with a holdout yet: there is nothing to "
                "compare."
            )
        )
    elif not pooled:
        first = min(nights, key=_window_end)
        notes.append(
            _(
                "No conversion window is complete yet, so there is no lift to read: the first "
                "ends on {day}, {days} days after the entry night {night}. The entry nights "
                "below are still counting."
            ).format(
                day=_window_end(first).isoformat(),
                days=first.window_days,
                night=first.entry_date.isoformat(),
            )
        )
    else:
        waiting = sorted({night.segment for night in nights} - {row.segment for row in pooled})
        if waiting:
            ends = {
                segment: min(_window_end(n) for n in nights if n.segment == segment).isoformat()
                for segment in waiting
            }
            notes.append(
                _("No complete window yet, so not pooled: {segments}.").format(
                    segments=_(", ").join(
                        _("{segment} (first window ends on {day})").format(
                            segment=name_label(segment, names), day=ends[segment]
                        )
                        for segment in waiting
                    )
                )
            )
    drawable = [row for row in pooled if row.interval is not None]
    charts = [lift_chart(drawable, names)] if drawable else []
    window = nights[0].window_days if nights else None
    min_arm = nights[0].min_arm_customers if nights else None
    return Section(
        "lift",
        _("Campaign lift"),
        (
            _(
                "Did the pushes work? For each segment with a holdout, the customers who "
                "entered it on a night are split into treated (exported) and holdout (kept out "
                "of the export), and compared on a net-paid order within {window} after the "
                "entry night (marts.campaign_lift). Lift is the treated rate minus the holdout "
                "rate, in percentage points (pp)."
            ).format(
                window=_("{days} days").format(days=window)
                if window is not None
                else "campaign_conversion_days"
            ),
            _(
                "Pooled: the entry nights whose window is complete, customers and conversions "
                "summed per segment, with a 95% Newcombe interval (from the arms' Wilson "
                "intervals) computed from the summed counts (docs/report.md). An interval needs "
                "customers in both arms. Too few to tell: fewer than {minimum} customers in an "
                "arm; the interval is shown but is too wide to act on. Spend lift (treated minus "
                "holdout net paid amount per customer in the window, with its Welch t interval) "
                "is shown per entry night only: the mart does not keep what a pooled spend "
                "interval needs."
            ).format(minimum=min_arm if min_arm is not None else "campaign_min_arm_customers"),
        ),
        charts,
        ([pooled_table] if pooled else []) + ([recent_table] if nights else []),
        tuple(notes),
    )


def _wecom_section(
    manifest: Mapping[str, Any] | None, guard: GuardNotice | None, names: DisplayNames
) -> Section:
    intro = (
        _(
            "A dry run: the warehouse calls no WeCom API. The night's exports hold "
            "wecom_mark_tag.csv, one externalcontact/mark_tag call per current friendship "
            "(staff-customer pair) whose tags change, with the tags to add and remove, numbered "
            "into minutes within WeCom's per-minute and per-hour limits for a loader to send "
            "(docs/segments.md)."
        ),
    )
    title = _("WeCom tag sync (dry run)")
    mark_tag = (manifest or {}).get("wecom_mark_tag")
    if manifest is None or mark_tag is None:
        note = (
            _("No exports manifest for this night: no dry run to show.")
            if manifest is None
            else _(
                "The exports manifest has no mark_tag dry run: the night was exported without "
                "friendship tags."
            )
        )
        return Section("wecom", title, intro, [], [], (note,))
    previous = manifest.get("previous_night")
    since = (
        _("Changes since the previous published night, {night}.").format(night=previous)
        if previous
        else _("There is no previous published night, so every friendship's tags are new.")
    )
    limits = mark_tag.get("limits") or {}
    summary = Table(
        "wecom_mark_tag",
        _("mark_tag calls of the night"),
        (_("Measure"), _("Value")),
        [
            (_("Current friendships"), int_cell(mark_tag.get("friendships"))),
            (
                _("mark_tag calls (one per friendship whose tags change)"),
                int_cell(mark_tag["calls"]),
            ),
            (_("Friendships touched"), int_cell(mark_tag.get("friendships_touched"))),
            (_("Tags touched"), int_cell(mark_tag.get("tags_touched"))),
            (_("Tag adds"), int_cell(mark_tag.get("adds"))),
            (_("Tag removes"), int_cell(mark_tag.get("removes"))),
            (_("Minutes needed at the limits"), int_cell(mark_tag.get("minutes_needed"))),
            (_("Limit: calls per minute"), int_cell(limits.get("calls_per_minute"))),
            (_("Limit: calls per hour"), int_cell(limits.get("calls_per_hour"))),
        ],
        (False, True),
    )
    changes = mark_tag.get("largest_changes") or []
    # A WeCom tag is named as it is in WeCom (the segment YAML's wecom_tag, often Chinese): the
    # segments mapped to it say what it is in the page's language.
    segments_by_tag: dict[str, list[str]] = {}
    for name, segment in sorted((manifest.get("segments") or {}).items()):
        if segment.get("wecom_tag"):
            label = names.segments.get(name) or segment.get("display_name") or name
            segments_by_tag.setdefault(str(segment["wecom_tag"]), []).append(str(label))
    largest = Table(
        "wecom_largest_changes",
        _("The tags with the most changes"),
        (_("WeCom tag"), _("Segments"), _("Add"), _("Remove")),
        [
            (
                text_cell(change.get("tag")),
                _(", ").join(segments_by_tag.get(str(change.get("tag")), [])) or "—",
                int_cell(change.get("add")),
                int_cell(change.get("remove")),
            )
            for change in changes
        ],
        (False, False, True, True),
    )
    notes = []
    if not mark_tag["calls"]:
        notes.append(_("No friendship's tags change tonight: there is no mark_tag call to send."))
    if guard is not None and guard.held:
        notes.append(
            _("The night is held by the churn guard: no call is due until it is released.")
        )
    return Section(
        "wecom",
        title,
        (*intro, since),
        [],
        [summary, largest] if changes else [summary],
        tuple(notes),
    )


def _rfm_section(connection: duckdb.DuckDBPyConnection, as_of: date, window_days: int) -> Section:
    cells = {
        (int(r_score), int(f_score)): int(customers)
        for r_score, f_score, customers in _rows(
            connection,
            """
            select r_score, f_score, count(*) from marts.customer_rfm
            where as_of_date = ? and r_score is not null and f_score is not null
            group by all
            """,
            [as_of],
        )
    }
    total = sum(cells.values())
    grid_rows = [
        (
            f"R{r_score}",
            *(int_cell(cells.get((r_score, f_score), 0)) for f_score in RFM_SCORES),
            int_cell(sum(cells.get((r_score, f_score), 0) for f_score in RFM_SCORES)),
        )
        for r_score in reversed(RFM_SCORES)
    ]
    grid = Table(
        "rfm_grid",
        _("Customers by recency score (rows) and frequency score (columns)"),
        ("R \\ F", *(f"F{f_score}" for f_score in RFM_SCORES), _("Total")),
        grid_rows,
        (False, *(True for _score in RFM_SCORES), True),
        footer=(
            _("Total"),
            *(int_cell(sum(cells.get((r, f), 0) for r in RFM_SCORES)) for f in RFM_SCORES),
            int_cell(total),
        ),
    )
    segments = Table(
        "rfm_segments",
        _("RFM segments"),
        (
            _("Segment"),
            _("Customers"),
            _("Share"),
            _("Avg days since purchase"),
            _("Avg orders ({days} days)").format(days=window_days),
            _("Spend, {days} days (CNY)").format(days=window_days),
        ),
        [
            (
                value_label(segment, RFM_SEGMENTS),
                int_cell(customers),
                share_cell(customers, total),
                number_cell(recency, 1),
                number_cell(frequency, 2),
                number_cell(monetary, 2),
            )
            for segment, customers, recency, frequency, monetary in _rows(
                connection,
                """
                select
                    rfm_segment, count(*), avg(recency_days), avg(frequency_orders),
                    sum(monetary_cny)
                from marts.customer_rfm where as_of_date = ?
                group by 1 order by count(*) desc, rfm_segment
                """,
                [as_of],
            )
        ],
        (False, True, True, True, True, True),
    )
    classes = Table(
        "rfm_classes",
        _("RFM classes (八类客户)"),
        (_("Class"), _("Customers"), _("Share")),
        [
            (value_label(rfm_class, RFM_CLASSES), int_cell(customers), share_cell(customers, total))
            for rfm_class, customers in _rows(
                connection,
                """
                select rfm_class, count(*) from marts.customer_rfm where as_of_date = ?
                group by 1 order by count(*) desc, rfm_class
                """,
                [as_of],
            )
        ],
        (False, True, True),
    )
    charts = [rfm_chart(cells, window_days)] if total else []
    notes = () if total else (_("No customer has a purchase yet: nothing to score."),)
    return Section(
        "rfm",
        "RFM",
        (
            _(
                "Customers with a purchase, scored 1-5 on recency (R), frequency (F) and "
                "monetary value (M) over the last {days} days (marts.customer_rfm; rules in "
                "docs/customer_value.md). 5 is best: most recent, most orders."
            ).format(days=window_days),
        ),
        charts,
        [grid, segments, classes],
        notes,
    )


def _lifecycle_section(connection: duckdb.DuckDBPyConnection, as_of: date) -> Section:
    stage_rows = _rows(
        connection,
        """
        select lifecycle_stage, count(*), median(days_in_stage)
        from marts.customer_lifecycle where as_of_date = ?
        group by 1
        """,
        [as_of],
    )
    flows = _rows(
        connection,
        """
        select moved_on, from_stage, to_stage, sum(customers)
        from marts.lifecycle_flow where as_of_date = ?
        group by all
        """,
        [as_of],
    )
    stages = ordered_stages(
        [row[0] for row in stage_rows]
        + [stage for _moved_on, a, b, _customers in flows for stage in (a, b)]
    )
    counts = {stage: int(customers) for stage, customers, _median in stage_rows}
    medians = {stage: median for stage, _customers, median in stage_rows}
    total = sum(counts.values())
    entered_tonight = sum_by(flows, lambda row: row[2], lambda row: row[0] == as_of)
    left_tonight = sum_by(flows, lambda row: row[1], lambda row: row[0] == as_of)
    stage_table = Table(
        "lifecycle_stages",
        _("Customers per stage; moves on {day}").format(day=as_of.isoformat()),
        (
            _("Stage"),
            _("Customers"),
            _("Share"),
            _("Entered on the day"),
            _("Left on the day"),
            _("Median days"),
        ),
        [
            (
                stage_label(stage),
                int_cell(counts.get(stage, 0)),
                share_cell(counts.get(stage, 0), total),
                int_cell(entered_tonight.get(stage, 0)),
                int_cell(left_tonight.get(stage, 0)),
                number_cell(medians.get(stage), 0),
            )
            for stage in stages
        ],
        (False, True, True, True, True, True),
        footer=(_("Total"), int_cell(total), share_cell(total, total), "", "", ""),
    )

    window_start = as_of - timedelta(days=FLOW_WINDOW_DAYS - 1)
    matrix: dict[tuple[str, str], int] = {}
    for moved_on, from_stage, to_stage, customers in flows:
        if window_start <= moved_on <= as_of:
            key = (from_stage, to_stage)
            matrix[key] = matrix.get(key, 0) + int(customers)
    from_stages = [FIRST_STAGE, *stages]
    flow_table = Table(
        "lifecycle_flow",
        _("Moves from stage (rows) to stage (columns), {first} to {last}").format(
            first=window_start.isoformat(), last=as_of.isoformat()
        ),
        (_("From \\ to"), *(stage_label(stage) for stage in stages), _("Total")),
        [
            (
                stage_label(from_stage),
                *(int_cell(matrix.get((from_stage, to_stage), 0)) for to_stage in stages),
                int_cell(sum(matrix.get((from_stage, to_stage), 0) for to_stage in stages)),
            )
            for from_stage in from_stages
        ],
        (False, *(True for _stage in stages), True),
    )

    months = months_between(month_start(as_of, LIFECYCLE_MONTHS - 1), as_of)
    monthly: dict[tuple[date, str], int] = {}
    for moved_on, _from_stage, to_stage, customers in flows:
        month = moved_on.replace(day=1)
        if month >= months[0]:
            monthly[(month, to_stage)] = monthly.get((month, to_stage), 0) + int(customers)
    monthly_table = Table(
        "lifecycle_monthly",
        _("Customers entering each stage, per month"),
        (_("Month"), *(stage_label(stage) for stage in stages)),
        [
            (
                month_cell(month, as_of),
                *(int_cell(monthly.get((month, stage), 0)) for stage in stages),
            )
            for month in months
        ],
        (False, *(True for _stage in stages)),
        collapsed=True,
    )

    charts = []
    notes = []
    if total:
        charts.append(lifecycle_stages_chart(stages, counts))
    else:
        notes.append(_("No known customers this night."))
    if matrix:
        charts.append(lifecycle_flow_chart(from_stages, stages, matrix, window_start, as_of))
    else:
        notes.append(_("No stage changes in the last {days} days.").format(days=FLOW_WINDOW_DAYS))
    if monthly:
        charts.append(lifecycle_monthly_chart(months, stages, monthly, as_of))
    else:
        notes.append(
            _("No stage changes in the last {months} months.").format(months=LIFECYCLE_MONTHS)
        )
    return Section(
        "lifecycle",
        _("Lifecycle"),
        (
            _(
                "Every known customer is in one stage (marts.customer_lifecycle). The moves come "
                "from marts.lifecycle_flow; '{first}' is a customer's first stage, entered on "
                "the day the warehouse first knew them."
            ).format(first=stage_label(FIRST_STAGE)),
        ),
        charts,
        [stage_table, flow_table, monthly_table],
        tuple(notes),
    )


def _friends_section(connection: duckdb.DuckDBPyConnection, as_of: date) -> Section:
    ((first_event,),) = _rows(
        connection,
        "select min(event_on) from marts.friend_metrics_daily where as_of_date = ?",
        [as_of],
    )
    # The last FRIEND_MONTHS months, or fewer when the history is shorter.
    first_month = month_start(as_of, FRIEND_MONTHS - 1)
    if first_event is not None and first_event.replace(day=1) > first_month:
        first_month = min(first_event.replace(day=1), as_of.replace(day=1))
    months = months_between(first_month, as_of)
    monthly = _rows(
        connection,
        """
        select
            cast(date_trunc('month', event_on) as date),
            channel_code,
            sum(friends_added),
            sum(friends_deleted_by_customer),
            sum(friends_deleted_by_staff)
        from marts.friend_metrics_daily
        where as_of_date = ? and event_on >= ? and event_on <= ?
        group by all
        """,
        [as_of, months[0], as_of],
    )
    added_by_channel = sum_by(monthly, lambda row: row[1], value=lambda row: row[2])
    ranked = sorted(added_by_channel, key=lambda channel: (-added_by_channel[channel], channel))
    top = ranked[:TOP_CHANNELS]
    # One "other" line only when it stands for two or more channels.
    if len(ranked) == TOP_CHANNELS + 1:
        top = ranked
    groups = [*top, *([OTHER_CHANNELS] if len(ranked) > len(top) else [])]
    added: dict[tuple[date, str], int] = {}
    deleted: dict[tuple[date, str], int] = {}
    by_customer: dict[tuple[date, str], int] = {}
    by_staff: dict[tuple[date, str], int] = {}
    for month, channel, adds, deleted_by_customer, deleted_by_staff in monthly:
        key = (month, channel if channel in top else OTHER_CHANNELS)
        added[key] = added.get(key, 0) + int(adds)
        by_customer[key] = by_customer.get(key, 0) + int(deleted_by_customer)
        by_staff[key] = by_staff.get(key, 0) + int(deleted_by_staff)
        deleted[key] = by_customer[key] + by_staff[key]

    window_start = as_of - timedelta(days=FLOW_WINDOW_DAYS - 1)
    channel_rows = _rows(
        connection,
        """
        with names as (
            select channel_code, min(channel_name) as channel_name
            from marts.dim_channels where as_of_date = ?
            group by 1
        )
        select
            metrics.channel_code,
            names.channel_name,
            sum(metrics.friends_added),
            sum(metrics.friends_deleted_by_customer),
            sum(metrics.friends_deleted_by_staff),
            sum(metrics.net_friends),
            sum(case when metrics.event_on >= ? then metrics.friends_added else 0 end),
            sum(
                case
                    when metrics.event_on >= ?
                        then metrics.friends_deleted_by_customer
                        + metrics.friends_deleted_by_staff
                    else 0
                end
            )
        from marts.friend_metrics_daily as metrics
        left join names on metrics.channel_code = names.channel_code
        where metrics.as_of_date = ?
        group by 1, 2
        order by sum(metrics.friends_added) desc, metrics.channel_code
        """,
        [as_of, window_start, window_start, as_of],
    )
    totals = [sum(int(row[index]) for row in channel_rows) for index in range(2, 8)]
    channels = Table(
        "friend_channels",
        _("Friendships by acquisition channel, all history"),
        (
            _("Channel"),
            _("Name"),
            _("Added"),
            _("Deleted by customer"),
            _("Deleted by staff"),
            _("Friends now"),
            _("Added, last {days} days").format(days=FLOW_WINDOW_DAYS),
            _("Deleted, last {days} days").format(days=FLOW_WINDOW_DAYS),
        ),
        [
            (text_cell(code), text_cell(name), *(int_cell(value) for value in values))
            for code, name, *values in channel_rows
        ],
        (False, False, True, True, True, True, True, True),
        footer=(_("Total"), "", *(int_cell(value) for value in totals)),
    )
    monthly_table = Table(
        "friends_monthly",
        _("Friend adds and deletions per month and channel"),
        (_("Month"), _("Channel"), _("Added"), _("Deleted by customer"), _("Deleted by staff")),
        [
            (
                month_cell(month, as_of),
                channel_label(group),
                int_cell(added.get((month, group), 0)),
                int_cell(by_customer.get((month, group), 0)),
                int_cell(by_staff.get((month, group), 0)),
            )
            for month in months
            for group in groups
            if (month, group) in added
        ],
        (False, False, True, True, True),
        collapsed=True,
    )
    charts = [friends_chart(months, groups, added, deleted, as_of)] if monthly else []
    notes = (
        ()
        if monthly
        else (
            _("No friend adds or deletions in the last {months} months.").format(
                months=FRIEND_MONTHS
            ),
        )
    )
    return Section(
        "friends",
        _("Friends by channel"),
        (
            _(
                "WeCom friendships (customer-staff pairs) added and deleted, by the channel that "
                "acquired the friendship (marts.friend_metrics_daily): a deletion counts against "
                "the channel of the add that began it. '{friends_now}' is adds minus deletions."
            ).format(friends_now=_("Friends now")),
        ),
        charts,
        [channels, monthly_table],
        notes,
    )


def _staff_section(connection: duckdb.DuckDBPyConnection, as_of: date) -> Section:
    """One row per staff member over the last staff_window_days days: friends and chats summed
    from marts.staff_metrics_daily, and the customers chatted with and the median first
    response from marts.staff_metrics_window, since those do not add up over days; friends
    now, those not contacted and the deletion alerts as of the night."""
    settings = project_vars()
    window_days = int(settings["staff_window_days"])
    window_start = as_of - timedelta(days=window_days - 1)
    uncontacted_days = int(settings["staff_uncontacted_days"])
    rows = _rows(
        connection,
        """
        with window_sums as (
            select
                staff_id,
                sum(friends_added) as friends_added,
                sum(friends_deleted_by_customer) as friends_deleted_by_customer,
                sum(friends_deleted_by_staff) as friends_deleted_by_staff,
                sum(chats_in) as chats_in,
                sum(chats_out) as chats_out
            from marts.staff_metrics_daily
            where as_of_date = ? and metric_on >= ? and metric_on <= ?
            group by 1
        ),
        friends as (
            select staff_id, sum(net_friends) as friends_now
            from marts.friend_metrics_daily where as_of_date = ?
            group by 1
        ),
        alerts as (
            select staff_id, count(*) as deletion_alerts
            from marts.staff_deletion_alerts where as_of_date = ?
            group by 1
        )
        select
            night.staff_id,
            coalesce(friends.friends_now, 0),
            coalesce(window_sums.friends_added, 0),
            coalesce(window_sums.friends_deleted_by_customer, 0),
            coalesce(window_sums.friends_deleted_by_staff, 0),
            coalesce(window_sums.chats_in, 0),
            coalesce(window_sums.chats_out, 0),
            coalesce(window_metrics.customers_chatted, 0),
            coalesce(window_metrics.responses_measured, 0),
            window_metrics.median_first_response_seconds,
            night.customers_not_contacted,
            coalesce(alerts.deletion_alerts, 0)
        from marts.staff_metrics_daily as night
        left join window_sums on night.staff_id = window_sums.staff_id
        left join marts.staff_metrics_window as window_metrics
            on
                night.staff_id = window_metrics.staff_id
                and window_metrics.as_of_date = night.as_of_date
        left join friends on night.staff_id = friends.staff_id
        left join alerts on night.staff_id = alerts.staff_id
        where night.as_of_date = ? and night.metric_on = ?
        order by 2 desc, night.staff_id
        """,
        [as_of, window_start, as_of, as_of, as_of, as_of, as_of],
    )
    night = date_cell(as_of)
    # Summed over staff members: pairs, so every count but the distinct customers and the
    # median adds up.
    additive = (1, 2, 3, 4, 5, 6, 8, 10, 11)
    totals = {index: sum(int(row[index]) for row in rows) for index in additive}
    table = Table(
        "staff",
        _(
            "Staff members: the last {days} days ({start} to {night}) and the night of {night}"
        ).format(days=window_days, start=date_cell(window_start), night=night),
        (
            _("Staff member"),
            _("Friends now"),
            _("Added"),
            _("Deleted by customer"),
            _("Deleted by staff"),
            _("Chats in"),
            _("Chats out"),
            _("Customers chatted with"),
            _("Responses measured"),
            _("Median first response, minutes"),
            _("Not contacted in {days} days").format(days=uncontacted_days),
            _("Deletion alerts (night)"),
        ),
        [
            (
                text_cell(staff_id),
                *(int_cell(value) for value in counts[:6]),
                int_cell(chatted),
                int_cell(measured),
                number_cell(None if median is None else float(median) / 60, 1),
                int_cell(not_contacted),
                int_cell(alerts),
            )
            for staff_id, *counts, chatted, measured, median, not_contacted, alerts in rows
        ],
        (False, *(True for _column in range(11))),
        footer=(
            _("Total"),
            *(int_cell(totals[index]) if index in totals else "" for index in range(1, 12)),
        ),
    )
    notes = () if rows else (_("No staff member has a friend or a chat yet."),)
    return Section(
        "staff",
        _("Staff"),
        (
            _(
                "One row per staff member, most friends now first, over the last {days} days, "
                "{start} to {night} (var staff_window_days). Friends added and deleted and "
                "chats in and out (chat_in, chat_out) are the days' sums "
                "(marts.staff_metrics_daily); the customers chatted with and the median first "
                "response are taken over the same days at once (marts.staff_metrics_window), "
                "since distinct customers and a median do not add up over days."
            ).format(days=window_days, start=date_cell(window_start), night=night),
            _(
                "A first response is the time from a customer's first message of a run to the "
                "staff member's next reply; a message not answered by the end of {night} is "
                "not measured yet. '{not_contacted}' counts the staff member's friends at the "
                "end of {night} without a chat_out from them in the last {uncontacted} days. "
                "'{alerts}' counts the customers who deleted the staff member on {night} "
                "(marts.staff_deletion_alerts), to try to win back."
            ).format(
                night=night,
                not_contacted=_("Not contacted in {days} days").format(days=uncontacted_days),
                uncontacted=uncontacted_days,
                alerts=_("Deletion alerts (night)"),
            ),
        ),
        [],
        [table] if rows else [],
        notes,
    )


def _tags_section(
    connection: duckdb.DuckDBPyConnection, as_of: date, names: DisplayNames
) -> Section:
    tags = _rows(
        connection,
        """
        select tag_category, tag_name, display_name, value_type, coverage, distinct_values,
            tag_owner
        from marts.tag_catalog where as_of_date = ?
        order by tag_category, tag_name
        """,
        [as_of],
    )
    first_header, second_header = name_headers(_("Tag"))
    table = Table(
        "tag_coverage",
        _("Tags: share of customers with a value"),
        (
            _("Category"),
            first_header,
            second_header,
            _("Type"),
            _("Coverage"),
            _("Distinct values"),
            _("Owner"),
            _("Description"),
        ),
        [
            (
                text_cell(category),
                *name_cells(text_cell(name), names.tags.get(name, "")),
                text_cell(value_type),
                percent_cell(coverage),
                int_cell(distinct),
                text_cell(owner),
                names.tag_descriptions.get(name, ""),
            )
            for category, name, _display_name, value_type, coverage, distinct, owner in tags
        ],
        (False, False, False, False, True, True, False, False),
    )
    charts = [tag_coverage_chart(tags, names.tags)] if tags else []
    notes = () if tags else (_("The tag catalog is empty."),)
    unseen = _unseen_values_table(connection, as_of, names)
    return Section(
        "tags",
        _("Tag coverage"),
        (
            _(
                "Every tag in marts.tag_catalog with the share of known customers that have a "
                "value for it. A boolean tag is always set; a low share on another tag means the "
                "data behind it is sparse (docs/tags.md)."
            ),
        ),
        charts,
        [table],
        notes,
        lead=(unseen,) if unseen.rows else (),
    )


def unseen_tag_values(
    connection: duckdb.DuckDBPyConnection, as_of: date
) -> list[tuple[str, str, str, int]]:
    """The night's marts.tag_unseen_values, most held first within a tag: (tag_name,
    display_name, tag_value, customers). The report's table and the asset's metadata."""
    return _rows(
        connection,
        """
        select tag_name, display_name, tag_value, customers
        from marts.tag_unseen_values where as_of_date = ?
        order by tag_name, customers desc, tag_value
        """,
        [as_of],
    )


def _unseen_values_table(
    connection: duckdb.DuckDBPyConnection, as_of: date, names: DisplayNames
) -> Table:
    """Warning: the values of open-vocabulary tags outside their known values, kept as they
    came (marts.tag_unseen_values)."""
    first_header, second_header = name_headers(_("Tag"))
    return Table(
        "tag_unseen_values",
        _(
            "Warning: tag values outside the declared known values, kept as they came. Add "
            "them to the tag's known_values, or map them in its SQL (docs/tags.md)."
        ),
        (first_header, second_header, _("Value"), _("Customers")),
        [
            (
                *name_cells(text_cell(name), names.tags.get(name, "")),
                text_cell(value),
                int_cell(customers),
            )
            for name, _display_name, value, customers in unseen_tag_values(connection, as_of)
        ],
        (False, False, False, True),
    )


# --- Model fit statuses: what each status means, and a note for every fit not converged ---


def _fit_status_notes(fits: Sequence[tuple[Any, ...]]) -> list[str]:
    """One note per fit that did not converge, with its status's meaning and its reason."""
    return [
        _("{model} is {status} ({meaning}): {detail}.").format(
            model=model,
            status=status,
            meaning=_(FIT_STATUSES[status]) if status in FIT_STATUSES else _("unknown status"),
            detail=text_cell(detail) or _("no reason given"),
        )
        for model, status, detail, *_rest in fits
        if status != CONVERGED
    ]


def fit_detail_text(detail: Any, fields: Any) -> str:
    """A fit's detail in the page's language, worded from its fields (btyd_model_fits
    detail_fields); a detail without them (a night from before the fields), or with fields
    these words do not know, as it is."""
    try:
        parsed = json.loads(fields) if isinstance(fields, str) else None
    except ValueError:
        parsed = None
    words = _fit_detail_words(parsed) if isinstance(parsed, dict) else None
    return text_cell(detail) if words is None else words


def _fit_detail_words(fields: Mapping[str, Any]) -> str | None:
    """None for an unknown reason, or fields without a value the words need."""
    reason = fields.get("reason")
    try:
        if reason == NO_INTERIOR_MAXIMUM:
            return _boundary_words(fields)
        if reason == NON_FINITE_PREDICTIONS:
            fit = _fit_detail_words(fields["fields"]) if fields["fields"] else ""
            if fit is None:
                return None
            return _(
                "{predictions} predictions are not finite, so none are kept ({status}: {detail})"
            ).format(predictions=fields["predictions"], status=fields["status"], detail=fit)
        if reason in FIT_DETAILS:
            values = {name: _detail_value(value) for name, value in fields.items()}
            return _(FIT_DETAILS[str(reason)]).format(**values)
    except (KeyError, TypeError, AttributeError):
        return None
    return None


def _boundary_words(fields: Mapping[str, Any]) -> str:
    """A boundary fit's detail: which parameters run off, where the search stopped, and for
    BG/NBD how many buyers repeat, worded as the fit's English detail is."""
    running = [str(name) for name in fields["running"]]
    how = (
        ngettext(
            "as {names} runs towards 0 or infinity",
            "as {names} run towards 0 or infinity",
            len(running),
        ).format(names=", ".join(running))
        if running
        else _("along a flat ridge")
    )
    if fields["at_search_edge"]:
        words = _(
            "no interior maximum: the likelihood levels off {how} (stopped at the edge of the "
            "search range) at {parameters}; the data do not identify them (a penalizer_coef may "
            "give an interior fit)"
        )
    else:
        words = _(
            "no interior maximum: the likelihood levels off {how} at {parameters}; the data do "
            "not identify them (a penalizer_coef may give an interior fit)"
        )
    boundary = words.format(how=how, parameters=described(fields["parameters"]))
    if "repeat_buyers" not in fields:
        return boundary
    counted = _(FIT_DETAILS[REPEAT_BUYERS]).format(
        repeat_buyers=fields["repeat_buyers"], buyers=fields["buyers"]
    )
    return _("{counted}; {boundary}").format(counted=counted, boundary=boundary)


def _detail_value(value: Any) -> Any:
    """A field as the fit's English detail writes it: four significant digits, parameters as
    r=0.2431, alpha=4.41."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return described(value)
    return value


# --- end of model fit statuses ---


def _models_section(connection: duckdb.DuckDBPyConnection, as_of: date) -> Section:
    present = _existing_tables(connection)
    fits: list[tuple[Any, ...]] = []
    backtest: list[tuple[Any, ...]] = []
    if all(table in present for table in _PREDICTIVE_TABLES):
        # A warehouse whose fits were last written before they kept their detail as fields.
        ((has_fields,),) = _rows(
            connection,
            "select count(*) > 0 from information_schema.columns where table_schema = "
            "'predictive' and table_name = 'btyd_model_fits' and column_name = 'detail_fields'",
        )
        fits = [
            (model, status, fit_detail_text(detail, fields), *rest)
            for model, status, detail, fields, *rest in _rows(
                connection,
                f"""
                select model, status, detail, {"detail_fields" if has_fields else "null"},
                    n_customers, log_likelihood, iterations, parameters,
                    data_first_purchase_on, data_last_purchase_on
                from predictive.btyd_model_fits where as_of_date = ?
                order by model
                """,
                [as_of],
            )
        ]
        backtest = sorted(
            _rows(
                connection,
                """
                select frequency_bucket, customers, actual_mean, predicted_mean, total_actual,
                    total_predicted, mean_absolute_error, calibration_end, holdout_end
                from predictive.model_backtest where as_of_date = ?
                """,
                [as_of],
            ),
            key=lambda row: bucket_order(row[0]),
        )

    notes: list[str] = []
    if not fits:
        notes.append(
            _(
                "No model fits were recorded for this night: the predictive asset has not run "
                "for it."
            )
        )
    notes.extend(_fit_status_notes(fits))
    overall = next((row for row in backtest if row[0] == "all"), None)
    if not backtest:
        calibration = next((row for row in fits if row[0] == BG_NBD_BACKTEST), None)
        if calibration is not None:
            reason = _("its calibration fit is {status} (see above)").format(status=calibration[1])
        else:
            reason = _("no fits") if not fits else _("no calibration fit was recorded")
        notes.append(_("No backtest for this night: {reason}.").format(reason=reason))

    fit_table = Table(
        "model_fits",
        _("Fits of the night"),
        (
            _("Model"),
            _("Status"),
            _("Customers"),
            _("Log-likelihood"),
            _("Iterations"),
            _("Parameters"),
            _("Purchases from"),
            _("Purchases to"),
            _("Detail"),
        ),
        [
            (
                text_cell(model),
                text_cell(status),
                int_cell(customers),
                number_cell(log_likelihood, 2),
                int_cell(iterations),
                parameters_text(parameters),
                date_cell(first),
                date_cell(last),
                text_cell(detail),
            )
            for (
                model,
                status,
                detail,
                customers,
                log_likelihood,
                iterations,
                parameters,
                first,
                last,
            ) in fits
        ],
        (False, False, True, True, True, False, False, False, False),
    )
    backtest_table = Table(
        "model_backtest",
        _(
            "Backtest: purchase days in the holdout, actual against predicted, by repeat "
            "purchase days in the calibration period"
        ),
        (
            _("Bucket"),
            _("Customers"),
            _("Actual mean"),
            _("Predicted mean"),
            _("Total actual"),
            _("Total predicted"),
            _("Mean absolute error"),
        ),
        [
            (
                text_cell(row[0]),
                int_cell(row[1]),
                *(number_cell(row[index], 3) for index in (2, 3)),
                *(number_cell(row[index], 1) for index in (4, 5)),
                number_cell(row[6], 3),
            )
            for row in backtest
        ],
        (False, True, True, True, True, True, True),
    )
    card = Table("model_card", _("Model card"), (), _model_card_rows(fits, overall), (False, False))
    buckets = [row for row in backtest if row[0] != "all"]
    charts = [backtest_chart(buckets)] if buckets else []
    return Section(
        "models",
        _("Predictive models"),
        (
            _(
                "The BTYD models behind P(alive), expected purchases and 12-month CLV "
                "(predictive.btyd_model_fits and predictive.model_backtest; "
                "docs/customer_value.md)."
            ),
        ),
        charts,
        [fit_table, backtest_table] if backtest else [fit_table],
        tuple(notes),
        lead=(card,),
    )


def _model_card_rows(
    fits: Sequence[tuple[Any, ...]], overall: tuple[Any, ...] | None
) -> list[tuple[str, str]]:
    data = MISSING
    fitted = [row for row in fits if row[0] == "bg_nbd"] or list(fits)
    if fitted:
        status, customers, first, last = (fitted[0][index] for index in (1, 3, 7, 8))
        data = _(
            "The BTYD summary of {customers} customers with a purchase (marts.customer_rfm), "
            "from purchase days {first} to {last}."
        ).format(customers=int_cell(customers), first=date_cell(first), last=date_cell(last))
        if status not in USABLE_STATUSES:
            data += " " + _("No predictions came from it this night (see the notes).")
        elif status != CONVERGED:
            data += " " + _(
                "The fit is {status}: its predictions are flagged (see the notes)."
            ).format(status=status)

    if overall is None:
        evaluation = _("No backtest this night.")
    else:
        customers = overall[1]
        total_actual, total_predicted, error, calibration_end, holdout_end = overall[4:]
        relative = abs(total_predicted - total_actual) / max(total_actual, 1.0)
        evaluation = _(
            "Refitted on purchases up to {calibration_end} and asked for the purchase days of "
            "{customers} customers until {holdout_end}: {predicted} predicted against {actual} "
            "actual ({relative} off), mean absolute error {error} per customer."
        ).format(
            calibration_end=date_cell(calibration_end),
            customers=int_cell(customers),
            holdout_end=date_cell(holdout_end),
            predicted=number_cell(total_predicted, 1),
            actual=number_cell(total_actual, 1),
            relative=f"{relative:.1%}",
            error=number_cell(error, 3),
        )
    return [
        (
            _("Models"),
            _(
                "BG/NBD (Fader, Hardie & Lee 2005): purchase days and dropout. Gamma-Gamma: "
                "spend per purchase day, fitted on repeat buyers with positive spend. Both by "
                "maximum likelihood, refitted every night."
            ),
        ),
        (
            _("Outputs"),
            _(
                "predictive.customer_predictions: P(alive), expected purchase days in 30 and 90 "
                "days, expected average spend and 12-month CLV (1% a month discount); the tags "
                "probability_alive, clv_12m_cny and is_likely_to_churn."
            ),
        ),
        (
            _("Intended use"),
            _(
                "Ranking and grouping customers for retention, win-back and budget; not a "
                "promise about any one customer's next order."
            ),
        ),
        (_("Training data"), data),
        (_("Evaluation"), evaluation),
        (
            _("Limitations"),
            _(
                "A one-time buyer gets P(alive) = 1, so only repeat buyers can be flagged as "
                "likely to churn. With fewer than min_customers (default 100) buyers, or no "
                "repeat buyer, there is no fit and no predictions. Refunds recorded later change "
                "past purchases, and with them the next fit."
            ),
        ),
    ]


def _identity_section(connection: duckdb.DuckDBPyConnection, as_of: date) -> Section:
    """Who is one person tonight (docs/identity.md): the ids, the persons they make, and the
    links the guards kept out, with the ids over a partner limit listed."""
    ((customer_ids, persons, joined_persons, link_only_ids),) = _rows(
        connection,
        """
        select
            count(case when is_customer_id then 1 end),
            count(distinct case when is_customer_id then person_id end),
            count(distinct case when is_customer_id and person_id_count > 1 then person_id end),
            count(case when not is_customer_id then 1 end)
        from marts.person_ids where as_of_date = ?
        """,
        [as_of],
    )
    statuses = dict(
        _rows(
            connection,
            "select link_status, count(*) from marts.identity_link_status"
            " where as_of_date = ? group by 1",
            [as_of],
        )
    )
    ((large_persons,),) = _rows(
        connection,
        "select count(*) from marts.identity_large_persons where as_of_date = ?",
        [as_of],
    )
    changes = dict(
        _rows(
            connection,
            "select person_change, count(*) from marts.person_merges"
            " where as_of_date = ? group by 1",
            [as_of],
        )
    )
    blocked = _rows(
        connection,
        """
        select id, link_type, partner_count, max_partners
        from marts.identity_blocked_ids where as_of_date = ?
        order by partner_count desc, id, link_type
        limit 20
        """,
        [as_of],
    )
    figures = Table(
        "identity",
        _("Ids and persons on the night of {night}").format(night=date_cell(as_of)),
        (_("Measure"), _("Value")),
        [
            (_("Customer ids (the ids the sources know customers by)"), int_cell(customer_ids)),
            (_("Persons they belong to"), int_cell(persons)),
            (_("Persons with more than one id"), int_cell(joined_persons)),
            (_("Ids only links carry (phones, unionids)"), int_cell(link_only_ids)),
            (_("Links that hold: joined two ids"), int_cell(statuses.get("joined", 0))),
            (
                _("Links kept out: an id over its partner limit"),
                int_cell(statuses.get("id_over_partner_limit", 0)),
            ),
            (
                _("Links kept out: would join two persons of stronger links"),
                int_cell(statuses.get("joins_stronger_persons", 0)),
            ),
            (_("Persons of more ids than the limit"), int_cell(large_persons)),
            (
                _("Ids that joined an older person since the night before"),
                int_cell(changes.get("merged", 0)),
            ),
            (
                _("Ids split from their person since the night before"),
                int_cell(changes.get("split", 0)),
            ),
            (
                _("Ids whose person is named by another id since the night before"),
                int_cell(changes.get("renamed", 0)),
            ),
        ],
        (False, True),
    )
    tables = [figures]
    if blocked:
        tables.append(
            Table(
                "identity_blocked_ids",
                _("Ids kept out of every link (marts.identity_blocked_ids), most partners first"),
                (_("Id"), _("Link type"), _("Ids it links to"), _("Limit")),
                [
                    (
                        text_cell(identifier),
                        text_cell(link_type),
                        int_cell(partners),
                        int_cell(limit),
                    )
                    for identifier, link_type, partners, limit in blocked
                ],
                (False, False, True, True),
            )
        )
    notes = (
        ()
        if statuses
        else (_("No identity links hold tonight: every customer id is its own person."),)
    )
    return Section(
        "identity",
        _("Identity"),
        (
            _(
                "One person can be known by a shop buyer id, a unionid, a WeCom id and a phone. "
                "The identity links join them into persons (marts.person_ids), strongest link "
                "type first. An id linked to more ids than its link type's limit (a shared "
                "phone, a test account) joins nobody, and a weaker link never joins two persons "
                "that stronger links made (marts.identity_link_status)."
            ),
        ),
        [],
        tables,
        notes,
    )


def _accounting_section(connection: duckdb.DuckDBPyConnection) -> Section:
    rows = _rows(
        connection,
        """
        select
            source_name, raw_rows, clean_rows, quarantined_rows, duplicate_rows,
            superseded_rows, erased_rows, is_balanced
        from marts.raw_row_accounting order by source_name
        """,
    )
    totals = [sum(int(row[index]) for row in rows) for index in range(1, 7)]
    unbalanced = [row[0] for row in rows if not row[7]]
    table = Table(
        "raw_row_accounting",
        _("Raw rows = clean + quarantined + exact duplicates + superseded + erased"),
        (
            _("Source"),
            _("Raw rows"),
            _("Clean"),
            _("Quarantined"),
            _("Duplicates"),
            _("Superseded"),
            _("Erased"),
            _("Balanced"),
        ),
        [
            (
                text_cell(source),
                *(int_cell(value) for value in counts),
                _("yes") if balanced else _("NO"),
            )
            for source, *counts, balanced in rows
        ],
        (False, True, True, True, True, True, True, False),
        footer=(
            _("Total"),
            *(int_cell(value) for value in totals),
            _("NO") if unbalanced else _("yes"),
        ),
    )
    notes = (
        (_("Not balanced: {sources}.").format(sources=", ".join(unbalanced)),) if unbalanced else ()
    )
    return Section(
        "accounting",
        _("Raw row accounting"),
        (
            _(
                "Every row of the night's raw files is clean, quarantined with a reason "
                "(marts.quarantine_<source>), an exact duplicate, a version superseded by a "
                "later one of its key, or a row of a customer erased on request "
                "(marts.raw_row_accounting)."
            ),
        ),
        [],
        [table],
        notes,
    )


# --- names in the page's language ------------------------------------------------------------


def _display_names(
    connection: duckdb.DuckDBPyConnection, dbt_manifest: Mapping[str, Any] | None
) -> DisplayNames:
    """The segments' and tags' names in the page's language: in Chinese their display_name
    (marts.segment_catalog, marts.tag_catalog), in English their display_name_en (the dbt
    manifest; the catalogs keep no English name). An action's export goes by the action's
    display name (seed next_best_actions, through the message catalog). A segment is
    described by its YAML in the page's language (the dbt manifest)."""
    if dbt_manifest is None:
        dbt_manifest = _load_dbt_manifest(dbt_project.manifest_path)
    if is_chinese():
        names = DisplayNames(_segment_display_names(connection), _tag_display_names(connection), {})
    else:
        names = declared_display_names(dbt_manifest)
    actions = _next_best_action_names(connection)
    return DisplayNames(
        {**actions, **names.segments},
        names.tags,
        {
            **segment_descriptions(dbt_manifest),
            **{export: action_export_description(name) for export, name in actions.items()},
        },
        tag_descriptions(dbt_manifest, current_language()),
    )


def segment_descriptions(dbt_manifest: Mapping[str, Any]) -> dict[str, str]:
    """Each segment's description in the page's language (orchestration.segments)."""
    return {
        node["name"]: text
        for node in dbt_manifest["nodes"].values()
        if segment_declaration(node) and (text := segment_description(node, current_language()))
    }


def declared_display_names(dbt_manifest: Mapping[str, Any]) -> DisplayNames:
    """Each segment's and tag's display name in the page's language, where its YAML declares
    one: meta.segment / meta.tag display_name in Chinese, display_name_en in English."""
    key = "display_name" if is_chinese() else "display_name_en"
    segments: dict[str, str] = {}
    tags: dict[str, str] = {}
    for node in dbt_manifest["nodes"].values():
        declaration = segment_declaration(node)
        if declaration and declaration.get(key):
            segments[node["name"]] = str(declaration[key])
        if node.get("resource_type") != "model":
            continue
        for column_name, column in (node.get("columns") or {}).items():
            tag = tag_declaration(column)
            if tag and tag.get(key):
                tags[column_name] = str(tag[key])
    return DisplayNames(segments, tags, {})


def _load_dbt_manifest(path: Path) -> dict[str, Any]:
    try:
        return load_manifest(path)
    except FileNotFoundError as error:
        raise ReportError(
            f"the dbt manifest {path} is missing: run `scrm prepare` (the report reads the "
            "segments' descriptions and the English display names from it)"
        ) from error


def _segment_display_names(connection: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each segment's display name (marts.segment_catalog), where the warehouse has it."""
    if "marts.segment_catalog" not in _existing_tables(connection):
        return {}
    rows = _rows(connection, "select segment_name, display_name from marts.segment_catalog")
    return {name: display_name for name, display_name in rows if display_name}


def _tag_display_names(connection: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each tag's display name (marts.tag_catalog), where the warehouse has it."""
    if "marts.tag_catalog" not in _existing_tables(connection):
        return {}
    # The newest night's name wins.
    rows = _rows(
        connection, "select tag_name, display_name from marts.tag_catalog order by as_of_date"
    )
    return {name: display_name for name, display_name in rows if display_name}


def _next_best_action_names(connection: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each action's export (nba_<action>) by the action's display name, in the page's
    language, where the warehouse holds seed next_best_actions."""
    ((present,),) = _rows(
        connection,
        "select count(*) from information_schema.tables "
        "where table_schema = 'reference' and table_name = 'next_best_actions'",
    )
    if not present:
        return {}
    rows = _rows(connection, "select action, display_name from reference.next_best_actions")
    return {
        next_best_action_export_name(action): action_display_name(action, display_name)
        for action, display_name in rows
    }


def _window_end(night: _LiftNight) -> date:
    """The last day whose orders count for the entry night; complete once the night reaches it."""
    return night.entry_date + timedelta(days=night.window_days)


# --- the page --------------------------------------------------------------------------------


def _page_text(as_of: date) -> dict[str, str]:
    """The page's own words, in the current language (the template only places them)."""
    night = as_of.isoformat()
    return {
        "title": _("Nightly report {night}").format(night=night),
        "heading": _("Nightly report"),
        "lead": _(
            "The night of {night} (Asia/Shanghai): events up to the end of that day. Every "
            "number below was read from the warehouse after the night was built and its "
            "exports written."
        ).format(night=night),
        "held_heading": _("Held by the churn guard: tonight's exports were not published"),
        "held_where": _(
            "The night's exports wait in {where}; no marketing tool gets them until they are "
            "released. Compared with the previous published night, the guard found:"
        ),
        "no_reason": _("no reason recorded"),
        "segment_summaries": _(
            "Segments tonight: members, who entered and left since the previous night, and the "
            "holdout (the control group, never exported)."
        ),
        "held_release": _(
            "Review the segments below. If the night is right, publish it with {command}; if "
            "the data is wrong, fix it and run the night again."
        ),
        "released": _(
            "The churn guard held this night ({reasons}); it was released after review at "
            "{released_at}."
        ),
        "footer": _(
            "scrm-warehouse nightly report for {night}. What each section shows: docs/report.md."
        ).format(night=night),
    }


# The page and its parts (templates/): the template places the words _page_text and the
# sections give it, and writes none of its own.
_ENVIRONMENT: Final = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_TEMPLATE: Final = _ENVIRONMENT.get_template("report.html.j2")
