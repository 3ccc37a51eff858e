"""Every DuckDB connection of the project takes its memory limit and spill directory from one
rule (orchestration/duckdb_settings.py), and dbt's profile has the same defaults."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from orchestration import duckdb_settings

ROOT = Path(__file__).resolve().parent.parent


def test_connections_take_the_limit_and_the_spill_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRM_DUCKDB_MEMORY_LIMIT", "1GB")
    monkeypatch.setenv("SCRM_HOME", str(tmp_path))
    with duckdb.connect() as plain:
        plain.execute("set memory_limit = '1GB'")
        (one_gb,) = plain.execute("select current_setting('memory_limit')").fetchone()
    with duckdb_settings.connect() as connection:
        limit, temp = connection.execute(
            "select current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchone()
    assert limit == one_gb
    assert temp == str(tmp_path / "tmp")
    database = tmp_path / "w.duckdb"
    duckdb.connect(str(database)).close()
    with duckdb_settings.connect(database, read_only=True) as connection:
        assert connection.execute("select current_setting('memory_limit')").fetchone() == (one_gb,)


def test_the_default_limit_without_the_variable(monkeypatch):
    monkeypatch.delenv("SCRM_DUCKDB_MEMORY_LIMIT", raising=False)
    monkeypatch.delenv("SCRM_HOME", raising=False)
    assert duckdb_settings.memory_limit() == duckdb_settings.DEFAULT_MEMORY_LIMIT
    assert duckdb_settings.temp_directory() == Path(".scrm") / "tmp"


def test_the_dbt_profile_has_the_same_defaults():
    profile = (ROOT / "dbt_project" / "profiles.yml").read_text(encoding="utf-8")
    (limit,) = re.findall(
        r"memory_limit: \"\{\{ env_var\('SCRM_DUCKDB_MEMORY_LIMIT', '([^']+)'\)", profile
    )
    assert limit == duckdb_settings.DEFAULT_MEMORY_LIMIT
    (home,) = re.findall(
        r"temp_directory: \"\{\{ env_var\('SCRM_HOME', '([^']+)'\) \}\}/tmp\"", profile
    )
    assert home == duckdb_settings.DEFAULT_HOME


def test_no_connection_bypasses_the_settings():
    direct = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("orchestration", "benchmarks")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.name != "duckdb_settings.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "duckdb.connect(" in line
    ]
    assert direct == []


def test_the_dbt_profile_sets_the_spill_directory_when_the_database_opens():
    import yaml

    profile = yaml.safe_load((ROOT / "dbt_project" / "profiles.yml").read_text(encoding="utf-8"))
    output = profile["scrm"]["outputs"]["duckdb"]
    assert "temp_directory" not in output["settings"]
    assert "temp_directory" in output["config_options"]
