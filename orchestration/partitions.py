"""The nightly partition: one per as-of date, in the brand's time zone."""

import dagster as dg

TIMEZONE = "Asia/Shanghai"

# A night's partition key is its as-of date; the night of D runs early on D + 1.
nightly_partitions = dg.DailyPartitionsDefinition(
    start_date="2020-01-01", timezone=TIMEZONE, fmt="%Y-%m-%d"
)

# One night per run: every model reads the as-of date from the single partition key.
one_night_per_run = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)
