"""Report, per raw source, where every row went: clean, quarantined, exact duplicate,
superseded by a later version, or erased on the customer's request."""

from typing import Any

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from orchestration import duckdb_settings
from orchestration.defs.dbt.assets import scrm_dbt_models
from orchestration.defs.resources import WarehouseResource
from orchestration.partitions import nightly_partitions, one_night_per_run

MEASURES = (
    "raw_rows",
    "clean_rows",
    "quarantined_rows",
    "duplicate_rows",
    "superseded_rows",
    "erased_rows",
)


def read_row_accounting(warehouse: WarehouseResource) -> list[dict[str, Any]]:
    with duckdb_settings.connect(warehouse.warehouse_path, read_only=True) as connection:
        cursor = connection.execute("select * from marts.raw_row_accounting order by source_name")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def row_accounting_metadata(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {
        f"{row['source_name']}/{measure}": int(row[measure]) for row in rows for measure in MEASURES
    }


@dg.asset(
    deps=[get_asset_key_for_model([scrm_dbt_models], "raw_row_accounting")],
    partitions_def=nightly_partitions,
    backfill_policy=one_night_per_run,
    group_name="data_quality",
    kinds={"python"},
    description="Where every raw row went tonight, per source, in the log and as metadata.",
)
def row_accounting_report(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    rows = read_row_accounting(warehouse)
    for row in rows:
        context.log.info(
            f"{row['source_name']}: raw {row['raw_rows']} = clean {row['clean_rows']} + "
            f"quarantined {row['quarantined_rows']} + exact duplicates {row['duplicate_rows']} "
            f"+ superseded {row['superseded_rows']} + erased {row['erased_rows']}"
        )
    unbalanced = [row["source_name"] for row in rows if not row["is_balanced"]]
    if unbalanced:
        raise dg.Failure(f"raw rows not accounted for in: {', '.join(unbalanced)}")
    return dg.MaterializeResult(metadata=row_accounting_metadata(rows))
