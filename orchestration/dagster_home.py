"""The Dagster instance of a home: `scrm run` records its nights there, `make dev` opens it.

One instance per $SCRM_HOME, in $SCRM_HOME/dagster, so the UI shows the runs, partitions and
asset metadata of the nights the CLI ran. `python -m orchestration.dagster_home HOME` creates
it and prints its path, for the Makefile's DAGSTER_HOME.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.language import _

if TYPE_CHECKING:
    import dagster as dg

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


# Set to "off", a night runs in an in-memory Dagster instance and keeps no run history in the
# home: for throwaway nights (the test suite's fixtures, a rebuild into a scratch home). Dagster's
# SQLite storage opens a connection for each of a night's ~1,600 events (every dbt model and
# data test is one or two), a fixed cost per night whatever the data's size.
RUN_HISTORY_VARIABLE = "SCRM_RUN_HISTORY"


class RunHistorySettingError(ValueError):
    """SCRM_RUN_HISTORY is neither on nor off."""


def night_instance(home_dir: Path) -> dg.DagsterInstance:
    """The instance a night records its run in: the home's, unless SCRM_RUN_HISTORY=off."""
    import dagster as dg

    setting = os.environ.get(RUN_HISTORY_VARIABLE, "on").strip().lower()
    if setting not in {"on", "off"}:
        raise RunHistorySettingError(
            _("{variable} must be on or off, not {value}").format(
                variable=RUN_HISTORY_VARIABLE, value=setting
            )
        )
    if setting == "off":
        return dg.DagsterInstance.ephemeral()
    use_dagster_home(home_dir)
    return dg.DagsterInstance.get()


if __name__ == "__main__":
    print(dagster_home(Path(sys.argv[1])))
