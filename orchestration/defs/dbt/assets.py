"""Every dbt model as an asset, every dbt test as an asset check, one dbt build per night."""

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from orchestration.defs.resources import WarehouseResource
from orchestration.partitions import nightly_partitions, one_night_per_run
from orchestration.project import dbt_project, dbt_run_dir, night_vars


def group_for_fqn(fqn: list[str]) -> str:
    """The asset group of a model: its folder below models/, two levels at most."""
    folders = fqn[1:-1]
    return "_".join(folders[:2]) if folders else "default"


class ScrmDbtTranslator(DagsterDbtTranslator):
    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = manifest.get("nodes", {}).get(unique_id)
        if props is None:
            return spec
        if props.get("resource_type") == "model":
            return spec.replace_attributes(group_name=group_for_fqn(props["fqn"]))
        if props.get("resource_type") == "seed":
            # The reference tables analysts edit: all in seeds/, grouped by their schema.
            return spec.replace_attributes(group_name=props["config"]["schema"])
        return spec


def dbt_build_args(as_of_date: str, run_started_at: str | None = None) -> list[str]:
    """The dbt command of one night: build everything as of `as_of_date`.

    Unit tests are left to the test suite (tests/test_dbt_unit_tests.py): they check SQL
    logic, not the night's data, and one on an incremental model needs the table to exist.
    """
    return [
        "build",
        "--exclude-resource-type",
        "unit_test",
        "--vars",
        json.dumps(night_vars(as_of_date, run_started_at), sort_keys=True),
    ]


class NightConfig(dg.Config):
    # Pin "now" for the future-timestamp rule (reproducible reruns); empty means the clock.
    run_started_at: str = ""


# Models that read the nightly predictions (dbt source `predictive`) run in a second dbt build,
# after the Python asset that writes them; everything else runs in the first.
AFTER_PREDICTIONS = "source:predictive+"


def nightly_dbt_build(
    name: str, *, select: str = "fqn:*", exclude: str = ""
) -> dg.AssetsDefinition:
    """One nightly dbt build over a part of the project (dbt_assets' select / exclude)."""

    @dbt_assets(
        name=name,
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        # Source tests (the raw files' row numbers) as checks on the raw assets, not as
        # observations with a warning each.
        dagster_dbt_translator=ScrmDbtTranslator(
            DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True)
        ),
        partitions_def=nightly_partitions,
        backfill_policy=one_night_per_run,
        select=select,
        exclude=exclude,
    )
    def build(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        config: NightConfig,
    ) -> Iterator[object]:  # the events of dbt's run, as dagster-dbt streams them
        args = dbt_build_args(context.partition_key, config.run_started_at or None)
        target_path = dbt_run_dir(Path(warehouse.home_dir), name, context.run.run_id)
        yield from dbt.cli(args, context=context, target_path=target_path).stream()

    return build


scrm_dbt_models = nightly_dbt_build("scrm_dbt_models", exclude=AFTER_PREDICTIONS)
scrm_dbt_models_after_predictions = nightly_dbt_build(
    "scrm_dbt_models_after_predictions", select=AFTER_PREDICTIONS
)
