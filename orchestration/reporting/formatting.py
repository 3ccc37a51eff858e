"""How the nightly report writes what it shows, shared by its sections and its charts: cells
(numbers, shares, dates, the dash for nothing), months and the month still being counted,
lifecycle stages and channels, and segment and tag names, all in the page's language
(orchestration/language.py), plus the windows and the orders both of them follow.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final

from orchestration.language import CHINESE, N_, _, current_language
from orchestration.reasons import stage_text

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
MISSING: Final = "—"
# Why a segment's member was not exported (segment_membership.suppression, the manifest's
# membership counts; docs/segments.md), with their column headers.
SUPPRESSIONS: Final = (
    ("holdout", N_("Holdout")),
    ("priority", N_("Priority")),
    ("cooldown", N_("Cool-down")),
)
_BUCKET_NUMBER = re.compile(r"\d+")


def ordered_stages(found: Iterable[str | None]) -> list[str]:
    extra = sorted({s for s in found if s and s != FIRST_STAGE and s not in LIFECYCLE_STAGES})
    return [*LIFECYCLE_STAGES, *extra]


def stage_label(stage: str) -> str:
    if stage == FIRST_STAGE:
        return _("none (first stage)")
    return stage_text(stage)


def value_label(value: str | None, messages: Mapping[str, str]) -> str:
    """A data value in words in the page's language (``messages``: value → message), the
    value beside it where the words differ; a value without a message as it is."""
    if value is None or value not in messages:
        return text_cell(value)
    words = _(messages[value])
    return words if words == value else f"{words} ({value})"


def channel_label(channel: str) -> str:
    return _("other") if channel == OTHER_CHANNELS else as_label(channel)


def is_chinese() -> bool:
    return current_language() == CHINESE


def name_headers(kind: str) -> tuple[str, str]:
    """Headers of a name's two columns: in Chinese the display name first, the code name
    beside it; in English the code name first."""
    if is_chinese():
        return kind, _("Code name")
    return kind, _("Display name")


def name_cells(name: str, display_name: str) -> tuple[str, str]:
    """A segment's or tag's two name cells, in the order of ``name_headers``; without a
    display name in the page's language, the code name in both."""
    if is_chinese():
        return display_name or name, name
    return name, display_name or name


def name_label(name: str, display_names: Mapping[str, str]) -> str:
    """One label for a segment or tag (charts, lists): its display name in the page's
    language, with the code name after it; the code name alone where it has none."""
    display_name = display_names.get(name)
    if display_name and display_name != name:
        return f"{display_name} ({name})"
    return as_label(name)


def sum_by(
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


def month_start(day: date, months_back: int) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    months = [first.replace(day=1)]
    while months[-1] < last.replace(day=1):
        months.append(month_start(months[-1], -1))
    return months


def month_label(month: date) -> str:
    return month.strftime("%Y-%m")


def partial_month(as_of: date) -> date | None:
    """The first day of the month holding ``as_of`` when the night is not the month's last day
    (its counts cover only part of the month), else None."""
    return None if (as_of + timedelta(days=1)).day == 1 else as_of.replace(day=1)


def partial_month_index(months: Sequence[date], as_of: date) -> int | None:
    month = partial_month(as_of)
    return months.index(month) if month in months else None


def partial_month_text(as_of: date) -> str:
    return _("month to date, to {day}").format(day=as_of.isoformat())


def month_cell(month: date, as_of: date) -> str:
    """A month in a table; the month still being counted says so."""
    if month != partial_month(as_of):
        return month_label(month)
    return _("{month} ({month_to_date})").format(
        month=month_label(month), month_to_date=partial_month_text(as_of)
    )


def bucket_order(bucket: str) -> tuple[int, float, str]:
    """'all' first, then 0, 1, ..., 7+ by number."""
    if bucket == "all":
        return (0, 0.0, bucket)
    match = _BUCKET_NUMBER.match(bucket or "")
    return (1, float(match.group()) if match else math.inf, bucket or "")


def parameters_text(text: str | None) -> str:
    if not text:
        return MISSING
    try:
        values = json.loads(text)
    except ValueError:
        return text
    return ", ".join(f"{name} = {value:.4g}" for name, value in values.items())


def as_label(text: Any) -> str:
    """Chart text as it is: the SVG keeps it as text, which the browser draws."""
    return str(text)


def text_cell(value: Any) -> str:
    return "" if value is None else str(value)


def int_cell(value: Any) -> str:
    return MISSING if value is None else f"{int(value):,}"


def number_cell(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{float(value) if isinstance(value, Decimal) else value:,.{digits}f}"


def percent_cell(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1%}"


def share_cell(part: int, whole: int) -> str:
    return percent_cell(part / whole) if whole else MISSING


def rate_of(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def points_cell(value: float | None) -> str:
    """A difference of two rates, in percentage points, with its sign."""
    return MISSING if value is None else f"{value * 100:+.1f}"


def yes_no_cell(value: bool | None) -> str:
    return MISSING if value is None else (_("yes") if value else _("no"))


def part_of_cell(part: int, whole: int) -> str:
    """Converted of customers, e.g. 3 of 40."""
    return _("{part} of {whole}").format(part=f"{part:,}", whole=f"{whole:,}")


def signed_cell(value: float | None) -> str:
    return MISSING if value is None else f"{value:+,.2f}"


def interval_cell(
    bounds: tuple[float | None, float | None] | None, show: Callable[[Any], str]
) -> str:
    if bounds is None or bounds[0] is None or bounds[1] is None:
        return MISSING
    return _("{low} to {high}").format(low=show(bounds[0]), high=show(bounds[1]))


def date_cell(value: date | None) -> str:
    return MISSING if value is None else value.isoformat()
