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

Nothing here imports Dagster: the asset that calls ``write_nightly_report`` lives elsewhere.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import shlex
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import duckdb
import jinja2
import matplotlib
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from orchestration import duckdb_settings
from orchestration.durable import fsync
from orchestration.guard_findings import SEGMENT, SOURCE, TAG, GuardFinding
from orchestration.language import (
    CHINESE,
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
from orchestration.reasons import stage_text
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
    from matplotlib.typing import RcKeyType

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

# Stages in the order a customer usually meets them (docs/customer_value.md). A stage the
# warehouse holds that is not listed is appended, so a new rule still shows.
LIFECYCLE_STAGES: Final = (
    "prospect",
    "new",
    "active",
    "reactivated",
    "silent",
    "churned",
    "lost_friend",
)
# lifecycle_flow's from_stage for a customer's first stage.
FIRST_STAGE: Final = "none"
# "The last N days" is the as-of day and the N - 1 days before it, as everywhere else.
FLOW_WINDOW_DAYS: Final = 30
LIFECYCLE_MONTHS: Final = 12
FRIEND_MONTHS: Final = 24
# Channels drawn as their own line; the rest are summed into one "other" line.
TOP_CHANNELS: Final = 5
OTHER_CHANNELS: Final = "other"
RFM_SCORES: Final = (1, 2, 3, 4, 5)
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
# The SVG id (after the chart's prefix) of what marks the month still being counted.
PARTIAL_MONTH_ID: Final = "partial-month"
MISSING: Final = "—"
# Why a segment's member was not exported (segment_membership.suppression, the manifest's
# membership counts; docs/segments.md), with their column headers.
SUPPRESSIONS: Final = (
    ("holdout", N_("Holdout")),
    ("priority", N_("Priority")),
    ("cooldown", N_("Cool-down")),
)
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
)
_REQUIRED_TABLES: Final = (
    *_ONE_NIGHT_TABLES,
    "marts.segment_membership",
    "marts.raw_row_accounting",
)
# Written by the predictive asset; a warehouse built before it ran has neither.
_PREDICTIVE_TABLES: Final = ("predictive.btyd_model_fits", "predictive.model_backtest")

# Everything that could vary between two renders of the same data is pinned. The hash salt
# is set per chart, so clip-path ids of two charts never collide on one page.
_CHART_STYLE: Final[dict[RcKeyType, Any]] = {
    "svg.fonttype": "none",
    "text.parse_math": False,  # a "$" in a channel code is text, not TeX
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#888888",
    "legend.frameon": False,
    "legend.fontsize": 8,
}
_PALETTE: Final = (
    "#4C78A8",
    "#F58518",
    "#54A24B",
    "#E45756",
    "#72B7B2",
    "#B279A2",
    "#EECA3B",
    "#9D755D",
    "#FF9DA6",
    "#BAB0AC",
)
_OTHER_COLOUR: Final = "#9E9E9E"
_ENTERED_COLOUR: Final = "#54A24B"
_LEFT_COLOUR: Final = "#E45756"
_SUPPRESSION_COLOURS: Final = {"cooldown": "#B279A2", "priority": "#BAB0AC", "holdout": "#F58518"}
_HEAT_MAP: Final = "Blues"

_SVG_ID = re.compile(r'(?<=\s)id="')
_SVG_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_SVG_STYLE = re.compile(r'\s*<style type="text/css">.*?</style>', re.DOTALL)
_BUCKET_NUMBER = re.compile(r"\d+")


class ReportError(Exception):
    """The report could not be rendered; the message says which table or file was wrong."""


@dataclass(frozen=True)
class Chart:
    chart_id: str
    caption: str
    svg: Markup


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
            if _is_chinese()
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
            name=_name_label(finding.name, segments),
            before=_int(finding.before),
            tonight=_int(finding.tonight),
            change=change,
            allowed=allowed,
        )
    if finding.kind == TAG:
        return _(
            "tag {name}: coverage {before} → {tonight} ({change}; the guard allows -{allowed})"
        ).format(
            name=_name_label(finding.name, tags),
            before=_percent(finding.before),
            tonight=_percent(finding.tonight),
            change=change,
            allowed=allowed,
        )
    if finding.kind == SOURCE:
        return _(
            "source {name}: {before} → {tonight} clean rows ({change}; the guard allows -{allowed})"
        ).format(
            name=finding.name,
            before=_int(finding.before),
            tonight=_int(finding.tonight),
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
        (_("Customers known"), _int(customers)),
        (_("Customers with a purchase (RFM scored)"), _int(buyers)),
        (_("Friendships now (customer-staff pairs)"), _int(friendships)),
        (_("Segments and exports"), _int(segment_count)),
        (_("Tags in the catalog"), _int(tags)),
        (_("Tag values outside the known values (customers)"), _int(unseen_values)),
        (_("Raw rows"), _int(raw_rows)),
        (_("Sources not balanced"), _int(unbalanced)),
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
        segment = _name_label(row.name, names.segments)
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
                members=_int(row.members),
                night=_date(previous),
                entered=_int(row.entered),
                left=_int(row.left),
                holdout=_int(holdout),
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
    charts = [_segments_chart(rows)] if rows else []
    notes = () if rows else (_("No segments this night."),)
    first_header, second_header = _name_headers(_("Segment"))
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
                *_names(row.name, row.display_name),
                _int(row.members),
                _int(row.exported),
                *(
                    _int(None if row.held_back is None else row.held_back.get(reason, 0))
                    for reason, _header in SUPPRESSIONS
                ),
                _int(row.entered),
                _int(row.left),
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
        display_name=_text(entry.get("display_name")),
        members=None if membership is None else int(membership["members"]),
        held_back=None
        if membership is None
        else {reason: int(membership.get(reason, 0)) for reason, _header in SUPPRESSIONS},
        exported=int(entry["rows"]),
        entered=int(entry["entered"]),
        left=int(entry["left"]),
        owner=_text(entry.get("owner")),
        wecom_tag=_text(entry.get("wecom_tag")),
        description=_text(entry.get("description")),
    )


def _in_page_language(row: _SegmentRow, names: DisplayNames) -> _SegmentRow:
    """A manifest's segment named, and an action's export described, in the page's language:
    the manifest keeps those of the language the night's exports were written in."""
    fallback = row.display_name if _is_chinese() else ""
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
                _name_label(row.segment, names),
                _int(row.entry_nights),
                _of(row.treated_converted, row.treated_customers),
                _percent(row.treated_rate),
                _of(row.holdout_converted, row.holdout_customers),
                _percent(row.holdout_rate),
                _points(row.lift),
                _interval(row.interval, _points),
                _yes_no(row.too_few_to_tell),
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
                _name_label(night.segment, names),
                _("complete")
                if night.is_window_complete
                else _("open until {day}").format(day=_window_end(night).isoformat()),
                _of(night.treated_converted, night.treated_customers),
                _percent(night.treated_rate),
                _of(night.holdout_converted, night.holdout_customers),
                _percent(night.holdout_rate),
                _points(night.lift),
                _interval((night.lift_low, night.lift_high), _points),
                _signed(night.spend_lift_cny),
                _interval((night.spend_lift_low_cny, night.spend_lift_high_cny), _signed),
                _yes_no(night.too_few_to_tell),
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
                            segment=_name_label(segment, names), day=ends[segment]
                        )
                        for segment in waiting
                    )
                )
            )
    drawable = [row for row in pooled if row.interval is not None]
    charts = [_lift_chart(drawable, names)] if drawable else []
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
            (_("Current friendships"), _int(mark_tag.get("friendships"))),
            (
                _("mark_tag calls (one per friendship whose tags change)"),
                _int(mark_tag["calls"]),
            ),
            (_("Friendships touched"), _int(mark_tag.get("friendships_touched"))),
            (_("Tags touched"), _int(mark_tag.get("tags_touched"))),
            (_("Tag adds"), _int(mark_tag.get("adds"))),
            (_("Tag removes"), _int(mark_tag.get("removes"))),
            (_("Minutes needed at the limits"), _int(mark_tag.get("minutes_needed"))),
            (_("Limit: calls per minute"), _int(limits.get("calls_per_minute"))),
            (_("Limit: calls per hour"), _int(limits.get("calls_per_hour"))),
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
                _text(change.get("tag")),
                _(", ").join(segments_by_tag.get(str(change.get("tag")), [])) or "—",
                _int(change.get("add")),
                _int(change.get("remove")),
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
            *(_int(cells.get((r_score, f_score), 0)) for f_score in RFM_SCORES),
            _int(sum(cells.get((r_score, f_score), 0) for f_score in RFM_SCORES)),
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
            *(_int(sum(cells.get((r, f), 0) for r in RFM_SCORES)) for f in RFM_SCORES),
            _int(total),
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
                _value_label(segment, RFM_SEGMENTS),
                _int(customers),
                _share(customers, total),
                _number(recency, 1),
                _number(frequency, 2),
                _number(monetary, 2),
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
            (_value_label(rfm_class, RFM_CLASSES), _int(customers), _share(customers, total))
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
    charts = [_rfm_chart(cells, window_days)] if total else []
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
    stages = _ordered_stages(
        [row[0] for row in stage_rows]
        + [stage for _moved_on, a, b, _customers in flows for stage in (a, b)]
    )
    counts = {stage: int(customers) for stage, customers, _median in stage_rows}
    medians = {stage: median for stage, _customers, median in stage_rows}
    total = sum(counts.values())
    entered_tonight = _sum_by(flows, lambda row: row[2], lambda row: row[0] == as_of)
    left_tonight = _sum_by(flows, lambda row: row[1], lambda row: row[0] == as_of)
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
                _stage_label(stage),
                _int(counts.get(stage, 0)),
                _share(counts.get(stage, 0), total),
                _int(entered_tonight.get(stage, 0)),
                _int(left_tonight.get(stage, 0)),
                _number(medians.get(stage), 0),
            )
            for stage in stages
        ],
        (False, True, True, True, True, True),
        footer=(_("Total"), _int(total), _share(total, total), "", "", ""),
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
        (_("From \\ to"), *(_stage_label(stage) for stage in stages), _("Total")),
        [
            (
                _stage_label(from_stage),
                *(_int(matrix.get((from_stage, to_stage), 0)) for to_stage in stages),
                _int(sum(matrix.get((from_stage, to_stage), 0) for to_stage in stages)),
            )
            for from_stage in from_stages
        ],
        (False, *(True for _stage in stages), True),
    )

    months = _months(_month_start(as_of, LIFECYCLE_MONTHS - 1), as_of)
    monthly: dict[tuple[date, str], int] = {}
    for moved_on, _from_stage, to_stage, customers in flows:
        month = moved_on.replace(day=1)
        if month >= months[0]:
            monthly[(month, to_stage)] = monthly.get((month, to_stage), 0) + int(customers)
    monthly_table = Table(
        "lifecycle_monthly",
        _("Customers entering each stage, per month"),
        (_("Month"), *(_stage_label(stage) for stage in stages)),
        [
            (
                _month_cell(month, as_of),
                *(_int(monthly.get((month, stage), 0)) for stage in stages),
            )
            for month in months
        ],
        (False, *(True for _stage in stages)),
        collapsed=True,
    )

    charts = []
    notes = []
    if total:
        charts.append(_lifecycle_stages_chart(stages, counts))
    else:
        notes.append(_("No known customers this night."))
    if matrix:
        charts.append(_lifecycle_flow_chart(from_stages, stages, matrix, window_start, as_of))
    else:
        notes.append(_("No stage changes in the last {days} days.").format(days=FLOW_WINDOW_DAYS))
    if monthly:
        charts.append(_lifecycle_monthly_chart(months, stages, monthly, as_of))
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
            ).format(first=_stage_label(FIRST_STAGE)),
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
    first_month = _month_start(as_of, FRIEND_MONTHS - 1)
    if first_event is not None and first_event.replace(day=1) > first_month:
        first_month = min(first_event.replace(day=1), as_of.replace(day=1))
    months = _months(first_month, as_of)
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
    added_by_channel = _sum_by(monthly, lambda row: row[1], value=lambda row: row[2])
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
            (_text(code), _text(name), *(_int(value) for value in values))
            for code, name, *values in channel_rows
        ],
        (False, False, True, True, True, True, True, True),
        footer=(_("Total"), "", *(_int(value) for value in totals)),
    )
    monthly_table = Table(
        "friends_monthly",
        _("Friend adds and deletions per month and channel"),
        (_("Month"), _("Channel"), _("Added"), _("Deleted by customer"), _("Deleted by staff")),
        [
            (
                _month_cell(month, as_of),
                _channel_label(group),
                _int(added.get((month, group), 0)),
                _int(by_customer.get((month, group), 0)),
                _int(by_staff.get((month, group), 0)),
            )
            for month in months
            for group in groups
            if (month, group) in added
        ],
        (False, False, True, True, True),
        collapsed=True,
    )
    charts = [_friends_chart(months, groups, added, deleted, as_of)] if monthly else []
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
    night = _date(as_of)
    # Summed over staff members: pairs, so every count but the distinct customers and the
    # median adds up.
    additive = (1, 2, 3, 4, 5, 6, 8, 10, 11)
    totals = {index: sum(int(row[index]) for row in rows) for index in additive}
    table = Table(
        "staff",
        _(
            "Staff members: the last {days} days ({start} to {night}) and the night of {night}"
        ).format(days=window_days, start=_date(window_start), night=night),
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
                _text(staff_id),
                *(_int(value) for value in counts[:6]),
                _int(chatted),
                _int(measured),
                _number(None if median is None else float(median) / 60, 1),
                _int(not_contacted),
                _int(alerts),
            )
            for staff_id, *counts, chatted, measured, median, not_contacted, alerts in rows
        ],
        (False, *(True for _column in range(11))),
        footer=(
            _("Total"),
            *(_int(totals[index]) if index in totals else "" for index in range(1, 12)),
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
            ).format(days=window_days, start=_date(window_start), night=night),
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
    first_header, second_header = _name_headers(_("Tag"))
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
                _text(category),
                *_names(_text(name), names.tags.get(name, "")),
                _text(value_type),
                _percent(coverage),
                _int(distinct),
                _text(owner),
                names.tag_descriptions.get(name, ""),
            )
            for category, name, _display_name, value_type, coverage, distinct, owner in tags
        ],
        (False, False, False, False, True, True, False, False),
    )
    charts = [_tag_coverage_chart(tags, names.tags)] if tags else []
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
    first_header, second_header = _name_headers(_("Tag"))
    return Table(
        "tag_unseen_values",
        _(
            "Warning: tag values outside the declared known values, kept as they came. Add "
            "them to the tag's known_values, or map them in its SQL (docs/tags.md)."
        ),
        (first_header, second_header, _("Value"), _("Customers")),
        [
            (*_names(_text(name), names.tags.get(name, "")), _text(value), _int(customers))
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
            detail=_text(detail) or _("no reason given"),
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
    return _text(detail) if words is None else words


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
            key=lambda row: _bucket_order(row[0]),
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
                _text(model),
                _text(status),
                _int(customers),
                _number(log_likelihood, 2),
                _int(iterations),
                _parameters(parameters),
                _date(first),
                _date(last),
                _text(detail),
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
                _text(row[0]),
                _int(row[1]),
                *(_number(row[index], 3) for index in (2, 3)),
                *(_number(row[index], 1) for index in (4, 5)),
                _number(row[6], 3),
            )
            for row in backtest
        ],
        (False, True, True, True, True, True, True),
    )
    card = Table("model_card", _("Model card"), (), _model_card_rows(fits, overall), (False, False))
    buckets = [row for row in backtest if row[0] != "all"]
    charts = [_backtest_chart(buckets)] if buckets else []
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
        ).format(customers=_int(customers), first=_date(first), last=_date(last))
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
            calibration_end=_date(calibration_end),
            customers=_int(customers),
            holdout_end=_date(holdout_end),
            predicted=_number(total_predicted, 1),
            actual=_number(total_actual, 1),
            relative=f"{relative:.1%}",
            error=_number(error, 3),
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
        _("Ids and persons on the night of {night}").format(night=_date(as_of)),
        (_("Measure"), _("Value")),
        [
            (_("Customer ids (the ids the sources know customers by)"), _int(customer_ids)),
            (_("Persons they belong to"), _int(persons)),
            (_("Persons with more than one id"), _int(joined_persons)),
            (_("Ids only links carry (phones, unionids)"), _int(link_only_ids)),
            (_("Links that hold: joined two ids"), _int(statuses.get("joined", 0))),
            (
                _("Links kept out: an id over its partner limit"),
                _int(statuses.get("id_over_partner_limit", 0)),
            ),
            (
                _("Links kept out: would join two persons of stronger links"),
                _int(statuses.get("joins_stronger_persons", 0)),
            ),
            (_("Persons of more ids than the limit"), _int(large_persons)),
            (
                _("Ids that joined an older person since the night before"),
                _int(changes.get("merged", 0)),
            ),
            (
                _("Ids split from their person since the night before"),
                _int(changes.get("split", 0)),
            ),
            (
                _("Ids whose person is named by another id since the night before"),
                _int(changes.get("renamed", 0)),
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
                    (_text(identifier), _text(link_type), _int(partners), _int(limit))
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
                _text(source),
                *(_int(value) for value in counts),
                _("yes") if balanced else _("NO"),
            )
            for source, *counts, balanced in rows
        ],
        (False, True, True, True, True, True, True, False),
        footer=(
            _("Total"),
            *(_int(value) for value in totals),
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


# --- charts ----------------------------------------------------------------------------------


def _render_chart(
    chart_id: str, caption: str, size: tuple[float, float], draw: Callable[[Figure], None]
) -> Chart:
    """Draw a figure and keep it as inline SVG whose ids cannot collide with another chart's."""
    with (
        matplotlib.rc_context({**_CHART_STYLE, "svg.hashsalt": f"scrm-report-{chart_id}"}),
        warnings.catch_warnings(),
    ):
        # Text stays text in the SVG and the browser draws it with the page's (CJK) fonts;
        # matplotlib only measures it, with a font that may lack the glyphs.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure = Figure(figsize=size, layout="constrained")
        draw(figure)
        buffer = StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = _SVG_METADATA.sub("", svg)
    svg = _SVG_STYLE.sub("", svg)  # the page's CSS holds the same rule once
    prefix = f"chart-{chart_id}-"
    svg = _SVG_ID.sub(f'id="{prefix}', svg)
    svg = svg.replace("url(#", f"url(#{prefix}").replace('xlink:href="#', f'xlink:href="#{prefix}')
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{html.escape(caption)}" ', 1)
    return Chart(chart_id, caption, Markup(svg.strip()))


def _segments_chart(rows: Sequence[_SegmentRow]) -> Chart:
    def draw(figure: Figure) -> None:
        sizes, changes = figure.subplots(1, 2, sharey=True, width_ratios=(3, 2))
        positions = list(range(len(rows)))
        lefts = [0] * len(rows)
        parts = [(_("exported"), _PALETTE[0], [row.exported for row in rows])]
        for reason, header in SUPPRESSIONS:
            values = [(row.held_back or {}).get(reason, 0) for row in rows]
            if any(values):
                parts.append((_(header).lower(), _SUPPRESSION_COLOURS[reason], values))
        for label, colour, values in parts:
            sizes.barh(positions, values, left=lefts, color=colour, label=label)
            lefts = [left + value for left, value in zip(lefts, values, strict=True)]
        for position, row in zip(positions, rows, strict=True):
            sizes.annotate(
                _int(row.size),
                (row.size, position),
                xytext=(2, 0),
                textcoords="offset points",
                va="center",
            )
        sizes.set_yticks(
            positions, labels=[_name_label(row.name, {row.name: row.display_name}) for row in rows]
        )
        sizes.invert_yaxis()
        sizes.set_title(_("Members tonight: exported or held back"))
        sizes.margins(x=0.15)
        figure.legend(loc="outside upper center", ncols=len(parts))
        changes.barh(positions, [row.entered for row in rows], color=_ENTERED_COLOUR)
        changes.barh(positions, [-row.left for row in rows], color=_LEFT_COLOUR)
        changes.axvline(0, color="#444444", linewidth=0.8)
        changes.xaxis.set_major_formatter(
            FuncFormatter(lambda value, _position: f"{abs(value):,.0f}")
        )
        for axes in (sizes, changes):
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        changes.set_title(_("Entered (green) / left (red)"))
        _symmetric_xlim(changes, max([row.entered for row in rows] + [row.left for row in rows]))

    return _render_chart(
        "segments",
        _(
            "Segment members tonight, exported or held back (holdout, priority, cool-down), and "
            "customers who entered or left since the previous night"
        ),
        (8.0, 1.2 + 0.27 * len(rows)),
        draw,
    )


def _lift_chart(pooled: Sequence[_PooledLift], names: Mapping[str, str]) -> Chart:
    def draw(figure: Figure) -> None:
        axes = figure.subplots()
        positions = list(range(len(pooled)))
        lifts = [(row.lift or 0.0) * 100 for row in pooled]
        bounds = [row.interval or (0.0, 0.0) for row in pooled]
        axes.errorbar(
            lifts,
            positions,
            xerr=[
                [lift - low * 100 for lift, (low, _high) in zip(lifts, bounds, strict=True)],
                [high * 100 - lift for lift, (_low, high) in zip(lifts, bounds, strict=True)],
            ],
            fmt="o",
            color=_PALETTE[0],
            ecolor=_PALETTE[0],
            elinewidth=2,
            capsize=4,
        )
        axes.axvline(0, color="#444444", linewidth=0.8)
        axes.set_yticks(positions, labels=[_name_label(row.segment, names) for row in pooled])
        axes.set_ylim(len(pooled) - 0.5, -0.5)
        axes.set_xlabel(_("treated minus holdout conversion rate (percentage points)"))
        axes.set_title(_("Conversion lift with its 95% interval"))
        axes.grid(axis="x", color="#E5E5E5", linewidth=0.6)

    return _render_chart(
        "campaign_lift",
        _(
            "Conversion lift per segment, entry nights with a complete window pooled, with 95% "
            "Newcombe intervals"
        ),
        (6.4, 1.4 + 0.4 * len(pooled)),
        draw,
    )


def _rfm_chart(cells: Mapping[tuple[int, int], int], window_days: int) -> Chart:
    def draw(figure: Figure) -> None:
        axes = figure.subplots()
        matrix = [[cells.get((r, f), 0) for f in RFM_SCORES] for r in RFM_SCORES]
        # R1 is the bottom row, so the best customers (R5, F5) are top right.
        _heatmap(axes, matrix, [f"F{f}" for f in RFM_SCORES], [f"R{r}" for r in RFM_SCORES])
        axes.set_xlabel(_("frequency score (orders in {days} days)").format(days=window_days))
        axes.set_ylabel(_("recency score (days since the last purchase)"))
        axes.set_title(_("Customers per R x F cell"))

    return _render_chart(
        "rfm_grid", _("RFM grid: customers by recency and frequency score"), (4.6, 4.0), draw
    )


def _lifecycle_stages_chart(stages: Sequence[str], counts: Mapping[str, int]) -> Chart:
    def draw(figure: Figure) -> None:
        axes = figure.subplots()
        values = [counts.get(stage, 0) for stage in stages]
        bars = axes.bar(
            range(len(stages)), values, color=[_stage_colour(stage) for stage in stages]
        )
        axes.bar_label(bars, labels=[_int(value) for value in values], padding=2)
        axes.set_xticks(range(len(stages)), labels=[_stage_label(stage) for stage in stages])
        axes.tick_params(axis="x", labelrotation=30)
        axes.set_ylabel(_("customers"))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(_("Customers per lifecycle stage"))
        axes.margins(y=0.15)

    return _render_chart(
        "lifecycle_stages", _("Customers per lifecycle stage tonight"), (5.6, 3.4), draw
    )


def _lifecycle_flow_chart(
    from_stages: Sequence[str],
    to_stages: Sequence[str],
    matrix: Mapping[tuple[str, str], int],
    window_start: date,
    as_of: date,
) -> Chart:
    def draw(figure: Figure) -> None:
        axes = figure.subplots()
        values = [[matrix.get((a, b), 0) for b in to_stages] for a in from_stages]
        _heatmap(
            axes,
            values,
            [_stage_label(stage) for stage in to_stages],
            [_stage_label(stage) for stage in from_stages],
        )
        axes.invert_yaxis()
        axes.tick_params(axis="x", labelrotation=30)
        axes.set_xlabel(_("to stage"))
        axes.set_ylabel(_("from stage"))
        axes.set_title(
            _("Moves {first} to {last}").format(
                first=window_start.isoformat(), last=as_of.isoformat()
            )
        )

    return _render_chart(
        "lifecycle_flow",
        _("Lifecycle moves in the last {days} days, from stage to stage").format(
            days=FLOW_WINDOW_DAYS
        ),
        (6.0, 4.4),
        draw,
    )


def _lifecycle_monthly_chart(
    months: Sequence[date],
    stages: Sequence[str],
    monthly: Mapping[tuple[date, str], int],
    as_of: date,
) -> Chart:
    partial = _partial_month_index(months, as_of)

    def draw(figure: Figure) -> None:
        axes = figure.subplots()
        positions = list(range(len(months)))
        bottoms = [0] * len(months)
        for stage in stages:
            values = [monthly.get((month, stage), 0) for month in months]
            if not any(values):
                continue
            bars = axes.bar(
                positions,
                values,
                bottom=bottoms,
                color=_stage_colour(stage),
                label=_stage_label(stage),
            )
            if partial is not None:
                # Faded and hatched: a month still being counted, not a small month.
                bar = bars.patches[partial]
                bar.set_facecolor(to_rgba(_stage_colour(stage), 0.35))
                bar.set_edgecolor(_stage_colour(stage))
                bar.set_hatch("////")
                bar.set_gid(f"{PARTIAL_MONTH_ID}-{stage}")
            bottoms = [bottom + value for bottom, value in zip(bottoms, values, strict=True)]
        _month_ticks(axes, months)
        if partial is not None:
            _label_partial_month(axes, partial, as_of)
        axes.set_ylabel(_("customers entering"))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(_("Customers entering each stage, per month"))
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))

    return _render_chart(
        "lifecycle_monthly",
        _("Customers entering each lifecycle stage, per month (last {months} months)").format(
            months=LIFECYCLE_MONTHS
        ),
        (8.0, 3.4),
        draw,
    )


def _friends_chart(
    months: Sequence[date],
    groups: Sequence[str],
    added: Mapping[tuple[date, str], int],
    deleted: Mapping[tuple[date, str], int],
    as_of: date,
) -> Chart:
    partial = _partial_month_index(months, as_of)
    # Complete months are a solid line; the month still being counted is a dashed last
    # segment to a hollow point, so a low count there does not read as a fall.
    whole = len(months) if partial is None else partial

    def draw(figure: Figure) -> None:
        adds, deletions = figure.subplots(2, 1, sharex=True)
        positions = list(range(len(months)))
        for index, group in enumerate(groups):
            colour = _OTHER_COLOUR if group == OTHER_CHANNELS else _PALETTE[index % len(_PALETTE)]
            style = {"color": colour, "marker": "o", "markersize": 3, "linewidth": 1.5}
            for axes, counts, label, kind in (
                (adds, added, _channel_label(group), "added"),
                (deletions, deleted, None, "deleted"),
            ):
                values = [counts.get((month, group), 0) for month in months]
                axes.plot(positions[:whole], values[:whole], label=label, **style)
                if partial is not None:
                    start = max(partial - 1, 0)
                    axes.plot(
                        positions[start : partial + 1],
                        values[start : partial + 1],
                        linestyle="--",
                        markerfacecolor="white",
                        gid=f"{PARTIAL_MONTH_ID}-{kind}-{index}",
                        **style,
                    )
        adds.set_title(_("Friends added per month"))
        adds.set_ylabel(_("added"))
        deletions.set_title(_("Friends deleted per month (by the customer or by staff)"))
        deletions.set_ylabel(_("deleted"))
        for axes in (adds, deletions):
            axes.set_ylim(bottom=0)
            axes.margins(y=0.1)
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
            axes.grid(axis="y", color="#E5E5E5", linewidth=0.6)
        _month_ticks(deletions, months)
        if partial is not None:
            _label_partial_month(adds, partial, as_of)
        adds.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title=_("channel"))

    return _render_chart(
        "friends_by_channel",
        _(
            "Friend adds and deletions per month by acquisition channel (top {top}, the rest "
            "as '{other}'), over at most the last {months} months"
        ).format(top=TOP_CHANNELS, other=_channel_label(OTHER_CHANNELS), months=FRIEND_MONTHS),
        (8.0, 5.0),
        draw,
    )


def _tag_coverage_chart(tags: Sequence[tuple[Any, ...]], names: Mapping[str, str]) -> Chart:
    categories = list(dict.fromkeys(row[0] for row in tags))
    colours = {category: _PALETTE[i % len(_PALETTE)] for i, category in enumerate(categories)}

    def draw(figure: Figure) -> None:
        axes = figure.subplots()
        positions = list(range(len(tags)))
        coverage = [float(row[4] or 0.0) for row in tags]
        bars = axes.barh(positions, coverage, color=[colours[row[0]] for row in tags])
        axes.bar_label(bars, labels=[_percent(value) for value in coverage], padding=2)
        axes.set_yticks(positions, labels=[_name_label(row[1], names) for row in tags])
        axes.set_ylim(len(tags) - 0.4, -0.6)  # first tag on top, without the default margin
        axes.set_xlim(0, 1.12)
        axes.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
        axes.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        handles = [Rectangle((0, 0), 1, 1, color=colours[c]) for c in categories]
        figure.legend(
            handles,
            [_label(c) for c in categories],
            loc="outside upper center",
            ncols=min(len(categories), 5),
            title=_("category"),
        )

    return _render_chart(
        "tag_coverage",
        _("Tag coverage: share of known customers with a value, by tag (colour: category)"),
        (7.0, 1.4 + 0.2 * len(tags)),
        draw,
    )


def _backtest_chart(buckets: Sequence[tuple[Any, ...]]) -> Chart:
    def draw(figure: Figure) -> None:
        axes = figure.subplots()
        positions = list(range(len(buckets)))
        width = 0.4
        axes.bar(
            [p - width / 2 for p in positions],
            [float(row[2]) for row in buckets],
            width=width,
            color=_PALETTE[0],
            label=_("actual"),
        )
        axes.bar(
            [p + width / 2 for p in positions],
            [float(row[3]) for row in buckets],
            width=width,
            color=_PALETTE[1],
            label=_("predicted"),
        )
        axes.set_xticks(positions, labels=[_label(row[0]) for row in buckets])
        axes.set_xlabel(_("repeat purchase days in the calibration period"))
        axes.set_ylabel(_("mean purchase days in the holdout"))
        axes.set_title(_("Backtest: actual vs predicted per customer"))
        axes.legend(loc="upper left")

    return _render_chart(
        "model_backtest",
        _(
            "Backtest: mean purchase days in the holdout, actual against predicted, by "
            "calibration frequency"
        ),
        (6.0, 3.4),
        draw,
    )


def _heatmap(
    axes: Axes,
    matrix: Sequence[Sequence[int]],
    column_labels: Sequence[str],
    row_labels: Sequence[str],
) -> None:
    """Cells as rectangles (vector, unlike imshow's embedded PNG) with their counts written in."""
    colour_map = matplotlib.colormaps[_HEAT_MAP]
    highest = max((value for row in matrix for value in row), default=0) or 1
    for y, row in enumerate(matrix):
        for x, value in enumerate(row):
            shade = 0.08 + 0.85 * value / highest if value else 0.0
            axes.add_patch(
                Rectangle(
                    (x - 0.5, y - 0.5),
                    1,
                    1,
                    facecolor=colour_map(shade) if value else "#F7F7F7",
                    edgecolor="white",
                    linewidth=1.5,
                )
            )
            if value:
                axes.text(
                    x,
                    y,
                    f"{value:,}",
                    ha="center",
                    va="center",
                    color="white" if shade > 0.55 else "#222222",
                )
    axes.set_xlim(-0.5, len(column_labels) - 0.5)
    axes.set_ylim(-0.5, len(row_labels) - 0.5)
    axes.set_xticks(range(len(column_labels)), labels=list(column_labels))
    axes.set_yticks(range(len(row_labels)), labels=list(row_labels))
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)


def _month_ticks(axes: Axes, months: Sequence[date]) -> None:
    step = max(1, math.ceil(len(months) / 12))
    ticks = list(range(0, len(months), step))
    axes.set_xticks(ticks, labels=[_month_label(months[i]) for i in ticks])
    axes.tick_params(axis="x", labelrotation=45)


def _label_partial_month(axes: Axes, position: int, as_of: date) -> None:
    """Name the month still being counted above its bar or point, at the axes' top."""
    axes.annotate(
        _partial_month_text(as_of),
        xy=(position + 0.4, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(0, 2),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=7,
        color="#59636e",
        gid=f"{PARTIAL_MONTH_ID}-label",
    )


def _symmetric_xlim(axes: Axes, largest: int) -> None:
    limit = max(largest, 1) * 1.1
    axes.set_xlim(-limit, limit)


# --- small helpers ---------------------------------------------------------------------------


def _ordered_stages(found: Iterable[str | None]) -> list[str]:
    extra = sorted({s for s in found if s and s != FIRST_STAGE and s not in LIFECYCLE_STAGES})
    return [*LIFECYCLE_STAGES, *extra]


def _stage_label(stage: str) -> str:
    if stage == FIRST_STAGE:
        return _("none (first stage)")
    return stage_text(stage)


def _value_label(value: str | None, messages: Mapping[str, str]) -> str:
    """A data value in words in the page's language (``messages``: value → message), the
    value beside it where the words differ; a value without a message as it is."""
    if value is None or value not in messages:
        return _text(value)
    words = _(messages[value])
    return words if words == value else f"{words} ({value})"


def _channel_label(channel: str) -> str:
    return _("other") if channel == OTHER_CHANNELS else _label(channel)


def _is_chinese() -> bool:
    return current_language() == CHINESE


def _name_headers(kind: str) -> tuple[str, str]:
    """Headers of a name's two columns: in Chinese the display name first, the code name
    beside it; in English the code name first."""
    if _is_chinese():
        return kind, _("Code name")
    return kind, _("Display name")


def _names(name: str, display_name: str) -> tuple[str, str]:
    """A segment's or tag's two name cells, in the order of ``_name_headers``; without a
    display name in the page's language, the code name in both."""
    if _is_chinese():
        return display_name or name, name
    return name, display_name or name


def _name_label(name: str, display_names: Mapping[str, str]) -> str:
    """One label for a segment or tag (charts, lists): its display name in the page's
    language, with the code name after it; the code name alone where it has none."""
    display_name = display_names.get(name)
    if display_name and display_name != name:
        return f"{display_name} ({name})"
    return _label(name)


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
    if _is_chinese():
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
    key = "display_name" if _is_chinese() else "display_name_en"
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


def _stage_colour(stage: str) -> str:
    if stage in LIFECYCLE_STAGES:
        return _PALETTE[LIFECYCLE_STAGES.index(stage)]
    return _OTHER_COLOUR


def _sum_by(
    rows: Iterable[tuple[Any, ...]],
    key: Callable[[tuple[Any, ...]], Any],
    where: Callable[[tuple[Any, ...]], bool] = lambda row: True,
    value: Callable[[tuple[Any, ...]], Any] = lambda row: row[-1],
) -> dict[Any, int]:
    totals: dict[Any, int] = {}
    for row in rows:
        if where(row):
            totals[key(row)] = totals.get(key(row), 0) + int(value(row))
    return totals


def _month_start(day: date, months_back: int) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def _months(first: date, last: date) -> list[date]:
    months = [first.replace(day=1)]
    while months[-1] < last.replace(day=1):
        months.append(_month_start(months[-1], -1))
    return months


def _month_label(month: date) -> str:
    return month.strftime("%Y-%m")


def partial_month(as_of: date) -> date | None:
    """The first day of the month holding ``as_of`` when the night is not the month's last day
    (its counts cover only part of the month), else None."""
    return None if (as_of + timedelta(days=1)).day == 1 else as_of.replace(day=1)


def _partial_month_index(months: Sequence[date], as_of: date) -> int | None:
    month = partial_month(as_of)
    return months.index(month) if month in months else None


def _partial_month_text(as_of: date) -> str:
    return _("month to date, to {day}").format(day=as_of.isoformat())


def _month_cell(month: date, as_of: date) -> str:
    """A month in a table; the month still being counted says so."""
    if month != partial_month(as_of):
        return _month_label(month)
    return _("{month} ({month_to_date})").format(
        month=_month_label(month), month_to_date=_partial_month_text(as_of)
    )


def _bucket_order(bucket: str) -> tuple[int, float, str]:
    """'all' first, then 0, 1, ..., 7+ by number."""
    if bucket == "all":
        return (0, 0.0, bucket)
    match = _BUCKET_NUMBER.match(bucket or "")
    return (1, float(match.group()) if match else math.inf, bucket or "")


def _parameters(text: str | None) -> str:
    if not text:
        return MISSING
    try:
        values = json.loads(text)
    except ValueError:
        return text
    return ", ".join(f"{name} = {value:.4g}" for name, value in values.items())


def _label(text: Any) -> str:
    """Chart text as it is: the SVG keeps it as text, which the browser draws."""
    return str(text)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> str:
    return MISSING if value is None else f"{int(value):,}"


def _number(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{float(value) if isinstance(value, Decimal) else value:,.{digits}f}"


def _percent(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1%}"


def _share(part: int, whole: int) -> str:
    return _percent(part / whole) if whole else MISSING


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _points(value: float | None) -> str:
    """A difference of two rates, in percentage points, with its sign."""
    return MISSING if value is None else f"{value * 100:+.1f}"


def _yes_no(value: bool | None) -> str:
    return MISSING if value is None else (_("yes") if value else _("no"))


def _of(part: int, whole: int) -> str:
    """Converted of customers, e.g. 3 of 40."""
    return _("{part} of {whole}").format(part=f"{part:,}", whole=f"{whole:,}")


def _signed(value: float | None) -> str:
    return MISSING if value is None else f"{value:+,.2f}"


def _interval(bounds: tuple[float | None, float | None] | None, show: Callable[[Any], str]) -> str:
    if bounds is None or bounds[0] is None or bounds[1] is None:
        return MISSING
    return _("{low} to {high}").format(low=show(bounds[0]), high=show(bounds[1]))


def _window_end(night: _LiftNight) -> date:
    """The last day whose orders count for the entry night; complete once the night reaches it."""
    return night.entry_date + timedelta(days=night.window_days)


def _date(value: date | None) -> str:
    return MISSING if value is None else value.isoformat()


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
