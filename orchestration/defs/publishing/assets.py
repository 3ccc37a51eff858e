"""Publish the night's segment exports once every model and error-severity check has passed."""

import datetime as dt
import logging
from pathlib import Path

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from orchestration import duckdb_settings
from orchestration.defs.dbt.assets import scrm_dbt_models, scrm_dbt_models_after_predictions
from orchestration.defs.resources import WarehouseResource
from orchestration.language import _
from orchestration.layout import HELD_DIR
from orchestration.partitions import nightly_partitions, one_night_per_run
from orchestration.project import dbt_project, project_vars
from orchestration.publishing.errors import PublishError
from orchestration.publishing.exports import (
    check_days_kept,
    prune_published_nights,
    publish_night,
    read_manifest,
)
from orchestration.publishing.guard import ExportGuard
from orchestration.publishing.table_files import XLSX_MAX_ROWS, check_xlsx_max_rows
from orchestration.publishing.warehouse import (
    MARTS_LINK,
    PUBLISH_PHASES,
    publish_warehouse,
    published_night,
    tables_kept_per_night,
    tables_published_by_month,
)
from orchestration.segment_declarations import segment_declaration
from orchestration.segments import (
    CUSTOMER_REASONS_MODEL,
    customer_reasons_export,
    load_manifest,
    next_best_action_exports,
    segment_exports,
)
from orchestration.wecom_tags import WecomLimits

MANIFEST = load_manifest(dbt_project.manifest_path)
# The segment models, for the asset's deps; their exports are built when the asset runs.
SEGMENT_NAMES = sorted(
    node["name"] for node in MANIFEST["nodes"].values() if segment_declaration(node)
)
REMARKS_MODEL = "wecom_customer_remarks"
NEXT_BEST_ACTION_MODEL = "next_best_action"
FRIENDSHIP_TAGS_MODEL = "wecom_friendship_tags"
TAG_CATALOG_MODEL = "tag_catalog"
ROW_ACCOUNTING_MODEL = "raw_row_accounting"
KEPT_PER_NIGHT = tables_kept_per_night(MANIFEST)
PUBLISHED_BY_MONTH = tables_published_by_month(MANIFEST)
EXPORT_KEY = dg.AssetKey(["exports", "segment_exports"])
PROJECT_VARS = project_vars()
WECOM_LIMITS = WecomLimits.from_vars(PROJECT_VARS.get("wecom_limits"))
EXPORT_GUARD = ExportGuard.from_vars(PROJECT_VARS.get("export_guard"))
# Checked when the definitions load, so a wrong value stops the night before it runs.
EXPORT_DAYS_KEPT = check_days_kept(PROJECT_VARS.get("export_days_kept"))
EXPORT_XLSX_MAX_ROWS = check_xlsx_max_rows(PROJECT_VARS.get("export_xlsx_max_rows", XLSX_MAX_ROWS))


def next_best_actions(warehouse: Path) -> dict[str, str]:
    """The actions of the seed analysts edit, and their display names."""
    with duckdb_settings.connect(warehouse, read_only=True) as connection:
        rows = connection.execute(
            "select action, display_name from reference.next_best_actions order by action"
        ).fetchall()
    return dict(rows)


@dg.asset(
    key=EXPORT_KEY,
    # Downstream of every segment: a failed dbt build or error-severity test upstream stops
    # the run before this asset, so nothing of a bad night is published.
    deps=[
        get_asset_key_for_model([scrm_dbt_models_after_predictions], name)
        for name in [
            *SEGMENT_NAMES,
            REMARKS_MODEL,
            NEXT_BEST_ACTION_MODEL,
            CUSTOMER_REASONS_MODEL,
            FRIENDSHIP_TAGS_MODEL,
            TAG_CATALOG_MODEL,
            "segment_membership",
        ]
    ]
    + [get_asset_key_for_model([scrm_dbt_models], ROW_ACCOUNTING_MODEL)],
    check_specs=[
        dg.AssetCheckSpec(
            "export_guard",
            asset=EXPORT_KEY,
            description="The churn guard let the night out: no segment size jumped, no tag "
            "coverage and no raw source's clean rows collapsed since the previous published "
            "night (docs/segments.md).",
        )
    ],
    partitions_def=nightly_partitions,
    backfill_policy=one_night_per_run,
    group_name="exports",
    kinds={"python", "parquet", "csv"},
    description="exports/YYYY-MM-DD/, named for the as-of date: every segment as Parquet, CSV "
    "and xlsx, who entered and left, one file per next best action, the WeCom tag sync and "
    "per-friendship mark_tag files and manifest.json; swapped in atomically, or held in "
    "exports/held/ by the churn guard.",
)
def publish_segment_exports(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    as_of = dt.date.fromisoformat(context.partition_key)
    exports_root = Path(warehouse.home_dir) / "exports"
    manifest = publish_night(
        warehouse.warehouse_path,
        exports_root,
        as_of,
        context.run.run_id,
        # Built now, in the language the night is run in (SCRM_LANG): the files people open.
        [
            *segment_exports(MANIFEST),
            *next_best_action_exports(MANIFEST, next_best_actions(warehouse.warehouse_path)),
        ],
        remarks_relation=f"marts.{REMARKS_MODEL}",
        friendship_tags_relation=f"marts.{FRIENDSHIP_TAGS_MODEL}",
        wecom_limits=WECOM_LIMITS,
        tag_coverage_relation=f"marts.{TAG_CATALOG_MODEL}",
        guard=EXPORT_GUARD,
        source_rows_relation=f"marts.{ROW_ACCOUNTING_MODEL}",
        xlsx_max_rows=EXPORT_XLSX_MAX_ROWS,
        customer_tables=[customer_reasons_export(MANIFEST, PROJECT_VARS)],
    )
    sizes = {name: segment["rows"] for name, segment in manifest["segments"].items()}
    held = manifest["guard"]["held"]
    removed = prune_published_nights(exports_root, EXPORT_DAYS_KEPT, keep=as_of)
    if removed:
        context.log.info(
            f"removed {len(removed)} published night(s) older than export_days_kept "
            f"({EXPORT_DAYS_KEPT} days): {removed[0]} to {removed[-1]}"
        )
    night_dir = (
        exports_root / HELD_DIR / as_of.isoformat() if held else exports_root / as_of.isoformat()
    )
    if held:
        from orchestration.reporting.nightly_report import guard_reasons

        # Warnings `scrm run` shows under the step: in the operator's language.
        context.log.warning(
            _(
                "churn guard: the night of {night} is held in {path}, not published: "
                "{reasons}. After review: {command}"
            ).format(
                night=as_of,
                path=night_dir,
                reasons=_("; ").join(guard_reasons(manifest)),
                command=f"scrm release --home {warehouse.home_dir} --as-of {as_of}",
            )
        )
    for name, segment in manifest["segments"].items():
        context.log.info(
            f"{name}: {segment['rows']} customers, {segment['entered']} entered, "
            f"{segment['left']} left"
        )
    mark_tag = manifest["wecom_mark_tag"]
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(night_dir)),
            "held": held,
            "segments": dg.MetadataValue.json(sizes),
            "previous_night": str(manifest.get("previous_night")),
            "nights_removed": len(removed),
            "wecom_mark_tag_calls": mark_tag["calls"],
            "wecom_friendships_touched": mark_tag["friendships_touched"],
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="export_guard",
                passed=not held,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"reasons": dg.MetadataValue.json(manifest["guard"]["reasons"])},
            )
        ],
    )


@dg.asset(
    key=["published", "warehouse"],
    deps=[publish_segment_exports],
    partitions_def=nightly_partitions,
    backfill_policy=one_night_per_run,
    group_name="exports",
    kinds={"duckdb", "parquet"},
    description="published/warehouse.duckdb and published/marts/TABLE.parquet (a folder per "
    "night for the tables kept per night): the finished night, swapped in atomically for BI "
    "tools to open read-only (docs/bi.md). A backfilled night older than the published one "
    "does not replace it, nor does a night the churn guard held for a collapsed raw source.",
)
def published_warehouse(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    as_of = dt.date.fromisoformat(context.partition_key)
    published_dir = Path(warehouse.home_dir) / "published"
    collapsed = collapsed_sources_held(Path(warehouse.home_dir) / "exports", as_of)
    if collapsed:
        context.log.warning(
            _(
                "churn guard: the BI copy keeps the night {kept}, not {night}: {reasons}. "
                "`scrm release` publishes both."
            ).format(
                kept=published_night(published_dir),
                night=as_of,
                reasons=_("; ").join(held_reasons(Path(warehouse.home_dir) / "exports", as_of)),
            )
        )
        return dg.MaterializeResult(
            metadata={
                "as_of_date": context.partition_key,
                "held": True,
                "reasons": dg.MetadataValue.json(collapsed),
            }
        )
    return publish_bi_copy(
        warehouse.warehouse_path, published_dir, as_of, context.run.run_id, context.log
    )


def collapsed_sources_held(exports_root: Path, as_of: dt.date) -> list[str]:
    """The guard's reasons when the night is held for a collapsed raw source; else []."""
    try:
        manifest = read_manifest(exports_root / HELD_DIR, as_of)
    except PublishError:
        return []
    guard = manifest.get("guard", {})
    return list(guard["reasons"]) if guard.get("holds_published_warehouse") else []


def held_reasons(exports_root: Path, as_of: dt.date) -> tuple[str, ...]:
    """The held night's guard reasons in the operator's language (the manifest keeps them in
    English, and as fields)."""
    from orchestration.reporting.nightly_report import guard_reasons

    return guard_reasons(read_manifest(exports_root / HELD_DIR, as_of))


def publish_bi_copy(
    warehouse: Path,
    published_dir: Path,
    as_of: dt.date,
    run_id: str,
    log: dg.DagsterLogManager | logging.Logger,
) -> dg.MaterializeResult:
    """Publish the warehouse's night for BI tools (docs/bi.md), unless published/ holds a
    newer night; also what `scrm release` calls for a night held with its BI copy."""
    newest = published_night(published_dir)
    if newest is not None and newest > as_of:
        # BI tools want the latest night; re-running an old night must not take it from them.
        log.info(f"published/ holds the newer night {newest}; left as it is")
        return dg.MaterializeResult(
            metadata={"as_of_date": as_of.isoformat(), "kept_newer_night": str(newest)}
        )
    publication = publish_warehouse(
        warehouse,
        published_dir,
        as_of,
        run_id,
        kept_per_night=KEPT_PER_NIGHT,
        published_by_month=PUBLISHED_BY_MONTH,
    )
    log.info(
        f"published {publication.warehouse} and {len(publication.tables)} marts as Parquet "
        f"(nights kept: {sum(publication.nights_written.values())} written, "
        f"{sum(publication.nights_linked.values())} linked; months of the facts: "
        f"{sum(publication.months_written.values())} written, "
        f"{sum(publication.months_linked.values())} linked from the previous publication)"
    )
    # One line the benchmark reads (benchmarks/nightly.py): where a slow publish spent its time.
    log.info(publication.phases_line)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(publication.warehouse)),
            "parquet": dg.MetadataValue.path(str(published_dir / MARTS_LINK)),
            "as_of_date": as_of.isoformat(),
            "bytes": publication.warehouse.stat().st_size,
            "tables": len(publication.tables),
            "nights_written": sum(publication.nights_written.values()),
            "nights_linked": sum(publication.nights_linked.values()),
            "months_written": sum(publication.months_written.values()),
            "months_linked": sum(publication.months_linked.values()),
            **{f"{phase}_seconds": publication.seconds[phase] for phase in PUBLISH_PHASES},
        }
    )
