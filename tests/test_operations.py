"""Operating the nightly job: a run killed mid-way, a re-run, and a backfill of past nights.

They continue the customer-story home of conftest (nights 2026-06-29 and 2026-06-30 published)
in a copy, so the fixture's own home is left as it is.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from orchestration.publishing.warehouse import PUBLISHED_NAME, published_night
from tests.conftest import CUSTOMER_MARTS_RAW, CUSTOMER_MARTS_RUN_STARTED_AT, query

NEXT_NIGHT = "2026-07-01"
BACKFILLED = ("2026-06-29", "2026-06-30")


def scrm(home: Path, *arguments: str) -> list[str]:
    return [
        sys.executable, "-m", "orchestration.cli", *arguments,
        "--raw", str(CUSTOMER_MARTS_RAW), "--home", str(home),
        "--run-started-at", CUSTOMER_MARTS_RUN_STARTED_AT,
    ]  # fmt: skip


def environment(home: Path) -> dict[str, str]:
    return {**os.environ, "SCRM_HOME": str(home)}


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under root (symlinks followed), by relative path."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.startswith(".publish")
    }


def data_files(night_dir: Path) -> dict[str, str]:
    """The night's exported files, without the manifest (its run id and time differ)."""
    return {
        name: digest for name, digest in tree_digest(night_dir).items() if name != "manifest.json"
    }


@pytest.fixture(scope="module")
def later_home(customer_marts_warehouse, tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("operations") / "home"
    shutil.copytree(customer_marts_warehouse.parent, home, symlinks=True)
    return home


def test_a_run_killed_mid_build_leaves_the_published_night_and_a_rerun_succeeds(later_home):
    published = later_home / "published"
    before = {
        "published": tree_digest(published),
        "exports": tree_digest(later_home / "exports"),
    }
    assert published_night(published) == date.fromisoformat(BACKFILLED[-1])
    run = subprocess.Popen(
        scrm(later_home, "run", "--as-of", NEXT_NIGHT),
        env=environment(later_home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # dbt runs as a child process: kill the whole group
    )
    seen = []
    deadline = time.monotonic() + 300
    for line in run.stdout:
        seen.append(line)
        if "Running dbt command" in line or time.monotonic() > deadline:
            break
    time.sleep(3)  # well inside the dbt build
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    assert any("Running dbt command" in line for line in seen), "".join(seen[-20:])
    assert run.returncode == -signal.SIGKILL

    assert tree_digest(published) == before["published"]
    assert tree_digest(later_home / "exports") == before["exports"]
    assert not (later_home / "exports" / NEXT_NIGHT).exists()

    rerun = subprocess.run(
        scrm(later_home, "run", "--as-of", NEXT_NIGHT),
        env=environment(later_home),
        capture_output=True,
        text=True,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert published_night(published) == date.fromisoformat(NEXT_NIGHT)
    assert (later_home / "exports" / NEXT_NIGHT / "manifest.json").is_file()


def test_a_backfill_republishes_what_the_nights_published(customer_marts_warehouse, later_home):
    original = customer_marts_warehouse.parent
    nights_sql = ", ".join(f"'{night}'" for night in BACKFILLED)
    membership = (
        "select as_of_date, segment_name, customer_id from marts.segment_membership "
        f"where as_of_date in ({nights_sql}) order by all"
    )
    assert published_night(later_home / "published") == date.fromisoformat(NEXT_NIGHT)

    backfill = subprocess.run(
        scrm(later_home, "backfill", "--from", BACKFILLED[0], "--to", BACKFILLED[-1]),
        env=environment(later_home),
        capture_output=True,
        text=True,
        check=False,
    )
    assert backfill.returncode == 0, backfill.stdout[-3000:] + backfill.stderr[-3000:]
    assert "backfilled 2 nights, 2026-06-29 to 2026-06-30" in backfill.stdout

    for night in BACKFILLED:
        republished = later_home / "exports" / night
        assert data_files(republished) == data_files(original / "exports" / night), night
        manifest = (republished / "manifest.json").read_text(encoding="utf-8")
        assert manifest != (original / "exports" / night / "manifest.json").read_text("utf-8")
    assert query(later_home / "warehouse.duckdb", membership) == query(
        customer_marts_warehouse, membership
    )
    # BI tools keep the newest night: the backfill did not put an older one in their place.
    assert published_night(later_home / "published") == date.fromisoformat(NEXT_NIGHT)
    assert query(
        later_home / "published" / PUBLISHED_NAME,
        "select distinct as_of_date from marts.customer_profile",
    ) == [(date.fromisoformat(NEXT_NIGHT),)]
