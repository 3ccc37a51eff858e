"""Operating the nightly job: a run killed mid-way, a re-run, and a backfill of past nights;
what the CLI prints and checks, and what the home's Dagster instance keeps of a night.

The nights continue the customer-story home of conftest (nights 2026-06-29 and 2026-06-30
published) in a copy, so the fixture's own home is left as it is.
"""

import csv
import hashlib
import importlib.metadata
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from orchestration.cli import main
from orchestration.publishing.warehouse import PUBLISHED_NAME, published_night
from tests.conftest import (
    CUSTOMER_MARTS_RAW,
    CUSTOMER_MARTS_RUN_STARTED_AT,
    TINY_AS_OF,
    TINY_RAW,
    query,
)

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
        scrm(later_home, "run", "--as-of", NEXT_NIGHT, "--verbose"),
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

    # Without --verbose: a line per step and the summary; Dagster's events and dbt's output
    # went to the night's log.
    lines = rerun.stdout.splitlines()
    assert rerun.stderr == ""
    assert not [line for line in lines if " - DEBUG - " in line or "Running with dbt" in line]
    steps = [line.split()[1] for line in lines if line.startswith("  [")]
    assert steps == [
        "raw_sources",
        "scrm_dbt_models",
        "btyd_predictions",
        "row_accounting_report",
        "scrm_dbt_models_after_predictions",
        "exports__segment_exports",
        "published__warehouse",
        "reports__nightly_report",
    ], rerun.stdout
    assert lines[0] == (
        f"night of {NEXT_NIGHT}: raw {CUSTOMER_MARTS_RAW.resolve()}, home {later_home.resolve()}"
    )
    summary = {name: value.strip() for name, value in (line.split(": ", 1) for line in lines[-6:])}
    home = later_home.resolve()
    assert summary["  warehouse"].startswith(f"{home / 'warehouse.duckdb'} ")
    assert summary["  report"] == f"{home / 'reports' / NEXT_NIGHT}.html"
    assert summary["  exports"] == f"{home / 'exports' / NEXT_NIGHT}/"
    assert summary["  BI copy"].startswith(
        f"{home / 'published' / PUBLISHED_NAME} (the night of {NEXT_NIGHT}), "
    )
    (log,) = (later_home / "logs").glob(f"night-{NEXT_NIGHT}-*.log")
    assert "Running with dbt" in log.read_text(encoding="utf-8")


def test_a_cli_night_is_in_the_homes_dagster_instance(later_home, monkeypatch):
    """What `make dev` shows: the run, the partition materialized, the report's metadata."""
    import dagster as dg

    monkeypatch.setenv("DAGSTER_HOME", str(later_home / "dagster"))
    report = dg.AssetKey(["reports", "nightly_report"])
    with dg.DagsterInstance.get() as instance:
        # The fixture's two nights (run in-process), the killed run and its rerun.
        runs = instance.get_runs(dg.RunsFilter(job_name="nightly"))
        partitions = sorted(run.tags["dagster/partition"] for run in runs)
        assert partitions == [*BACKFILLED, NEXT_NIGHT, NEXT_NIGHT]
        assert instance.get_materialized_partitions(report) == {*BACKFILLED, NEXT_NIGHT}
        assert instance.get_materialized_partitions(dg.AssetKey(["marts", "customer_profile"])) == {
            *BACKFILLED,
            NEXT_NIGHT,
        }
        event = instance.get_latest_materialization_event(report)
    materialization = event.asset_materialization
    assert materialization.partition == NEXT_NIGHT
    assert materialization.metadata["report"] == dg.MetadataValue.path(
        str(later_home.resolve() / "reports" / f"{NEXT_NIGHT}.html")
    )
    assert materialization.metadata["held"] == dg.MetadataValue.bool(False)


def test_scrm_sql_reads_the_warehouse_read_only(later_home):
    warehouse = CliRunner().invoke(
        main,
        ["sql", "--home", str(later_home), "select max(as_of_date) from marts.customer_profile"],
    )
    assert warehouse.exit_code == 0, warehouse.output
    assert NEXT_NIGHT in warehouse.output
    # Staging lives in the pipeline file beside it, attached read-only too.
    staging = CliRunner().invoke(
        main, ["sql", "--home", str(later_home), "select count(*) from stg_raw__orders"]
    )
    assert staging.exit_code == 0, staging.output
    refused = CliRunner().invoke(
        main, ["sql", "--home", str(later_home), "--published", "create table x (y int)"]
    )
    assert refused.exit_code == 1
    assert refused.output.startswith("Error: ") and "read-only" in refused.output


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


@pytest.mark.night
def test_a_failed_night_ends_with_its_cause(tmp_path):
    """The raw loader's error is the last line, after the step that failed; no traceback."""
    raw = tmp_path / "raw"
    shutil.copytree(TINY_RAW, raw)
    with (raw / "orders.csv").open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        del row["customer_id"]
    with (raw / "orders.csv").open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    home = tmp_path / "home"
    arguments = ["--raw", str(raw), "--home", str(home), "--as-of", TINY_AS_OF]
    failed = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run", *arguments],
        env=environment(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    assert failed.returncode == 1
    lines = failed.stdout.splitlines()
    assert lines[-1].startswith(
        f"Error: raw_sources: {raw / 'orders.csv'}: required column(s) missing: customer_id "
        "(the file has: order_id, order_ts, "
    ), failed.stdout
    assert lines[-3].split()[:3] == ["[1/8]", "raw_sources", "FAILED"], failed.stdout
    assert "Traceback" not in failed.stdout
    (log,) = (home / "logs").glob("night-*.log")
    assert lines[-2].endswith(f"its full log: {log}")
    assert "raise RawDataError(" in log.read_text(encoding="utf-8")  # the stack trace


def test_options_are_checked_before_any_work(tmp_path):
    home = tmp_path / "home"
    missing = CliRunner().invoke(
        main, ["run", "--raw", str(tmp_path / "nonexistent"), "--home", str(home)]
    )
    assert missing.exit_code == 2
    assert missing.output.splitlines()[-1] == (
        "Error: Invalid value for '--raw' (env var: 'SCRM_RAW_DIR'): "
        f"Directory '{tmp_path / 'nonexistent'}' does not exist."
    )
    bad_date = CliRunner().invoke(
        main, ["run", "--raw", str(TINY_RAW), "--home", str(home), "--as-of", "2026-02-30"]
    )
    assert bad_date.exit_code == 2
    assert "'2026-02-30' does not match the format '%Y-%m-%d'" in bad_date.output
    # A backfill whose last night has not ended stops before its first night runs.
    nights = ["--from", TINY_AS_OF, "--to", "2999-01-01"]
    future = CliRunner().invoke(
        main, ["backfill", "--raw", str(TINY_RAW), "--home", str(home), *nights]
    )
    assert future.exit_code == 1
    assert future.output.splitlines()[-1].startswith(
        "Error: the night of 2999-01-01 has not ended yet"
    )
    assert not home.exists()


def test_every_option_has_help_and_the_cli_has_a_version():
    for name, command in main.commands.items():
        for parameter in command.params:
            if isinstance(parameter, click.Option):
                assert parameter.help, f"scrm {name} {parameter.opts[0]}"
    short = CliRunner().invoke(main, ["run", "-h"], prog_name="scrm")
    assert short.exit_code == 0 and short.output.startswith("Usage: scrm run [OPTIONS]")
    assert "--verbose" in short.output
    version = CliRunner().invoke(main, ["--version"])
    assert version.exit_code == 0
    assert version.output == f"scrm, version {importlib.metadata.version('scrm-warehouse')}\n"


def test_a_dbt_builds_failure_is_told_by_its_failed_tests():
    """dagster-dbt's error, as it wraps dbt's error-level messages: the tests that failed."""
    from dagster._utils.error import SerializableErrorInfo

    from orchestration.console import error_cause

    dbt_error = SerializableErrorInfo(
        message="dagster_dbt.errors.DagsterDbtCliRuntimeError: The dbt CLI process with command"
        "\n\n`dbt build`\n\nfailed with exit code `1`. Check the stdout in the Dagster compute "
        "logs for the full information about the error.\n\nErrors parsed from dbt logs:\n\n"
        "\x1b[31mFailure in test unique_fct_orders_order_id (models/marts/core/fct_orders.yml)"
        "\x1b[0m\n  Got 2 results, configured to fail if != 0\n\n"
        "  compiled code at target/compiled/scrm/unique_fct_orders_order_id.sql\n",
        stack=[],
        cls_name="DagsterDbtCliRuntimeError",
    )
    wrapped = SerializableErrorInfo(
        message="dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred while "
        'executing op "scrm_dbt_models":\n',
        stack=[],
        cls_name="DagsterExecutionStepExecutionError",
        cause=dbt_error,
    )
    assert error_cause(wrapped, "scrm_dbt_models") == (
        "scrm_dbt_models: dbt: Failure in test unique_fct_orders_order_id "
        "(models/marts/core/fct_orders.yml) Got 2 results, configured to fail if != 0"
    )
