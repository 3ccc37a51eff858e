"""Raw sources as assets: the night's files loaded verbatim into the warehouse."""

from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg

from orchestration.defs.resources import WarehouseResource
from orchestration.language import _
from orchestration.partitions import nightly_partitions, one_night_per_run
from orchestration.raw_contract import load_contract
from orchestration.raw_loader import load_raw_sources

RAW_GROUP = "raw"


def raw_asset_key(source: str) -> dg.AssetKey:
    """The key dagster-dbt gives `source('raw', <source>)`, so lineage joins up."""
    return dg.AssetKey(["raw", source])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            raw_asset_key(name),
            group_name=RAW_GROUP,
            description=f"The raw `{name}` file, or the deliveries of the folder `{name}/`, "
            f"loaded as text into raw.{name}.",
            kinds={"duckdb"},
        )
        for name in load_contract()
    ],
    partitions_def=nightly_partitions,
    backfill_policy=one_night_per_run,
)
def raw_sources(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult]:
    results = load_raw_sources(
        warehouse.raw_path,
        warehouse.warehouse_path,
        loaded_at=datetime.now(UTC).replace(tzinfo=None),
        night=date.fromisoformat(context.partition_key),
    )
    for name, result in results.items():
        if not result.deliveries:
            context.log.info(f"raw.{name}: not delivered; an optional source, taken in empty")
        context.log.info(
            f"raw.{name}: {result.rows} rows from {result.path} ({len(result.deliveries)} "
            f"deliveries, {len(result.new_deliveries)} new tonight)"
        )
        if result.ignored_columns:
            # A warning `scrm run` shows under the step: in the operator's language.
            context.log.warning(
                _("{path}: columns outside the contract ignored: {columns}").format(
                    path=result.path, columns=", ".join(result.ignored_columns)
                )
            )
        yield dg.MaterializeResult(
            asset_key=raw_asset_key(name),
            metadata={
                "dagster/row_count": result.rows,
                "file": str(result.path),
                "deliveries": len(result.deliveries),
                "new_deliveries": dg.MetadataValue.json(list(result.new_deliveries)),
                "absent_optional_columns": ", ".join(result.absent_optional_columns),
                "ignored_columns": ", ".join(result.ignored_columns),
            },
        )
