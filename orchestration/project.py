"""The dbt project as Dagster sees it. Kept alone so packaging tools can import it cheaply."""

import os
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
