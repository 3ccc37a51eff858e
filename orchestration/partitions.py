"""The nightly partition: one per as-of date, in the brand's time zone."""

import dagster as dg

TIMEZONE = "Asia/Shanghai"

# A night's partition key is its as-of date; the night of D runs early on D + 1.
nightly_partitions = dg.DailyPartitionsDefinition(
    start_date="2020-01-01", timezone=TIMEZONE, fmt="%Y-%m-%d"
)
