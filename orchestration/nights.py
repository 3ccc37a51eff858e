"""Which nights can be computed: the brand's time zone, the first night, the last ended night.

Kept free of Dagster so that the CLI can check a night, and set the first night, before the
definitions load (orchestration/partitions.py builds the nightly partitions from it).
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from orchestration.language import _

TIMEZONE = "Asia/Shanghai"

# The first night the nightly partitions have. A brand whose history starts earlier sets it to
# its first day of data; `scrm run --first-night` and `dagster dev` both read this variable.
FIRST_NIGHT_VARIABLE = "SCRM_FIRST_NIGHT"
DEFAULT_FIRST_NIGHT = date(2020, 1, 1)


class NightOutOfRange(ValueError):
    """A night that cannot be run; the message says why and what to change, in the operator's
    language (SCRM_LANG): `scrm run` prints it as its error line."""


def first_night(configured: str | date | None = None) -> date:
    """`configured`, else $SCRM_FIRST_NIGHT, else 2020-01-01."""
    value = configured or os.environ.get(FIRST_NIGHT_VARIABLE) or DEFAULT_FIRST_NIGHT
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise NightOutOfRange(
            _("{variable}={value} is not a date: write it as YYYY-MM-DD").format(
                variable=FIRST_NIGHT_VARIABLE, value=repr(value)
            )
        ) from None


def last_ended_night(now: datetime | None = None) -> date:
    """The latest night that has ended in the brand's time zone: yesterday there.

    dbt's as_of_date default (macros/as_of.sql) follows the same rule.
    """
    moment = now.astimezone(ZoneInfo(TIMEZONE)) if now else datetime.now(ZoneInfo(TIMEZONE))
    return moment.date() - timedelta(days=1)


def check_night(night: date, first: date, last: date) -> None:
    """Raise NightOutOfRange unless `first` <= `night` <= `last`."""
    if night < first:
        raise NightOutOfRange(
            _(
                "the night of {night} is before the first night, {first}. Set the first night "
                "to the first day of your data: --first-night {night} (or earlier), or "
                "{variable}={night} in the environment, which dagster dev reads too"
            ).format(night=night, first=first, variable=FIRST_NIGHT_VARIABLE)
        )
    if night > last:
        raise NightOutOfRange(
            _(
                "the night of {night} has not ended yet in {timezone} (the latest night that "
                "can be run is {last}): a night is computed from the events up to its end"
            ).format(night=night, timezone=TIMEZONE, last=last)
        )
