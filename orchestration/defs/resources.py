from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration import duckdb_settings
from orchestration.project import dbt_project

# dbt's profile reads the memory limit from the environment: give it the project's default.
duckdb_settings.export_defaults()


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
            "dbt": DbtCliResource(project_dir=dbt_project),
            "warehouse": WarehouseResource(
                home_dir=dg.EnvVar("SCRM_HOME"), raw_dir=dg.EnvVar("SCRM_RAW_DIR")
            ),
        }
    )
