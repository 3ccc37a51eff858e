"""Settings dataclasses from the dbt project's vars, checked the same way everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def settings_from_vars(cls: type[T], var: str, configured: Mapping[str, Any] | None) -> T:
    """A settings dataclass from a dbt var's mapping: unknown keys are an error, not ignored,
    and so is a missing one that has no default."""
    configured = dict(configured or {})
    unknown = sorted(set(configured) - set(cls.__dataclass_fields__))
    if unknown:
        raise ValueError(f"unknown {var} setting(s): {unknown}")
    missing = [
        item.name
        for item in fields(cls)
        if item.name not in configured
        and item.default is MISSING
        and item.default_factory is MISSING
    ]
    if missing:
        raise ValueError(f"missing {var} setting(s): {missing}")
    return cls(**configured)


def settings_from_project(cls: type[T], var: str, project_dir: Path | None = None) -> T:
    """settings_from_vars on the dbt project's var `var` (by default this repository's): the
    var is the settings' one place, so the dataclasses hold no defaults of their own."""
    # Imported here: the project module loads dagster-dbt, which its callers may not need.
    from orchestration.project import DBT_PROJECT_DIR, project_vars

    return settings_from_vars(cls, var, project_vars(project_dir or DBT_PROJECT_DIR).get(var))
