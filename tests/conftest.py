from __future__ import annotations

import atexit
import contextlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from filelock import FileLock


def use_own_dbt_project_per_worker() -> None:
    """Under pytest-xdist (make test), point this worker at its own copy of the dbt project.

    dbt keeps its parse (target/) beside the project, and every night parses it again for its
    own vars: two workers sharing one project would overwrite each other's parse mid-build.
    Set before orchestration.project reads SCRM_DBT_PROJECT_DIR on import.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or "SCRM_DBT_PROJECT_DIR" in os.environ:
        return
    project = Path(__file__).resolve().parent.parent / "dbt_project"
    copy = Path(tempfile.mkdtemp(prefix=f"scrm-dbt-{worker}-")) / "dbt_project"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("target", "logs"))
    # The parse `make setup` left: test modules load the definitions, which read it, on import.
    if (project / "target" / "manifest.json").exists():
        (copy / "target").mkdir()
        shutil.copyfile(project / "target" / "manifest.json", copy / "target" / "manifest.json")
    os.environ["SCRM_DBT_PROJECT_DIR"] = str(copy)
    atexit.register(shutil.rmtree, copy.parent, ignore_errors=True)


use_own_dbt_project_per_worker()

from orchestration.cli import ensure_manifest, run_night  # noqa: E402  (after the copy)
from orchestration.dagster_home import RUN_HISTORY_VARIABLE  # noqa: E402
from orchestration.project import night_environment  # noqa: E402

# The suite's nights keep no Dagster run history in their homes (docs/operations.md): no test
# reads it but those that ask for it (run_history_kept), and storing ~1,600 events in SQLite
# was a fifth of a small night's work. The CLI tests' own processes keep it, as users' do.
os.environ[RUN_HISTORY_VARIABLE] = "off"


@contextlib.contextmanager
def run_history_kept() -> Iterator[None]:
    """Nights run meanwhile record their runs in their home's Dagster instance."""
    os.environ[RUN_HISTORY_VARIABLE] = "on"
    try:
        yield
    finally:
        os.environ[RUN_HISTORY_VARIABLE] = "off"


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Any]
) -> tuple[Path, Any]:
    """A folder `build` fills once for the whole run, and what it returned (pickled).

    Under pytest-xdist the first worker to ask builds it in the run's shared temporary folder
    and the others wait for it and read the same files: a night several test files read is
    built once, not once per worker. Only for what the tests then read, never change.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        folder = tmp_path_factory.mktemp(name)
        built_value = build(folder)
        _READ_ONLY_FOLDERS.add(folder.resolve())
        return folder, built_value
    folder = tmp_path_factory.getbasetemp().parent / name
    built = folder.parent / f"{name}.built"
    with FileLock(f"{folder}.lock"):
        if not built.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            built.write_bytes(pickle.dumps(build(folder)))
    _READ_ONLY_FOLDERS.add(folder.resolve())
    return folder, pickle.loads(built.read_bytes())


# What built_once built. A DuckDB file there opened for writing would lock out the other
# worker's readers (and change what they read): tests copy it first (copy_warehouse).
_READ_ONLY_FOLDERS: set[Path] = set()


@pytest.fixture(scope="session", autouse=True)
def shared_warehouses_stay_read_only() -> Iterator[None]:
    """Fail at once, in any run, a test that opens a shared warehouse for writing.

    Under xdist such a test fails only when the other worker happens to be reading.
    """
    connect = duckdb.connect

    def read_only_in_shared_folders(database: Any = ":memory:", read_only: bool = False, **kw):
        if (
            not read_only
            and isinstance(database, str | Path)
            and str(database) not in {"", ":memory:"}
        ):
            path = Path(database).resolve()
            if any(path.is_relative_to(folder) for folder in _READ_ONLY_FOLDERS):
                raise AssertionError(f"{path} is shared by the run: copy it (copy_warehouse)")
        return connect(database, read_only=read_only, **kw)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(duckdb, "connect", read_only_in_shared_folders)
        yield


def night_fixture(**fixture_options: Any):
    """@pytest.fixture for a fixture that builds at least one night (most of a minute each,
    more on a busy machine). A test that uses one, or is marked `night` itself, is what
    `make test-fast` leaves out."""

    def register(function):
        function.builds_night = True
        return pytest.fixture(**fixture_options)(function)

    return register


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Read off the fixtures' definitions, not a registry: test modules import this file as
    # tests.conftest, a second copy of the module beside the one pytest loaded.
    for item in items:
        definitions = getattr(item, "_fixtureinfo", None)
        if definitions is None:
            continue
        if any(
            getattr(definition.func, "builds_night", False)
            for stack in definitions.name2fixturedefs.values()
            for definition in stack
        ):
            item.add_marker(pytest.mark.night)


FIXTURES = Path(__file__).parent / "fixtures"
TINY_RAW = FIXTURES / "raw_tiny"
TINY_AS_OF = "2026-03-31"
# Pinned so the future-timestamp rule gives the same answer whenever the tests run.
TINY_RUN_STARTED_AT = "2026-04-30 12:00:00"


def copy_dbt_project(target: Path) -> Path:
    """A copy of the dbt project to change in a test, without its build outputs."""
    from orchestration.project import DBT_PROJECT_DIR

    shutil.copytree(
        DBT_PROJECT_DIR, target, ignore=shutil.ignore_patterns("target", "logs", "generated")
    )
    return target


def dbt_test(home: Path, target: Path, select: str, as_of: str) -> subprocess.CompletedProcess:
    """`dbt test --select <select>` on the warehouse in `home`, as of a night."""
    return dbt_command("test", home, target, select, as_of)


def dbt_command(
    command: str,
    home: Path,
    target: Path,
    select: str,
    as_of: str,
    extra_vars: dict[str, Any] | None = None,
    extra_args: tuple[str, ...] = (),
) -> subprocess.CompletedProcess:
    """`dbt <command> --select <select>` on the warehouse in `home`, as of a night (and with
    `extra_vars`, and `extra_args` such as --full-refresh).

    The night goes in the environment, as `scrm run` passes it, and each home keeps its own
    parse: dbt parses the whole project again (most of ten seconds) when the vars or the
    profile, which names the home, differ from those of the parse in its target folder.
    """
    from orchestration.project import DBT_PROJECT_DIR

    kept_parse = home / ".test_dbt_parse" / "partial_parse.msgpack"
    target.mkdir(parents=True, exist_ok=True)
    if kept_parse.is_file():
        shutil.copyfile(kept_parse, target / kept_parse.name)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dbt.cli.main",
            command,
            "--select",
            select,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(target),
            *(("--vars", json.dumps(extra_vars)) if extra_vars else ()),
            *extra_args,
        ],
        env={**os.environ, "SCRM_HOME": str(home), **night_environment(as_of)},
        capture_output=True,
        text=True,
        check=False,
    )
    if (target / kept_parse.name).is_file():
        kept_parse.parent.mkdir(exist_ok=True)
        shutil.copyfile(target / kept_parse.name, kept_parse)
    return result


def connect_warehouse(warehouse: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse with the pipeline's file attached (staging, intermediate)."""
    from orchestration.duckdb_settings import attach_pipeline

    return attach_pipeline(
        duckdb.connect(str(warehouse), read_only=read_only), warehouse, read_only=read_only
    )


def query(warehouse: Path, sql: str) -> list[tuple]:
    with connect_warehouse(warehouse, read_only=True) as connection:
        return connection.execute(sql).fetchall()


def copy_warehouse(warehouse: Path, home: Path) -> Path:
    """Copy a built warehouse and its pipeline file into ``home``; the copied warehouse."""
    from orchestration.duckdb_settings import PIPELINE_FILE

    home.mkdir(parents=True, exist_ok=True)
    for name in (warehouse.name, PIPELINE_FILE):
        if (warehouse.parent / name).exists():
            shutil.copyfile(warehouse.parent / name, home / name)
    return home / warehouse.name


def tiny_night_with(tmp_path: Path, tiny: Path, extra: Path) -> Path:
    """The tiny fixture's files (``tiny``) and an optional source's (``extra``) in one raw
    folder, built as of the tiny night: the warehouse."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for source_file in [*tiny.glob("*.csv"), *extra.glob("*.csv")]:
        shutil.copy(source_file, raw / source_file.name)
    home = tmp_path / "home"
    assert run_night(raw, home, TINY_AS_OF, TINY_RUN_STARTED_AT).success
    return home / "warehouse.duckdb"


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> None:
    ensure_manifest()


@night_fixture(scope="session")
def tiny_night(tmp_path_factory: pytest.TempPathFactory):
    """The nightly Dagster job, run once on the hand-written fixture as of 2026-03-31."""
    home = tmp_path_factory.mktemp("tiny_home")
    # Its run stays in the home's instance: the Dagster UI test opens it.
    with run_history_kept():
        result = run_night(TINY_RAW, home, TINY_AS_OF, TINY_RUN_STARTED_AT)
    assert result.success
    return result, home / "warehouse.duckdb"


@pytest.fixture(scope="session")
def tiny_warehouse(tiny_night) -> Path:
    return tiny_night[1]


CUSTOMER_MARTS_RAW = FIXTURES / "raw_customer_marts"
CUSTOMER_MARTS_AS_OF = "2026-06-30"


CUSTOMER_MARTS_RUN_STARTED_AT = "2026-07-31 12:00:00"


@night_fixture(scope="session")
def customer_marts_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The customer-story fixture (README there): the night before, then 2026-06-30.

    Two nights in one warehouse, so the tag history has a night to compare with. Built once
    for the run (built_once): a test that changes it works on a copy (copy_warehouse).
    """

    def build(home: Path) -> None:
        # Their runs stay in the home's instance: test_operations reads them there.
        with run_history_kept():
            for night in ("2026-06-29", CUSTOMER_MARTS_AS_OF):
                result = run_night(CUSTOMER_MARTS_RAW, home, night, CUSTOMER_MARTS_RUN_STARTED_AT)
                assert result.success, night

    home, _ = built_once(tmp_path_factory, "customer_marts_home", build)
    return home / "warehouse.duckdb"


GENERATED_END = date(2026, 10, 31)


GENERATED_RUN_STARTED_AT = "2026-11-01 08:00:00"


@pytest.fixture(scope="session")
def generated_raw(tmp_path_factory: pytest.TempPathFactory):
    """The generator's 200 customers (seed 3), bad rows included: (raw dir, summary)."""
    from orchestration.generator import generate

    return built_once(
        tmp_path_factory,
        "generated_raw",
        lambda raw: generate(raw, customers=200, seed=3, end_date=GENERATED_END, progress=False),
    )


@night_fixture(scope="session")
def generated_night(tmp_path_factory: pytest.TempPathFactory, generated_raw):
    """The generator's 200 customers (seed 3), built as of its last day."""
    raw, summary = generated_raw

    def build(home: Path) -> None:
        result = run_night(raw, home, GENERATED_END.isoformat(), GENERATED_RUN_STARTED_AT)
        assert result.success

    home, _ = built_once(tmp_path_factory, "generated_home", build)
    return summary, home / "warehouse.duckdb"
