"""What a WeCom tag may be: WeCom's limits, and the separator of tags in the sync files.

Both the checks run before the night (orchestration/tag_registry.py, on each segment's
declared tag) and the publisher's WeCom files read them, so they sit below both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from orchestration.var_settings import settings_from_project, settings_from_vars

TAG_SEPARATOR: Final = "|"


@dataclass(frozen=True)
class WecomLimits:
    """WeCom's limits, from its documentation, as dbt var ``wecom_limits`` states them
    (dbt_project.yml, their one place; the dbt test wecom_tag_limits reads it too)."""

    # Customer tags per company (企业客户标签上限).
    max_tags: int
    # Characters in a tag name.
    tag_name_max_chars: int
    # Calls of one API per company per minute and per hour (主动调用频率限制).
    calls_per_minute: int
    calls_per_hour: int
    # Characters in a contact remark (备注), counted as Unicode code points, not bytes.
    remark_max_chars: int
    # Tag groups per company, and tags per group.
    max_tag_groups: int
    max_tags_per_group: int

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"wecom_limits.{name} must be a whole number from 1: {value!r}")

    @classmethod
    def from_vars(cls, configured: Mapping[str, Any] | None) -> WecomLimits:
        return settings_from_vars(cls, "wecom_limits", configured)

    @classmethod
    def from_project(cls, project_dir: Path | None = None) -> WecomLimits:
        """The limits of the dbt project's var wecom_limits (by default this repository's)."""
        return settings_from_project(cls, "wecom_limits", project_dir)
