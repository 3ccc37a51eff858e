"""Settings dataclasses from the dbt project's vars, checked the same way everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields
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
