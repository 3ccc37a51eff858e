"""WeCom customer groups (客户群) on the tiny fixture plus tests/fixtures/raw_groups, as of
2026-03-31, worked by hand (tests/fixtures/README.md)."""

from pathlib import Path

import pytest

from tests.conftest import (
    FIXTURES,
    TINY_AS_OF,
    TINY_RAW,
    night_fixture,
    query,
    tiny_night_with,
)
from tests.test_point_in_time import assert_same_night

GROUPS_RAW = FIXTURES / "raw_groups"
GROUPS_RAW_AS_OF = FIXTURES / "raw_groups_as_of_2026_03_31"
TINY_RAW_AS_OF = FIXTURES / "raw_tiny_as_of_2026_03_31"


@night_fixture(scope="module")
def groups_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_night_with(tmp_path_factory.mktemp("groups"), TINY_RAW, GROUPS_RAW)


def test_every_group_row_is_accounted_for(groups_warehouse):
    """groups: G1's first row is superseded by its rename of 04-02 and copied once (a
    duplicate); G5's created_at and G6's owner are missing or bad. group_members: C9 is no
    customer, G7 no group and G5 a quarantined one, `enter` no event; one join is copied."""
    assert query(
        groups_warehouse,
        "select source_name, raw_rows, clean_rows, quarantined_rows, duplicate_rows,"
        " superseded_rows, erased_rows, is_balanced from marts.raw_row_accounting"
        " where source_name like 'group%' order by 1",
    ) == [("group_members", 14, 9, 4, 1, 0, 0, True), ("groups", 8, 4, 2, 1, 1, 0, True)]
    assert query(
        groups_warehouse,
        "select quarantine_reason, group_id from marts.quarantine_groups order by 2",
    ) == [("invalid_created_at", "G5"), ("missing_owner_staff_id", "G6")]
    assert query(
        groups_warehouse,
        "select quarantine_reason, group_id, customer_id, event_type"
        " from marts.quarantine_group_members order by _raw_row_number",
    ) == [
        ("unknown_customer", "G1", "C9", "join"),
        ("unknown_group", "G7", "C1", "join"),
        ("unknown_event_type", "G1", "C1", "enter"),
        ("unknown_group", "G5", "C1", "join"),
    ]


def test_groups_and_membership_as_of_the_night(groups_warehouse):
    """G1 keeps its name of the night (renamed 04-02), G3 is not yet dismissed (04-05) and G4
    not yet created (04-02). C2 left G1 on 03-25; C3's leave is on 04-02; G2's dismissal on
    03-20 ended C1's and C5's memberships."""
    assert query(
        groups_warehouse,
        "select group_id, group_name, owner_staff_id, cast(created_on as varchar),"
        " cast(dismissed_on as varchar) from marts.dim_groups order by 1",
    ) == [
        ("G1", "宝妈福利群", "S1", "2026-03-01", None),
        ("G2", "车品交流群", "S2", "2026-03-05", "2026-03-20"),
        ("G3", "Skincare VIP", "S1", "2026-03-28", None),
    ]
    assert query(
        groups_warehouse,
        "select group_id, source_customer_id, join_scene, cast(left_on as varchar),"
        " left_by_dismissal, is_member from marts.group_memberships order by 1, 2",
    ) == [
        ("G1", "C1", "qr_code", None, False, True),
        ("G1", "C2", "invited", "2026-03-25", False, False),
        ("G1", "C3", "link", None, False, True),
        ("G2", "C1", "invited", "2026-03-20", True, False),
        ("G2", "C5", "qr_code", "2026-03-20", True, False),
        ("G3", "C5", "link", None, False, True),
    ]


def test_group_metrics_daily(groups_warehouse):
    """A row per group and day: G1 03-01 to 03-31 (31 rows), 3 joins and C2's leave, 2 at
    the end; G2 03-05 to its dismissal on 03-20 (16 rows), C1 and C5 leaving with it; G3 03-28
    to 03-31 (4 rows), C5 in since 03-29."""
    assert query(
        groups_warehouse,
        "select group_id, count(*), sum(members_joined), sum(members_left),"
        " cast(min(event_on) as varchar), cast(max(event_on) as varchar),"
        " max_by(members_total, event_on) from marts.group_metrics_daily group by 1 order by 1",
    ) == [
        ("G1", 31, 3, 1, "2026-03-01", "2026-03-31", 2),
        ("G2", 16, 2, 2, "2026-03-05", "2026-03-20", 0),
        ("G3", 4, 1, 0, "2026-03-28", "2026-03-31", 1),
    ]
    assert query(
        groups_warehouse,
        "select members_joined, members_left, net_members, members_total, is_dismissal_day"
        " from marts.group_metrics_daily where group_id = 'G2' and event_on = '2026-03-20'",
    ) == [(0, 2, -2, 0, True)]


def test_group_tags_and_the_leavers_segment(groups_warehouse):
    """C1 in G1 since 03-01 (30 days); C3 since 03-03 (28); C5 in G3 since 03-29 (2), with
    the one group_message of the fixture (I4, 03-25): low. C2 left G1 on 03-25, 6 days before
    the night: left in 30 days, and in this week's leavers."""
    assert query(
        groups_warehouse,
        "select customer_id, group_count, days_in_groups, group_messages_30d, group_activity,"
        " left_group_30d from marts.customer_profile order by 1",
    ) == [
        ("C1", 1, 30, 0, "none", False),
        ("C2", 0, None, 0, "none", True),
        ("C3", 1, 28, 0, "none", False),
        ("C5", 1, 2, 1, "low", False),
    ]
    assert query(
        groups_warehouse,
        "select customer_id, cast(last_left_on as varchar), last_left_group_name, groups_left,"
        " group_count, friend_status, reason from segments.seg_left_group_this_week",
    ) == [
        (
            "C2",
            "2026-03-25",
            "宝妈福利群",
            1,
            0,
            "deleted_by_customer",
            "days_since_left_group=6 < 7; groups_left=1",
        )
    ]


def test_a_past_night_of_groups_rebuilds_the_same(groups_warehouse, tmp_path):
    """The files as they were on 03-31 (no G4, no rename, no dismissal of G3 and no event
    after the night) give the same marts and tags."""
    truncated = tiny_night_with(tmp_path, TINY_RAW_AS_OF, GROUPS_RAW_AS_OF)
    assert_same_night(groups_warehouse, truncated, TINY_AS_OF)
