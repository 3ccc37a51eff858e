"""Imports point down the data flow: what runs before the night does not import the night's
publishing or segments, and the report reads the manifest without importing its publisher.

Checked by parsing each module's import statements, not by importing it: fast, and a lazy
import inside a function counts too.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "orchestration"

# (the modules, the packages they must not import)
RULES = [
    (["tag_registry.py"], ("orchestration.publishing", "orchestration.segments")),
    (["reporting"], ("orchestration.publishing",)),
]


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> None:
    """These tests only read source files: skip the project-wide `dbt parse`."""
    return None


def imported_modules(path: Path) -> set[str]:
    """Every module a file's import statements name, at any depth of the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def python_files(relative: str) -> list[Path]:
    path = PACKAGE / relative
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


def forbidden(imported: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(
        name
        for name in imported
        for package in packages
        if name == package or name.startswith(f"{package}.")
    )


@pytest.mark.parametrize(("where", "packages"), RULES, ids=[rule[0][0] for rule in RULES])
def test_imports_point_down_the_flow(where: list[str], packages: tuple[str, ...]) -> None:
    files = [path for relative in where for path in python_files(relative)]
    assert files
    found = {
        str(path.relative_to(PACKAGE.parent)): names
        for path in files
        if (names := forbidden(imported_modules(path), packages))
    }
    assert found == {}


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text(
        "from orchestration.layout import HELD_DIR\n"
        "def later():\n"
        "    from orchestration.publishing.exports import read_manifest\n"
        "    import orchestration.segments\n"
    )
    imported = imported_modules(module)
    assert forbidden(imported, ("orchestration.publishing",)) == [
        "orchestration.publishing.exports",
        "orchestration.publishing.exports.read_manifest",
    ]
    assert forbidden(imported, ("orchestration.segments",)) == ["orchestration.segments"]
    assert forbidden(imported, ("orchestration.seg",)) == []
