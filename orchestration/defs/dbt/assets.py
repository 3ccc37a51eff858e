"""Every dbt model as an asset, every dbt test as an asset check, one dbt build per night."""

import csv
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
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
from orchestration.project import dbt_project, dbt_run_dir, night_environment


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


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in this process's environment meanwhile: dagster-dbt hands the environment to
    the dbt process it starts. Restored after, so that nothing else in a long-lived process
    (a backfill, the tests) takes one night's settings for its own."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# The dbt command of a night: build everything. Unit tests are left to the test suite
# (tests/test_dbt_unit_tests.py): they check SQL logic, not the night's data, and one on an
# incremental model needs the table to exist.
DBT_BUILD_ARGS = ["build", "--exclude-resource-type", "unit_test"]


# Where each model's post-hook writes its built columns (macros/built_columns.sql), in a
# build's own dbt run folder.
BUILT_COLUMNS_VARIABLE = "SCRM_BUILT_COLUMNS_DIR"


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
        target_path = dbt_run_dir(Path(warehouse.home_dir), name, context.run.run_id)
        columns_folder = target_path / "built_columns"
        columns_folder.mkdir(parents=True)
        build_environment = {
            **night_environment(context.partition_key, config.run_started_at),
            BUILT_COLUMNS_VARIABLE: str(columns_folder),
        }
        with environment(build_environment):  # dbt's process starts in dbt.cli
            invocation = dbt.cli(DBT_BUILD_ARGS, context=context, target_path=target_path)
        yield from with_column_types(invocation.stream(), columns_folder, context)

    return build


scrm_dbt_models = nightly_dbt_build("scrm_dbt_models", exclude=AFTER_PREDICTIONS)
scrm_dbt_models_after_predictions = nightly_dbt_build(
    "scrm_dbt_models_after_predictions", select=AFTER_PREDICTIONS
)


def built_columns(folder: Path, table_name: str) -> list[tuple[str, str]]:
    """The columns and types a model's post-hook recorded for `table_name` (the
    `database.schema.table` of a dbt asset), in order; none when it recorded nothing."""
    path = folder / f"{table_name}.csv"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["column_name"], row["data_type"]) for row in csv.DictReader(handle)]


def typed_column_schema(
    declared: dg.TableSchema | None, built: list[tuple[str, str]]
) -> dg.TableSchema:
    """The built table's columns, in its order and with its types, each with the description
    and tags its YAML declares (the definition's column schema)."""
    declared_columns = {column.name: column for column in (declared.columns if declared else [])}
    columns = []
    for name, data_type in built:
        column = declared_columns.get(name)
        if column is None:
            columns.append(dg.TableColumn(name=name, type=data_type))
        else:
            columns.append(
                dg.TableColumn(
                    name=name,
                    type=data_type,
                    description=column.description,
                    constraints=column.constraints,
                    tags=column.tags,
                )
            )
    return dg.TableSchema(columns=columns)


def with_column_types(
    events: Iterable[Any], columns_folder: Path, context: dg.AssetExecutionContext
) -> Iterator[Any]:
    """A dbt build's events as they come, each materialization with the built table's column
    types.

    dagster-dbt's column schema has the YAML's columns with type "?" (dbt knows a column's type
    only when YAML declares it), and Dagster's column panel shows a materialization's schema
    before the definition's. The types come from what each model's post-hook recorded in
    `columns_folder`: dagster-dbt's fetch_column_metadata would open an in-process dbt adapter
    per model, and waiting to read the database after the build held every event (and the
    progress a person sees) until its end.
    """
    for event in events:
        if isinstance(event, dg.Output):
            key = context.asset_key_for_output(event.output_name)
        elif isinstance(event, dg.AssetMaterialization):
            key = event.asset_key
        else:
            yield event
            continue
        metadata = context.assets_def.specs_by_key[key].metadata
        built = built_columns(columns_folder, str(metadata.get("dagster/table_name", "")))
        if built:
            declared = metadata.get("dagster/column_schema")
            schema = typed_column_schema(
                declared if isinstance(declared, dg.TableSchema) else None, built
            )
            event = event.with_metadata({**event.metadata, "dagster/column_schema": schema})
        yield event
