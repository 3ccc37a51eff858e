"""The churn guard's decision, on hand-made manifests."""

from dataclasses import asdict, replace

import pytest

from orchestration.guard_findings import SEGMENT, SOURCE, TAG, GuardFinding
from orchestration.language import speaking
from orchestration.publishing.guard import ExportGuard
from orchestration.reporting.nightly_report import _guard_finding_text

# The project's thresholds (dbt var export_guard): ±50% from 50 customers, coverage -50% from
# 5%, clean rows -50% from 100.
GUARD = ExportGuard.from_project()


def manifest(sizes: dict[str, int], coverage: dict[str, float] | None = None) -> dict:
    return {
        "segments": {name: {"rows": rows} for name, rows in sizes.items()},
        "tag_coverage": coverage or {},
    }


def test_segment_size_changes_beyond_the_share_hold_the_night():
    previous = manifest({"seg_a": 100, "seg_b": 100, "seg_c": 100, "seg_small": 10})
    tonight = manifest(
        {
            "seg_a": 150,  # +50%: exactly the limit, allowed
            "seg_b": 151,  # +51%: held
            "seg_c": 0,  # emptied: -100%, held
            "seg_small": 40,  # +300%, but 10 < min_segment_size 50: no signal
            "seg_new": 5000,  # not in the previous night: nothing to compare
        }
    )
    assert GUARD.reasons(tonight, previous) == [
        "segment seg_b: 100 → 151 customers (+51%; the guard allows ±50%)",
        "segment seg_c: 100 → 0 customers (-100%; the guard allows ±50%)",
    ]


def test_a_collapsed_tag_coverage_holds_the_night():
    previous = manifest({}, {"identity": 0.70, "skin_type": 0.40, "rare": 0.01})
    tonight = manifest({}, {"identity": 0.34, "skin_type": 0.21, "rare": 0.0})
    # identity lost 51% of its coverage; skin_type 47.5%; rare was under min_coverage 5%.
    assert GUARD.reasons(tonight, previous) == [
        "tag identity: coverage 70.0% → 34.0% (-51%; the guard allows -50%)"
    ]


def test_first_night_and_settings():
    assert GUARD.reasons(manifest({"seg_a": 1}), None) == []
    strict = ExportGuard.from_vars(
        {**asdict(GUARD), "max_segment_change": 0.1, "min_segment_size": 1}
    )
    assert strict.reasons(manifest({"seg_a": 12}), manifest({"seg_a": 10})) == [
        "segment seg_a: 10 → 12 customers (+20%; the guard allows ±10%)"
    ]
    with pytest.raises(ValueError, match="unknown export_guard"):
        ExportGuard.from_vars({**asdict(GUARD), "max_change": 0.2})
    # The var is the thresholds' one place: a missing one is an error, not a default.
    with pytest.raises(
        ValueError, match=r"missing export_guard setting\(s\): \['min_source_rows'\]"
    ):
        ExportGuard.from_vars({k: v for k, v in asdict(GUARD).items() if k != "min_source_rows"})
    with pytest.raises(ValueError, match="max_coverage_drop"):
        replace(GUARD, max_coverage_drop=-1)


def test_a_raw_source_whose_clean_rows_collapse_holds_the_night():
    previous = {"source_clean_rows": {"interactions": 149_000, "orders": 1_000, "products": 99}}
    tonight = {"source_clean_rows": {"interactions": 0, "orders": 499, "products": 0}}
    # interactions -100%; orders -50.1%; products was under min_source_rows 100.
    reasons = [
        "source interactions: 149,000 → 0 clean rows (-100%; the guard allows -50%)",
        "source orders: 1,000 → 499 clean rows (-50%; the guard allows -50%)",
    ]
    assert GUARD.collapsed_sources(tonight, previous) == reasons
    assert GUARD.reasons(tonight, previous) == reasons
    tonight["source_clean_rows"]["orders"] = 500  # exactly -50%: allowed
    assert GUARD.collapsed_sources(tonight, previous) == reasons[:1]
    # A source new tonight, or a first night, has nothing to compare with.
    assert GUARD.collapsed_sources({"source_clean_rows": {"staff": 0}}, previous) == []
    assert GUARD.collapsed_sources(tonight, None) == []
    lenient = replace(GUARD, max_source_drop=1.0)
    assert lenient.collapsed_sources(tonight, previous) == []
    with pytest.raises(ValueError, match="min_source_rows must be a whole number"):
        replace(GUARD, min_source_rows=1.5)


def test_the_reasons_are_kept_as_fields_and_read_in_the_operators_language():
    previous = {
        "segments": {"seg_churned": {"rows": 100}},
        "tag_coverage": {"identity": 0.70},
        "source_clean_rows": {"interactions": 149_000},
    }
    tonight = {
        "segments": {"seg_churned": {"rows": 1}},
        "tag_coverage": {"identity": 0.10},
        "source_clean_rows": {"interactions": 0},
    }
    findings = GUARD.findings(tonight, previous)
    # Changes as shares of the previous value: (1 - 100) / 100, (0.10 - 0.70) / 0.70, -1.
    assert findings == [
        GuardFinding(SOURCE, "interactions", 149_000, 0, -1.0, 0.5),
        GuardFinding(SEGMENT, "seg_churned", 100, 1, -0.99, 0.5),
        GuardFinding(TAG, "identity", 0.70, 0.10, pytest.approx(-6 / 7), 0.5),
    ]
    # The manifest keeps the fields beside the text; they come back as they went.
    assert [GuardFinding.from_fields(finding.fields()) for finding in findings] == findings
    assert [finding.text() for finding in findings] == GUARD.reasons(tonight, previous)
    segments, tags = {"seg_churned": "流失客户"}, {"identity": "身份"}
    with speaking("zh"):
        assert [_guard_finding_text(f, segments, tags) for f in findings] == [
            "数据源 interactions：干净行 149,000 → 0（-100%；流失保护允许 -50%）",
            "人群包 流失客户 (seg_churned)：100 → 1 位客户（-99%；流失保护允许 ±50%）",
            "标签 身份 (identity)：覆盖率 70.0% → 10.0%（-86%；流失保护允许 -50%）",
        ]
    # The names come in the page's language: English ones where the YAML has them.
    english_segments, no_english_tags = {"seg_churned": "Churned"}, {}
    with speaking("en"):
        assert [_guard_finding_text(f, english_segments, no_english_tags) for f in findings] == [
            "source interactions: 149,000 → 0 clean rows (-100%; the guard allows -50%)",
            "segment Churned (seg_churned): 100 → 1 customers (-99%; the guard allows ±50%)",
            "tag identity: coverage 70.0% → 10.0% (-86%; the guard allows -50%)",
        ]
