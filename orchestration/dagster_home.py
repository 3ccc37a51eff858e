"""The Dagster instance of a home: `scrm run` records its nights there, `make dev` opens it.

One instance per $SCRM_HOME, in $SCRM_HOME/dagster, so the UI shows the runs, partitions and
asset metadata of the nights the CLI ran. `python -m orchestration.dagster_home HOME` creates
it and prints its path, for the Makefile's DAGSTER_HOME.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DAGSTER_DIR = "dagster"

# Dagster's defaults otherwise (SQLite storage in this folder). A night makes no network call
# of its own; nor does its Dagster, and a new user's UI opens on the assets, not a welcome box.
DAGSTER_YAML = """\
telemetry:
  enabled: false
nux:
  enabled: false
"""


def dagster_home(home_dir: Path) -> Path:
    """$SCRM_HOME/dagster, created with its dagster.yaml (an edited one is kept)."""
    path = Path(home_dir).resolve() / DAGSTER_DIR
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    return path


def use_dagster_home(home_dir: Path) -> Path:
    """Point DAGSTER_HOME at the home's instance, for DagsterInstance.get() and dbt's children."""
    path = dagster_home(home_dir)
    os.environ["DAGSTER_HOME"] = str(path)
    return path


if __name__ == "__main__":
    print(dagster_home(Path(sys.argv[1])))
