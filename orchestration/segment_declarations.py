"""A segment's declaration, its model's meta.segment block, read and checked.

Read from dbt's graph both before the night (orchestration/tag_registry.py writes the checked
settings into the registry) and by the night's exports (orchestration/segments.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestration.wecom_tags import TAG_SEPARATOR, WecomLimits


def segment_declaration(node: dict[str, Any]) -> dict[str, Any] | None:
    """A manifest node's segment block: models under models/segments/ with config.meta.segment."""
    fqn = node.get("fqn", [])
    if node.get("resource_type") != "model" or len(fqn) < 3 or fqn[1] != "segments":
        return None
    return ((node.get("config") or {}).get("meta") or {}).get("segment")


MAX_HOLDOUT_SHARE = 0.5


class SegmentDeclarationError(ValueError):
    """A segment's meta.segment block cannot be used; the message names the segment."""


@dataclass(frozen=True)
class SegmentSettings:
    """How segment_membership treats a segment's members (docs/segments.md).

    priority: lower wins among exclusive segments; exclusive: a push, at most one per customer
    a night; holdout_share: the share kept out of the export as a control group.
    """

    priority: int | None
    exclusive: bool
    holdout_share: float


def segment_settings(name: str, declaration: dict[str, Any]) -> SegmentSettings:
    """A segment's settings from its meta.segment block, checked, with the defaults."""
    exclusive = declaration.get("exclusive", True)
    priority = declaration.get("priority")
    holdout_share = declaration.get("holdout_share", 0)
    if not isinstance(exclusive, bool):
        raise SegmentDeclarationError(f"segment {name}: exclusive must be true or false")
    if priority is not None and (
        isinstance(priority, bool) or not isinstance(priority, int) or priority < 1
    ):
        raise SegmentDeclarationError(
            f"segment {name}: priority must be a whole number from 1, got {priority!r}"
        )
    if exclusive and priority is None:
        raise SegmentDeclarationError(
            f"segment {name}: an exclusive segment needs a priority (lower wins), "
            "or declare exclusive: false"
        )
    if (
        isinstance(holdout_share, bool)
        or not isinstance(holdout_share, int | float)
        or not 0 <= holdout_share <= MAX_HOLDOUT_SHARE
    ):
        raise SegmentDeclarationError(
            f"segment {name}: holdout_share must be a number from 0 to {MAX_HOLDOUT_SHARE}, "
            f"got {holdout_share!r}"
        )
    return SegmentSettings(priority, exclusive, float(holdout_share))


def check_wecom_mapping(declarations: dict[str, dict[str, Any]], limits: WecomLimits) -> None:
    """The segments' WeCom tags must fit WeCom and reach it unchanged: no separator, no
    surrounding whitespace, name length, and number of tags in all."""
    tags: dict[str, str] = {}
    for name, declaration in sorted(declarations.items()):
        tag = declaration.get("wecom_tag")
        if tag is None:
            continue
        if not isinstance(tag, str) or not tag.strip():
            raise SegmentDeclarationError(f"segment {name}: wecom_tag must be a non-empty text")
        if TAG_SEPARATOR in tag:
            raise SegmentDeclarationError(
                f"segment {name}: WeCom tag {tag!r} contains {TAG_SEPARATOR!r}, which separates "
                "tags in the sync files"
            )
        if tag != tag.strip():
            raise SegmentDeclarationError(
                f"segment {name}: WeCom tag {tag!r} starts or ends with whitespace"
            )
        if len(tag) > limits.tag_name_max_chars:
            raise SegmentDeclarationError(
                f"segment {name}: WeCom tag {tag!r} has {len(tag)} characters; WeCom allows "
                f"{limits.tag_name_max_chars} (var wecom_limits.tag_name_max_chars)"
            )
        tags.setdefault(tag, name)
    if len(tags) > limits.max_tags:
        raise SegmentDeclarationError(
            f"segments map to {len(tags)} WeCom tags; WeCom allows {limits.max_tags} per "
            "company (var wecom_limits.max_tags)"
        )
