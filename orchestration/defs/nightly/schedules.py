"""The nightly job: load the raw files, then build every dbt model as of the partition date."""

import dagster as dg

from orchestration.nights import TIMEZONE
from orchestration.partitions import nightly_partitions

nightly_job = dg.define_asset_job(
    name="nightly",
    selection=dg.AssetSelection.all(),
    partitions_def=nightly_partitions,
    description="Load raw files and build the warehouse as of the partition date.",
)

# 02:00 in Shanghai, computing the day that has just ended.
nightly_schedule = dg.build_schedule_from_partitioned_job(
    nightly_job, hour_of_day=2, minute_of_hour=0, name="nightly_at_0200_shanghai"
)

__all__ = ["TIMEZONE", "nightly_job", "nightly_schedule"]
