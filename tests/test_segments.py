"""Segments (人群包) on the customer-story fixture, members worked out by hand.

Stories: tests/fixtures/raw_customer_marts/README.md.
"""

from tests.conftest import CUSTOMER_MARTS_AS_OF, query

EXPECTED_MEMBERS = {
    # Friends with no purchase: B (only order refunded) and H.
    "seg_never_bought": ["B", "H"],
    # Confirmed purchase, none in 30 days: C (90), E (exactly 30), G (149), I (33). D bought
    # 29 days ago; E's order of 06-20 was cancelled and is no purchase.
    "seg_churned": ["C", "E", "G", "I"],
    "seg_mask_repurchase_due": ["E", "F", "I"],
    "seg_high_value": [],
    # Active in 30 days, not in 15: F opened content on 06-10.
    "seg_about_to_go_silent": ["F"],
    # Value tier vip or high, no level above 普通会员: A (C is 银卡, D 金卡).
    "seg_membership_invite": ["A"],
    "seg_car_seat_cross_sell": ["D"],
    # Current friends only: G (宝妈) deleted us.
    "seg_identity_baoma": ["B"],
    "seg_identity_student": ["F"],
    "seg_identity_office_worker": ["A", "C", "I"],
}


def members(warehouse, as_of: str) -> dict[str, list[str]]:
    found = {name: [] for name in EXPECTED_MEMBERS}
    for segment, customer in query(
        warehouse,
        f"""
        select segment_name, customer_id from marts.segment_membership
        where as_of_date = '{as_of}' order by segment_name, customer_id
        """,
    ):
        found.setdefault(segment, []).append(customer)
    return found


def test_segment_members(customer_marts_warehouse):
    assert members(customer_marts_warehouse, CUSTOMER_MARTS_AS_OF) == EXPECTED_MEMBERS


def test_segment_columns_are_the_declared_ones(customer_marts_warehouse):
    assert query(
        customer_marts_warehouse,
        "select * from segments.seg_mask_repurchase_due order by customer_id",
    ) == query(
        customer_marts_warehouse,
        """
        select customer_id, sku_id, expected_run_out_on from marts.customer_product_repurchase
        where customer_id in ('E', 'F', 'I') and is_repurchase_due order by customer_id
        """,
    )
    assert query(customer_marts_warehouse, "select * from segments.seg_car_seat_cross_sell")[0][
        :2
    ] == ("D", "儿童安全用品")


def test_membership_is_kept_per_night(customer_marts_warehouse):
    night_before = members(customer_marts_warehouse, "2026-06-29")
    # On 06-29 E had bought 29 days before: not churned yet.
    assert night_before["seg_churned"] == ["C", "G", "I"]
    assert night_before["seg_mask_repurchase_due"] == ["E", "F", "I"]


def test_wecom_remarks_fit_the_limit(customer_marts_warehouse):
    remarks = dict(query(customer_marts_warehouse, "select * from marts.wecom_customer_remarks"))
    assert remarks["C"] == "★★★|上班族|互动0"
    assert remarks["I"] == "★|上班族|互动3"
    assert remarks["H"] == "||互动1"
    assert max(len(remark) for remark in remarks.values()) <= 20
