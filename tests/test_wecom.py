"""WeCom tag changes per friendship: the diff, the pacing and the dry-run summary, by hand."""

from dataclasses import replace

import pytest

from orchestration.publishing.wecom import (
    MarkTagCall,
    dry_run_summary,
    mark_tag_calls,
    parse_tags,
)
from orchestration.wecom_tags import WecomLimits

PREVIOUS = {
    ("S1", "A"): frozenset({"高价值", "宝妈"}),
    ("S1", "B"): frozenset({"流失客户"}),
    ("S2", "C"): frozenset({"未购新客"}),
    # Deleted in between: no call, the tags went with the friendship.
    ("S2", "D"): frozenset({"流失客户"}),
}
CURRENT = {
    ("S1", "A"): frozenset({"高价值", "学生"}),  # add 学生, remove 宝妈
    ("S1", "B"): frozenset({"流失客户"}),  # unchanged: no call
    ("S2", "C"): frozenset(),  # remove 未购新客
    ("S3", "A"): frozenset({"高价值", "学生"}),  # a new friendship: add both
    ("S2", "E"): frozenset(),  # new, nothing to carry: no call
}
# The project's limits: dbt var wecom_limits.
LIMITS = WecomLimits.from_project()


def test_one_call_per_current_friendship_that_changes():
    calls = mark_tag_calls(PREVIOUS, CURRENT, LIMITS)
    assert calls == [
        MarkTagCall(0, "S1", "A", ("学生",), ("宝妈",)),
        MarkTagCall(0, "S2", "C", (), ("未购新客",)),
        MarkTagCall(0, "S3", "A", ("学生", "高价值"), ()),
    ]


def test_calls_are_paced_by_minute_and_hour():
    # Two calls a minute, three an hour: minutes 0, 0, 1, then the next hour starts at 60.
    limits = replace(LIMITS, calls_per_minute=2, calls_per_hour=3)
    current = {("S1", f"C{n}"): frozenset({"t"}) for n in range(7)}
    minutes = [call.minute for call in mark_tag_calls({}, current, limits)]
    assert minutes == [0, 0, 1, 60, 60, 61, 120]
    # One call a minute is 60 an hour, under 100: the minute budget binds, minutes fill in turn.
    minutes = [
        call.minute
        for call in mark_tag_calls(
            {}, current, replace(LIMITS, calls_per_minute=1, calls_per_hour=100)
        )
    ]
    assert minutes == [0, 1, 2, 3, 4, 5, 6]


def test_dry_run_summary():
    summary = dry_run_summary(mark_tag_calls(PREVIOUS, CURRENT, LIMITS))
    assert summary["calls"] == summary["friendships_touched"] == 3
    assert summary["customers_touched"] == 2
    assert (summary["tags_touched"], summary["adds"], summary["removes"]) == (4, 3, 2)
    assert summary["per_tag"]["学生"] == {"add": 2, "remove": 0}
    assert summary["largest_changes"][0] == {"tag": "学生", "add": 2, "remove": 0}
    assert summary["minutes_needed"] == 1
    assert summary["per_staff"] == {"S1": 1, "S2": 1, "S3": 1}
    assert dry_run_summary([])["minutes_needed"] == 0


def test_parse_tags_and_limits():
    assert parse_tags("高价值|宝妈") == {"高价值", "宝妈"}
    assert parse_tags("") == parse_tags(None) == frozenset()
    # WeCom's documented limits, written once in dbt_project.yml; the dbt test
    # wecom_tag_limits reads the last two from the same var.
    assert (
        WecomLimits(
            max_tags=10_000,
            tag_name_max_chars=15,
            calls_per_minute=10_000,
            calls_per_hour=150_000,
            remark_max_chars=20,
            max_tag_groups=100,
            max_tags_per_group=100,
        )
        == LIMITS
    )
    configured = {**LIMITS.__dict__, "calls_per_minute": 50}
    assert WecomLimits.from_vars(configured).calls_per_minute == 50
    with pytest.raises(ValueError, match="unknown wecom_limits"):
        WecomLimits.from_vars({**configured, "calls_per_second": 1})
    with pytest.raises(
        ValueError, match=r"missing wecom_limits setting\(s\): \['max_tag_groups'\]"
    ):
        WecomLimits.from_vars({k: v for k, v in configured.items() if k != "max_tag_groups"})
    with pytest.raises(ValueError, match="calls_per_hour"):
        replace(LIMITS, calls_per_hour=0)


def _registry_with(wecom_tag):
    """The registry `scrm prepare` writes, for one non-exclusive segment mapped to wecom_tag."""
    from orchestration.tag_registry import render_registry

    declaration = {"display_name": "高价值客户", "exclusive": False, "wecom_tag": wecom_tag}
    return render_registry([], {"seg_high_value": declaration})


@pytest.mark.parametrize(
    ("wecom_tag", "problem"),
    [
        # The sync files join a friendship's tags with '|': 高价值|VIP would come back as two.
        ("高价值|VIP", "contains '|', which separates tags in the sync files"),
        # WeCom would store the spaces; the tag would differ from the one operators type.
        (" 高价值", "starts or ends with whitespace"),
        ("高价值\t", "starts or ends with whitespace"),
    ],
)
def test_prepare_refuses_a_tag_the_sync_would_change(wecom_tag, problem):
    from orchestration.tag_registry import PrepareError

    with pytest.raises(PrepareError) as caught:
        _registry_with(wecom_tag)
    assert str(caught.value) == f"segment seg_high_value: WeCom tag {wecom_tag!r} {problem}"


def test_prepare_accepts_a_tag_with_inner_spaces():
    assert '"wecom_tag": "高价值 VIP"' in _registry_with("高价值 VIP")
