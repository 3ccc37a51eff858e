"""Render the night's HTML report once its exports, published copy and backtest are done."""

import datetime as dt
from pathlib import Path

import dagster as dg

from orchestration.defs.predictive.assets import BACKTEST
from orchestration.defs.publishing.assets import publish_segment_exports, published_warehouse
from orchestration.defs.resources import WarehouseResource
from orchestration.partitions import nightly_partitions, one_night_per_run
from orchestration.publishing.errors import PublishError
from orchestration.publishing.exports import read_manifest
from orchestration.reporting.nightly_report import CHART_IDS, write_nightly_report

REPORTS_DIR = "reports"
EXPORTS_DIR = "exports"


@dg.asset(
    key=["reports", "nightly_report"],
    # After the exports, so the report shows what was published; after the published copy,
    # because that asset opens the warehouse read-write to checkpoint it, and DuckDB refuses a
    # writer while another process holds the file open (as this asset does, read-only).
    deps=[publish_segment_exports, published_warehouse, BACKTEST],
    partitions_def=nightly_partitions,
    backfill_policy=one_night_per_run,
    group_name="exports",
    kinds={"python", "html"},
    description="reports/<as-of date>.html: the night in one self-contained page (segments, "
    "RFM, lifecycle, friends by channel, tag coverage, BTYD model card, raw row accounting); "
    "docs/report.md.",
)
def nightly_report(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    as_of = dt.date.fromisoformat(context.partition_key)
    home = Path(warehouse.home_dir)
    try:
        manifest = read_manifest(home / EXPORTS_DIR, as_of)
    except PublishError as error:
        # The report still renders: sizes come from segment_membership instead.
        context.log.warning(f"segments counted from the warehouse: {error}")
        manifest = None
    path = write_nightly_report(warehouse.warehouse_path, home / REPORTS_DIR, as_of, manifest)
    html = path.read_text(encoding="utf-8")
    charts = [chart for chart in CHART_IDS if f'data-chart="{chart}"' in html]
    context.log.info(f"wrote {path} ({len(charts)} charts)")
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(str(path)),
            "url": dg.MetadataValue.url(path.resolve().as_uri()),
            "bytes": path.stat().st_size,
            "charts": dg.MetadataValue.json(charts),
            "segments_from": "exports manifest" if manifest is not None else "warehouse",
        }
    )
