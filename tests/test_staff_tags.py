"""Staff-entered tags (个人标签 / 企业标签) on the tiny fixture plus tests/fixtures/
raw_staff_tags, as of 2026-03-31, worked by hand (tests/fixtures/README.md)."""

from pathlib import Path

import pytest

from orchestration.tag_rules import compile_rule
from tests.conftest import (
    FIXTURES,
    TINY_AS_OF,
    TINY_RAW,
    night_fixture,
    query,
    tiny_night_with,
)
from tests.test_point_in_time import assert_same_night

STAFF_TAGS_RAW = FIXTURES / "raw_staff_tags"
STAFF_TAGS_RAW_AS_OF = FIXTURES / "raw_staff_tags_as_of_2026_03_31"
TINY_RAW_AS_OF = FIXTURES / "raw_tiny_as_of_2026_03_31"


@night_fixture(scope="module")
def staff_tags_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_night_with(tmp_path_factory.mktemp("staff_tags"), TINY_RAW, STAFF_TAGS_RAW)


def test_every_staff_tag_row_is_accounted_for(staff_tags_warehouse):
    """tag_library: 想参加活动's first row is superseded by its deletion of 04-10, 宝妈 is
    copied once, 彩妆's created_at is no date and one row has no group. staff_tags: C9 is no
    customer, 土豪 no tag and 彩妆 only a quarantined one, `tag` no action, one row has no
    staff; the first row is copied once."""
    assert query(
        staff_tags_warehouse,
        "select source_name, raw_rows, clean_rows, quarantined_rows, duplicate_rows,"
        " superseded_rows, erased_rows, is_balanced from marts.raw_row_accounting"
        " where source_name in ('staff_tags', 'tag_library') order by 1",
    ) == [("staff_tags", 23, 17, 5, 1, 0, 0, True), ("tag_library", 17, 13, 2, 1, 1, 0, True)]
    assert query(
        staff_tags_warehouse,
        "select quarantine_reason, tag_group, tag_name from marts.quarantine_tag_library"
        " order by _raw_row_number",
    ) == [("invalid_created_at", "兴趣偏好", "彩妆"), ("missing_tag_group", None, "无组标签")]
    assert query(
        staff_tags_warehouse,
        "select quarantine_reason, staff_id, customer_id, tag_name, action"
        " from marts.quarantine_staff_tags order by _raw_row_number",
    ) == [
        ("unknown_customer", "S1", "C9", "宝妈", "add"),
        ("unknown_tag", "S1", "C1", "土豪", "add"),
        ("unknown_action", "S1", "C1", "护肤", "tag"),
        ("missing_staff_id", None, "C1", "护肤", "add"),
        ("unknown_tag", "S2", "C3", "彩妆", "add"),
    ]


def test_the_library_and_the_events_as_of_the_night(staff_tags_warehouse):
    """母婴 is created on 04-05, after the night; 想参加活动 is deleted on 04-10, not yet;
    催发货 on 03-25, deleted. Of the 17 clean events, three come after the night (C2's 孕期
    on 04-02, C1's 母婴 on 04-06, C3's removal of 投诉过 at 00:30 on 04-01); C3's second
    投诉过 by S2 changes nothing; C1's 自动标签/宝妈 is our own sync's."""
    assert query(
        staff_tags_warehouse,
        "select tag_group, tag_name, is_deleted from marts.dim_tag_library"
        " where is_deleted or tag_name in ('母婴', '想参加活动') order by 1, 2",
    ) == [("服务记录", "催发货", True), ("活动意向", "想参加活动", False)]
    assert query(staff_tags_warehouse, "select count(*) from marts.dim_tag_library") == [(12,)]
    assert query(
        staff_tags_warehouse,
        "select staff_id, customer_id, tag_name, tag_action, tag_delta, is_warehouse_sync"
        " from marts.fct_staff_tag_events where tag_delta <> 1 or is_warehouse_sync"
        " order by event_at",
    ) == [
        ("S1", "C1", "宝妈", "add", 1, True),
        ("S2", "C3", "投诉过", "add", 0, False),
        ("S1", "C1", "不喜欢香味", "remove", -1, False),
    ]
    assert query(staff_tags_warehouse, "select count(*) from marts.fct_staff_tag_events") == [(14,)]


def test_customer_staff_tags_with_who_and_when(staff_tags_warehouse):
    """C1 keeps 宝妈, 护肤 and 想参加活动 (不喜欢香味 removed, the synced 宝妈 not staff's);
    C2 等直播 (20:00 on 03-28, Shanghai); C3 宝妈 and 投诉过 (催发货 deleted from the
    library); C5 投诉过 from two friendships, S1's the latest, and 生日月."""
    assert query(
        staff_tags_warehouse,
        "select customer_id, tag_group, tag_name, set_by_staff_id,"
        " cast(set_at as varchar), friendship_count"
        " from marts.customer_staff_tags order by 1, 2, 3",
    ) == [
        ("C1", "兴趣偏好", "护肤", "S1", "2026-03-05 11:00:00", 1),
        ("C1", "客户身份", "宝妈", "S1", "2026-03-02 10:00:00", 1),
        ("C1", "活动意向", "想参加活动", "S1", "2026-03-06 12:00:00", 1),
        ("C2", "活动意向", "等直播", "S1", "2026-03-28 20:00:00", 1),
        ("C3", "客户身份", "宝妈", "S2", "2026-03-10 09:30:00", 1),
        ("C3", "服务记录", "投诉过", "S2", "2026-03-12 15:00:00", 1),
        ("C5", "会员运营", "生日月", "S1", "2026-03-22 10:05:00", 1),
        ("C5", "服务记录", "投诉过", "S1", "2026-03-22 10:00:00", 2),
    ]


def test_profile_columns_per_tag_group(staff_tags_warehouse):
    """A column per tag group, a '|' list in order; 会员运营 has none, so 生日月 is in
    staff_other_tags as 'group/tag'. The last tag set and by whom."""
    assert query(
        staff_tags_warehouse,
        "select customer_id, staff_identity_tags, staff_interest_tags, staff_intent_tags,"
        " staff_service_tags, staff_other_tags, staff_tag_count,"
        " cast(staff_tags_last_set_on as varchar), staff_tags_last_set_by"
        " from marts.customer_profile order by 1",
    ) == [
        ("C1", "宝妈", "护肤", "想参加活动", None, None, 3, "2026-03-06", "S1"),
        ("C2", None, None, "等直播", None, None, 1, "2026-03-28", "S1"),
        ("C3", "宝妈", None, None, "投诉过", None, 2, "2026-03-12", "S2"),
        ("C5", None, None, None, "投诉过", "会员运营/生日月", 2, "2026-03-22", "S1"),
    ]


def test_the_catalog_lists_them_as_staff_tags(staff_tags_warehouse):
    """Eight staff tags, their own kind: not computed, and not synced as WeCom tag groups."""
    assert query(
        staff_tags_warehouse,
        "select tag_source, count(*), count(case when is_categorical then 1 end)"
        " from marts.tag_catalog group by 1 order by 1",
    )[-1] == ("staff", 8, 0)
    assert query(
        staff_tags_warehouse,
        "select tag_category, coverage from marts.tag_catalog"
        " where tag_name = 'staff_identity_tags'",
    ) == [("basic_attributes", 0.5)]


def test_conflicts_are_listed_not_resolved(staff_tags_warehouse):
    """S2 tagged C3 宝妈; her survey says 学生. C1 is 宝妈 both ways: no conflict. The profile
    keeps both values."""
    assert query(
        staff_tags_warehouse,
        "select customer_id, staff_tag_group, staff_tag_name, set_by_staff_id,"
        " cast(set_on as varchar), computed_tag, computed_value"
        " from marts.staff_tag_conflicts",
    ) == [("C3", "客户身份", "宝妈", "S2", "2026-03-10", "identity", "学生")]
    assert query(
        staff_tags_warehouse,
        "select identity, staff_identity_tags from marts.customer_profile where customer_id = 'C3'",
    ) == [("学生", "宝妈")]


def test_rules_and_segments_read_a_tag_group_list(staff_tags_warehouse):
    """has_tag finds 宝妈 in C1's and C3's 客户身份 list, compiled against the profile's
    declared columns as tag_rules.yml would be; a segment's criterion reads the same column."""
    columns = dict(
        query(
            staff_tags_warehouse,
            "select tag_name, value_type from marts.tag_catalog where tag_source <> 'rule'",
        )
    )
    rule = compile_rule("has_tag(staff_identity_tags, '宝妈') and identity <> '宝妈'", columns)
    assert query(
        staff_tags_warehouse, f"select customer_id from marts.customer_profile where {rule}"
    ) == [("C3",)]
    criterion = "instr('|' || staff_identity_tags || '|', '|宝妈|') > 0"
    assert query(
        staff_tags_warehouse,
        f"select customer_id from marts.customer_profile where {criterion} order by 1",
    ) == [("C1",), ("C3",)]


def test_the_history_keeps_staff_tags(staff_tags_warehouse):
    """Kept like every tag: the night's row in customer_profile_history and the long form."""
    assert query(
        staff_tags_warehouse,
        "select customer_id, tag_value from marts.customer_tags_history"
        " where tag_name = 'staff_service_tags' order by 1",
    ) == [("C3", "投诉过"), ("C5", "投诉过")]


def test_a_past_night_of_staff_tags_rebuilds_the_same(staff_tags_warehouse, tmp_path):
    """The files as they were on 03-31 (no 母婴, no deletion of 想参加活动, no event after
    the night) give the same marts and tags."""
    truncated = tiny_night_with(tmp_path, TINY_RAW_AS_OF, STAFF_TAGS_RAW_AS_OF)
    assert_same_night(staff_tags_warehouse, truncated, TINY_AS_OF)
