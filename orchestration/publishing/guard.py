"""The churn guard: hold a night's exports back when it looks broken.

A broken night (a feed that arrived half empty, a join that lost its keys) shows up as
segments that suddenly double or empty, or a tag whose coverage collapses. Exported, it would
push thousands of customers who should not be pushed. So before a night is published, its
manifest is compared with the previous published night's:

- a segment whose exported size moved by more than ``max_segment_change`` (a share of the
  previous size; 0.5 = 50%) trips the guard, once the previous size is at least
  ``min_segment_size`` (small segments move by whole customers, which is no signal);
- a tag whose coverage fell by more than ``max_coverage_drop`` (a share of the previous
  coverage) trips it, once the previous coverage was at least ``min_coverage``.

A tripped night is written whole to ``exports/held/<D>/`` instead of ``exports/<D>/``: the
warehouse and the BI copy still build, nothing reaches marketing tools, the run ends with a
warning check naming every reason, and ``scrm release`` publishes the held night after review.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestration.publishing.wecom import settings_from_vars


@dataclass(frozen=True)
class ExportGuard:
    """Thresholds of the churn guard; dbt var ``export_guard`` overrides the defaults."""

    max_segment_change: float = 0.5
    min_segment_size: int = 50
    max_coverage_drop: float = 0.5
    min_coverage: float = 0.05

    def __post_init__(self) -> None:
        for name in ("max_segment_change", "max_coverage_drop", "min_coverage"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"export_guard.{name} must be a number from 0: {value!r}")
        if isinstance(self.min_segment_size, bool) or not isinstance(self.min_segment_size, int):
            raise ValueError("export_guard.min_segment_size must be a whole number")

    @classmethod
    def from_vars(cls, configured: Mapping[str, Any] | None) -> ExportGuard:
        return settings_from_vars(cls, "export_guard", configured)

    def reasons(self, tonight: Mapping[str, Any], previous: Mapping[str, Any] | None) -> list[str]:
        """Why tonight's manifest should be held, compared with the previous one; [] if not."""
        if previous is None:
            return []
        found = []
        before_segments = previous.get("segments", {})
        for name, segment in sorted(tonight.get("segments", {}).items()):
            before = before_segments.get(name)
            if before is None or before["rows"] < max(self.min_segment_size, 1):
                continue
            change = (segment["rows"] - before["rows"]) / before["rows"]
            if abs(change) > self.max_segment_change:
                found.append(
                    f"segment {name}: {before['rows']} → {segment['rows']} customers "
                    f"({change:+.0%}; the guard allows ±{self.max_segment_change:.0%})"
                )
        before_coverage = previous.get("tag_coverage", {})
        for tag, coverage in sorted(tonight.get("tag_coverage", {}).items()):
            before = before_coverage.get(tag)
            if before is None or before < self.min_coverage or before == 0:
                continue
            drop = (before - coverage) / before
            if drop > self.max_coverage_drop:
                found.append(
                    f"tag {tag}: coverage {before:.1%} → {coverage:.1%} "
                    f"(-{drop:.0%}; the guard allows -{self.max_coverage_drop:.0%})"
                )
        return found
