"""Rules of the dbt project's layout that no linter checks for us."""

from __future__ import annotations

import json
import re

from orchestration.project import dbt_project

JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
SQL_COMMENT = re.compile(r"--[^\n]*")
RELATION_CALL = re.compile(r"\b(ref|source)\s*\(")


def project_macros() -> dict[str, dict]:
    manifest = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))
    return {
        macro["original_file_path"] + ":" + macro["name"]: macro
        for macro in manifest["macros"].values()
        if macro["package_name"] == "scrm" and macro["original_file_path"].startswith("macros/")
    }


def relation_calls(macro_sql: str) -> list[str]:
    """The ref( and source( calls of a macro's code, its comments left out."""
    code = SQL_COMMENT.sub("", JINJA_COMMENT.sub("", macro_sql))
    return RELATION_CALL.findall(code)


def test_relation_calls_are_found_in_code_not_in_comments():
    assert relation_calls("select * from {{ ref('a') }} join {{ source('raw', 'b') }}") == [
        "ref",
        "source",
    ]
    assert relation_calls("{#- the rows of ref('a') -#}\n-- a source() pointing at fixtures") == []
    assert relation_calls("{{ forget_erased_customers(erasures) }} {{ preferred(x) }}") == []


def test_no_macro_names_a_model_or_a_source():
    """A model's inputs are visible in its own file: a macro takes relations as arguments and
    never calls ref() or source() itself. (Generic tests, in tests/generic, may: a test's
    model is its argument.)"""
    macros = project_macros()
    assert len(macros) > 50  # the manifest holds the project's macros
    offenders = {
        name: calls
        for name, macro in macros.items()
        if (calls := relation_calls(macro["macro_sql"]))
    }
    assert offenders == {}
