"""A reason the churn guard held a night, as the night's manifest records it.

The guard (orchestration/publishing/guard.py) writes these fields into the manifest beside
the reason's English text; the nightly report reads them back to word the reason in the
operator's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

# What a finding measures: a segment's exported customers, a tag's coverage (a share of the
# known customers), a raw source's clean rows.
SEGMENT: Final = "segment"
TAG: Final = "tag"
SOURCE: Final = "source"


@dataclass(frozen=True)
class GuardFinding:
    """One reason to hold a night, as fields: what moved, from what to what, its change (a
    signed share of ``before``) and the change the guard allows (a share). The manifest keeps
    these beside the reason's text, so the report words it in the operator's language without
    reading the text back."""

    kind: str
    name: str
    before: float
    tonight: float
    change: float
    allowed: float

    def text(self) -> str:
        """The reason as the manifest, logs and `scrm release` give it (English)."""
        if self.kind == SEGMENT:
            return (
                f"segment {self.name}: {self.before} → {self.tonight} customers "
                f"({self.change:+.0%}; the guard allows ±{self.allowed:.0%})"
            )
        if self.kind == TAG:
            return (
                f"tag {self.name}: coverage {self.before:.1%} → {self.tonight:.1%} "
                f"(-{-self.change:.0%}; the guard allows -{self.allowed:.0%})"
            )
        return (
            f"source {self.name}: {self.before:,} → {self.tonight:,} clean rows "
            f"(-{-self.change:.0%}; the guard allows -{self.allowed:.0%})"
        )

    def fields(self) -> dict[str, Any]:
        """The finding as the manifest's guard.findings keeps it."""
        return asdict(self)

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> GuardFinding:
        return cls(**{name: fields[name] for name in _FINDING_FIELDS})


_FINDING_FIELDS: Final = tuple(GuardFinding.__dataclass_fields__)
