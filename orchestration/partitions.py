"""The nightly partition: one per as-of date, in the brand's time zone."""

import dagster as dg

from orchestration.nights import TIMEZONE, first_night

# A night's partition key is its as-of date; the night of D runs early on D + 1. The first
# night is read when the definitions load (orchestration/nights.py): Dagster needs the
# partitions then, and the CLI sets it before loading them.
nightly_partitions = dg.DailyPartitionsDefinition(
    start_date=first_night().isoformat(), timezone=TIMEZONE, fmt="%Y-%m-%d"
)

# One night per run: every model reads the as-of date from the single partition key.
one_night_per_run = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)
