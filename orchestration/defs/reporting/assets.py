"""Render the night's HTML report once its exports, published copy and backtest are done."""

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration import duckdb_settings
from orchestration.defs.predictive.assets import BACKTEST
from orchestration.defs.publishing.assets import publish_segment_exports, published_warehouse
from orchestration.defs.resources import WarehouseResource
from orchestration.language import _
from orchestration.layout import HELD_DIR
from orchestration.partitions import nightly_partitions, one_night_per_run
from orchestration.publishing.errors import PublishError
from orchestration.publishing.exports import read_manifest
from orchestration.reporting.nightly_report import (
    CHART_IDS,
    unseen_tag_values,
    write_nightly_report,
)

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
    description="reports/YYYY-MM-DD.html, named for the as-of date: the night in one "
    "self-contained page (churn guard notice, segments with who was held back, campaign lift, "
    "WeCom tag sync dry run, RFM, lifecycle, friends by channel, staff, tag coverage, BTYD model "
    "card, raw row accounting); docs/report.md.",
)
def nightly_report(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    as_of = dt.date.fromisoformat(context.partition_key)
    home = Path(warehouse.home_dir)
    manifest = night_manifest(home / EXPORTS_DIR, as_of, context.log)
    held = manifest is not None and bool(manifest.get("guard", {}).get("held"))
    if held:
        # Warnings `scrm run` shows under the step: in the operator's language.
        context.log.warning(
            _("the churn guard held the night of {night}: the report says so").format(night=as_of)
        )
    path = write_nightly_report(
        warehouse.warehouse_path, home / REPORTS_DIR, as_of, manifest, home=home
    )
    unseen = unseen_tag_values_metadata(warehouse.warehouse_path, as_of)
    if unseen:
        listed = ", ".join(f"{r['tag_name']}={r['tag_value']} ({r['customers']})" for r in unseen)
        context.log.warning(
            _("tag values outside their tags' known values, kept: {values}").format(values=listed)
        )
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
            "held": held,
            "unseen_tag_values": dg.MetadataValue.json(unseen),
        }
    )


def unseen_tag_values_metadata(warehouse: Path, as_of: dt.date) -> list[dict[str, Any]]:
    """The night's marts.tag_unseen_values, for the asset's metadata and log."""
    with duckdb_settings.connect(warehouse, read_only=True) as connection:
        rows = unseen_tag_values(connection, as_of)
    return [
        {"tag_name": name, "tag_value": value, "customers": customers}
        for name, _, value, customers in rows
    ]


def night_manifest(
    exports_root: Path, as_of: dt.date, log: dg.DagsterLogManager
) -> dict[str, Any] | None:
    """The night's published manifest, else the one the churn guard held, else None."""
    try:
        return read_manifest(exports_root, as_of)
    except PublishError as published_error:
        try:
            return read_manifest(exports_root / HELD_DIR, as_of)
        except PublishError as held_error:
            # The report still renders: segments are counted from segment_membership instead.
            log.warning(f"segments counted from the warehouse: {published_error}; {held_error}")
            return None
