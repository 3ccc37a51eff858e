"""The nightly report's charts: matplotlib figures kept as inline SVG, one function per chart.

Everything that could vary between two renders of the same data is pinned (the style, a hash
salt per chart, no date), so the same night draws the same bytes. Text stays text in the SVG,
so the browser draws Chinese with the page's fonts.
"""

from __future__ import annotations

import html
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from io import StringIO
from typing import TYPE_CHECKING, Any, Final

import matplotlib
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from orchestration.language import _
from orchestration.reporting.formatting import (
    FLOW_WINDOW_DAYS,
    FRIEND_MONTHS,
    LIFECYCLE_MONTHS,
    LIFECYCLE_STAGES,
    OTHER_CHANNELS,
    RFM_SCORES,
    SUPPRESSIONS,
    TOP_CHANNELS,
    as_label,
    channel_label,
    int_cell,
    month_label,
    name_label,
    partial_month_index,
    partial_month_text,
    percent_cell,
    stage_label,
)

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

    from orchestration.reporting.nightly_report import _PooledLift, _SegmentRow

# The SVG id (after the chart's prefix) of what marks the month still being counted.
PARTIAL_MONTH_ID: Final = "partial-month"
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


@dataclass(frozen=True)
class Chart:
    chart_id: str
    caption: str
    svg: Markup


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


def segments_chart(rows: Sequence[_SegmentRow]) -> Chart:
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
                int_cell(row.size),
                (row.size, position),
                xytext=(2, 0),
                textcoords="offset points",
                va="center",
            )
        sizes.set_yticks(
            positions, labels=[name_label(row.name, {row.name: row.display_name}) for row in rows]
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


def lift_chart(pooled: Sequence[_PooledLift], names: Mapping[str, str]) -> Chart:
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
        axes.set_yticks(positions, labels=[name_label(row.segment, names) for row in pooled])
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


def rfm_chart(cells: Mapping[tuple[int, int], int], window_days: int) -> Chart:
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


def lifecycle_stages_chart(stages: Sequence[str], counts: Mapping[str, int]) -> Chart:
    def draw(figure: Figure) -> None:
        axes = figure.subplots()
        values = [counts.get(stage, 0) for stage in stages]
        bars = axes.bar(
            range(len(stages)), values, color=[_stage_colour(stage) for stage in stages]
        )
        axes.bar_label(bars, labels=[int_cell(value) for value in values], padding=2)
        axes.set_xticks(range(len(stages)), labels=[stage_label(stage) for stage in stages])
        axes.tick_params(axis="x", labelrotation=30)
        axes.set_ylabel(_("customers"))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(_("Customers per lifecycle stage"))
        axes.margins(y=0.15)

    return _render_chart(
        "lifecycle_stages", _("Customers per lifecycle stage tonight"), (5.6, 3.4), draw
    )


def lifecycle_flow_chart(
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
            [stage_label(stage) for stage in to_stages],
            [stage_label(stage) for stage in from_stages],
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


def lifecycle_monthly_chart(
    months: Sequence[date],
    stages: Sequence[str],
    monthly: Mapping[tuple[date, str], int],
    as_of: date,
) -> Chart:
    partial = partial_month_index(months, as_of)

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
                label=stage_label(stage),
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


def friends_chart(
    months: Sequence[date],
    groups: Sequence[str],
    added: Mapping[tuple[date, str], int],
    deleted: Mapping[tuple[date, str], int],
    as_of: date,
) -> Chart:
    partial = partial_month_index(months, as_of)
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
                (adds, added, channel_label(group), "added"),
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
        ).format(top=TOP_CHANNELS, other=channel_label(OTHER_CHANNELS), months=FRIEND_MONTHS),
        (8.0, 5.0),
        draw,
    )


def tag_coverage_chart(tags: Sequence[tuple[Any, ...]], names: Mapping[str, str]) -> Chart:
    categories = list(dict.fromkeys(row[0] for row in tags))
    colours = {category: _PALETTE[i % len(_PALETTE)] for i, category in enumerate(categories)}

    def draw(figure: Figure) -> None:
        axes = figure.subplots()
        positions = list(range(len(tags)))
        coverage = [float(row[4] or 0.0) for row in tags]
        bars = axes.barh(positions, coverage, color=[colours[row[0]] for row in tags])
        axes.bar_label(bars, labels=[percent_cell(value) for value in coverage], padding=2)
        axes.set_yticks(positions, labels=[name_label(row[1], names) for row in tags])
        axes.set_ylim(len(tags) - 0.4, -0.6)  # first tag on top, without the default margin
        axes.set_xlim(0, 1.12)
        axes.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
        axes.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        handles = [Rectangle((0, 0), 1, 1, color=colours[c]) for c in categories]
        figure.legend(
            handles,
            [as_label(c) for c in categories],
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


def backtest_chart(buckets: Sequence[tuple[Any, ...]]) -> Chart:
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
        axes.set_xticks(positions, labels=[as_label(row[0]) for row in buckets])
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
    axes.set_xticks(ticks, labels=[month_label(months[i]) for i in ticks])
    axes.tick_params(axis="x", labelrotation=45)


def _label_partial_month(axes: Axes, position: int, as_of: date) -> None:
    """Name the month still being counted above its bar or point, at the axes' top."""
    axes.annotate(
        partial_month_text(as_of),
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


def _stage_colour(stage: str) -> str:
    if stage in LIFECYCLE_STAGES:
        return _PALETTE[LIFECYCLE_STAGES.index(stage)]
    return _OTHER_COLOUR
