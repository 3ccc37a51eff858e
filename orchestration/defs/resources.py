from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging import version

from orchestration import duckdb_settings
from orchestration.project import dbt_project

# dbt's profile reads the memory limit from the environment: give it the project's default.
duckdb_settings.export_defaults()


class NightlyDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource without two start-up costs the nightly builds do not need,
    paid on every night whatever its size.

    Both override private methods of the pinned dagster-dbt: should a later version rename
    them, the overrides stop applying and the costs come back; nothing else changes.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        # dagster-dbt asks `dbt --version` in a subprocess (seconds) to tell dbt Core from the
        # Fusion engine; the dbt it runs is the dbt-core installed beside it.
        from dbt.version import __version__ as dbt_core_version

        return version.parse(dbt_core_version)

    def _initialize_dbt_core_adapter(  # type: ignore[override]  # no adapter, on purpose
        self, args: Sequence[str]
    ) -> None:
        # An in-process dbt adapter serves row counts and column metadata, which these assets
        # do not fetch; opening one cost every build its own start.
        return None


class WarehouseResource(dg.ConfigurableResource):
    """Where a night reads raw files and writes its outputs.

    `home_dir` must be the same directory dbt's profiles.yml reads from $SCRM_HOME; both
    default to that environment variable.
    """

    home_dir: str
    raw_dir: str

    @property
    def warehouse_path(self) -> Path:
        return Path(self.home_dir) / "warehouse.duckdb"

    @property
    def raw_path(self) -> Path:
        return Path(self.raw_dir)


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            # DbtCliResource.__init__ takes a DbtProject; mypy sees only the str field.
            "dbt": NightlyDbtCliResource(project_dir=dbt_project),  # type: ignore[arg-type]
            "warehouse": WarehouseResource(
                home_dir=dg.EnvVar("SCRM_HOME"), raw_dir=dg.EnvVar("SCRM_RAW_DIR")
            ),
        }
    )
