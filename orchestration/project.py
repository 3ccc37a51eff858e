"""The dbt project as Dagster sees it. Kept alone so packaging tools can import it cheaply."""

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import yaml
from dagster_dbt import DbtProject

# SCRM_DBT_PROJECT_DIR points the code location at another copy of the project (a fork with
# extra tags or tests); by default, the one in this repository.
DBT_PROJECT_DIR = Path(
    os.environ.get("SCRM_DBT_PROJECT_DIR", Path(__file__).resolve().parent.parent / "dbt_project")
).resolve()

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def project_vars(project_dir: Path = DBT_PROJECT_DIR) -> dict[str, Any]:
    """The vars of dbt_project.yml, for the Python steps that share the models' settings."""
    document = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8"))
    return dict((document or {}).get("vars") or {})


# The night a dbt build computes, as dbt_project/macros/as_of.sql reads it from the
# environment: not as --vars, which make dbt parse the project in full again for every night.
AS_OF_DATE_VARIABLE = "SCRM_AS_OF_DATE"
RUN_STARTED_AT_VARIABLE = "SCRM_RUN_STARTED_AT"


def night_environment(as_of_date: str, run_started_at: str | None = None) -> dict[str, str]:
    """The environment of one night's dbt builds: its as-of date and the run's "now" (empty:
    the clock)."""
    return {AS_OF_DATE_VARIABLE: as_of_date, RUN_STARTED_AT_VARIABLE: run_started_at or ""}


# Where each dbt build of a night writes its artifacts and debug log (dbt's target path), under
# the warehouse's home: dagster-dbt's default is a new folder in the project's target/ for every
# build, 13 MB each and never removed. The newest folders of each step are kept for debugging.
DBT_RUNS_DIR = "dbt_runs"
DBT_RUNS_KEPT = 14


def dbt_run_dir(home_dir: Path, step: str, run_id: str) -> Path:
    """A new folder for one build of `step`, named as dagster-dbt names its own, after pruning
    the step's older folders to the newest DBT_RUNS_KEPT - 1 (a failed build's folder stays
    until later builds push it out)."""
    runs = Path(home_dir) / DBT_RUNS_DIR
    runs.mkdir(parents=True, exist_ok=True)
    earlier = sorted(
        (path for path in runs.glob(f"{step}-*") if path.is_dir()),
        key=lambda path: path.stat().st_mtime,
    )
    for path in earlier[: max(len(earlier) - (DBT_RUNS_KEPT - 1), 0)]:
        shutil.rmtree(path, ignore_errors=True)
    return runs / f"{step}-{run_id[:7]}-{uuid.uuid4().hex[:7]}"
