"""`prepare` parses the dbt project only when something it reads changed since the last one:
every night prepares first, and a night in an unchanged project should not pay dbt's parse."""

from pathlib import Path

import pytest
from conftest import copy_dbt_project

from orchestration import tag_registry
from orchestration.project import AS_OF_DATE_VARIABLE


@pytest.fixture
def prepared_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project, prepared once for real, whose later parses are counted."""
    monkeypatch.setenv("SCRM_HOME", str(tmp_path / "home"))
    project = copy_dbt_project(tmp_path / "dbt_project")
    tag_registry.prepare(project)
    return project


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The projects dbt is asked to parse from now on (each parse is the real one)."""
    calls: list[Path] = []
    real_parse = tag_registry._parse

    def counted(project_dir: Path, profiles_dir: Path) -> dict:
        calls.append(project_dir)
        return real_parse(project_dir, profiles_dir)

    monkeypatch.setattr(tag_registry, "_parse", counted)
    return calls


def test_only_a_changed_input_is_parsed_again(prepared_project, parses, monkeypatch, tmp_path):
    models = tag_registry.prepare(prepared_project)
    assert parses == []
    assert "tag_acquisition" in models  # the record's answer, as the parse gave it
    # The night's settings are read when the SQL runs, not when it parses: a new night
    # reuses the parse.
    monkeypatch.setenv(AS_OF_DATE_VARIABLE, "2026-03-10")
    tag_registry.prepare(prepared_project)
    assert parses == []

    # A changed model is parsed again, once: the record then holds the changed file.
    model = prepared_project / "models" / "marts" / "customer_value" / "customer_rfm.sql"
    model.write_text(model.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    tag_registry.prepare(prepared_project)
    tag_registry.prepare(prepared_project)
    assert len(parses) == 1

    # The profile's paths follow SCRM_HOME: dbt keeps its parse per profile.
    monkeypatch.setenv("SCRM_HOME", str(tmp_path / "another_home"))
    tag_registry.prepare(prepared_project)
    assert len(parses) == 2

    # `dbt parse` or `dbt docs generate` run by hand rewrites target/manifest.json, possibly
    # with other settings: the next prepare does not trust it.
    manifest = prepared_project / "target" / "manifest.json"
    manifest.write_text(manifest.read_text(encoding="utf-8"), encoding="utf-8")
    tag_registry.prepare(prepared_project)
    assert len(parses) == 3


def test_a_failed_prepare_leaves_no_record_of_success(prepared_project, parses):
    from orchestration.tag_rules import RuleError

    rules = prepared_project / tag_registry.RULES_FILE
    good = rules.read_text(encoding="utf-8")
    bad = good.replace("paid_amount_cny > 5000", "paid_amount_cny > 5000; drop table x")
    assert bad != good
    rules.write_text(bad, encoding="utf-8")
    with pytest.raises(RuleError, match="high_value"):
        tag_registry.prepare(prepared_project)
    with pytest.raises(RuleError, match="high_value"):
        tag_registry.prepare(prepared_project)  # refused again, not skipped
    rules.write_text(good, encoding="utf-8")
    tag_registry.prepare(prepared_project)
    assert len(parses) == 3
