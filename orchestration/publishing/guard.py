"""The churn guard: hold a night's exports back when it looks broken.

A broken night (a feed that arrived half empty, a join that lost its keys) shows up as
segments that suddenly double or empty, or a tag whose coverage collapses. Exported, it would
push thousands of customers who should not be pushed. So before a night is published, its
manifest is compared with the previous published night's:

- a segment whose exported size moved by more than ``max_segment_change`` (a share of the
  previous size; 0.5 = 50%) trips the guard, once the previous size is at least
  ``min_segment_size`` (small segments move by whole customers, which is no signal);
- a tag whose coverage fell by more than ``max_coverage_drop`` (a share of the previous
  coverage) trips it, once the previous coverage was at least ``min_coverage``;
- a raw source whose clean rows fell by more than ``max_source_drop`` (a share of the previous
  night's) trips it, once the previous count was at least ``min_source_rows``: a feed that
  arrived empty leaves every segment of the customers it describes looking quiet.

A tripped night is written whole to ``exports/held/<D>/`` instead of ``exports/<D>/``: the
warehouse still builds, nothing reaches marketing tools, the run ends with a warning check
naming every reason, and ``scrm release`` publishes the held night after review. A night held
for a collapsed source also keeps its BI copy back: ``published/`` goes on holding the previous
night until the release, since every mart built from that source is wrong too.

Each reason is a GuardFinding: its fields go into the manifest beside its English text, so the
nightly report words it in the operator's language without reading the text back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestration.guard_findings import SEGMENT, SOURCE, TAG, GuardFinding
from orchestration.var_settings import settings_from_project, settings_from_vars


@dataclass(frozen=True)
class ExportGuard:
    """Thresholds of the churn guard, as dbt var ``export_guard`` states them
    (dbt_project.yml, their one place)."""

    max_segment_change: float
    min_segment_size: int
    max_coverage_drop: float
    min_coverage: float
    max_source_drop: float
    min_source_rows: int

    def __post_init__(self) -> None:
        for name in ("max_segment_change", "max_coverage_drop", "min_coverage", "max_source_drop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"export_guard.{name} must be a number from 0: {value!r}")
        for name in ("min_segment_size", "min_source_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"export_guard.{name} must be a whole number")

    @classmethod
    def from_vars(cls, configured: Mapping[str, Any] | None) -> ExportGuard:
        return settings_from_vars(cls, "export_guard", configured)

    @classmethod
    def from_project(cls, project_dir: Path | None = None) -> ExportGuard:
        """The thresholds of the dbt project's var (by default this repository's)."""
        return settings_from_project(cls, "export_guard", project_dir)

    def reasons(self, tonight: Mapping[str, Any], previous: Mapping[str, Any] | None) -> list[str]:
        """Why tonight's manifest should be held, compared with the previous one; [] if not."""
        return [finding.text() for finding in self.findings(tonight, previous)]

    def findings(
        self, tonight: Mapping[str, Any], previous: Mapping[str, Any] | None
    ) -> list[GuardFinding]:
        """The reasons as fields, for the report to put in the operator's language."""
        if previous is None:
            return []
        found = self.collapsed_source_findings(tonight, previous)
        before_segments = previous.get("segments", {})
        for name, segment in sorted(tonight.get("segments", {}).items()):
            before = before_segments.get(name)
            if before is None or before["rows"] < max(self.min_segment_size, 1):
                continue
            change = (segment["rows"] - before["rows"]) / before["rows"]
            if abs(change) > self.max_segment_change:
                found.append(
                    GuardFinding(
                        SEGMENT,
                        name,
                        before["rows"],
                        segment["rows"],
                        change,
                        self.max_segment_change,
                    )
                )
        for tag, before, coverage, drop in _fell_too_far(
            tonight.get("tag_coverage", {}),
            previous.get("tag_coverage", {}),
            self.min_coverage,
            self.max_coverage_drop,
        ):
            found.append(GuardFinding(TAG, tag, before, coverage, -drop, self.max_coverage_drop))
        return found

    def collapsed_sources(
        self, tonight: Mapping[str, Any], previous: Mapping[str, Any] | None
    ) -> list[str]:
        """The raw sources whose clean rows fell too far since the previous manifest, as
        reasons; a night with any keeps its BI copy back too."""
        return [finding.text() for finding in self.collapsed_source_findings(tonight, previous)]

    def collapsed_source_findings(
        self, tonight: Mapping[str, Any], previous: Mapping[str, Any] | None
    ) -> list[GuardFinding]:
        return [
            GuardFinding(SOURCE, source, before, rows, -drop, self.max_source_drop)
            for source, before, rows, drop in _fell_too_far(
                tonight.get("source_clean_rows", {}),
                (previous or {}).get("source_clean_rows", {}),
                self.min_source_rows,
                self.max_source_drop,
            )
        ]


def _fell_too_far(
    tonight: Mapping[str, float], before: Mapping[str, float], minimum: float, max_drop: float
) -> Iterator[tuple[str, float, float, float]]:
    """(name, before, tonight, drop) of each measure that fell by more than `max_drop` (a share)
    from a previous value of at least `minimum`; a measure new tonight has nothing to fall from."""
    for name, value in sorted(tonight.items()):
        was = before.get(name)
        if was is None or was < minimum or was <= 0:
            continue
        drop = (was - value) / was
        if drop > max_drop:
            yield name, was, value, drop
