"""The nightly job on tests/fixtures/raw_tiny as of 2026-03-31, against hand-computed values.

Run started at 2026-04-30 12:00 (Shanghai). Per source, the hand count of the fixture:

customers (9 rows): C1 twice identically (1 duplicate); C6 twice with different gender
(conflict: both quarantined); a row without id (quarantined); C3's gender X and birthday
"not-a-date" are nulled, not quarantined. Clean: C1 C2 C3 C4 C5.
orders (14): O1 twice (1 duplicate); quarantined O7 (customer C9 unknown), O8 (status
"shipped"), O9 (-5.00), O10 (2099), O11 (month 13), O12 ("1,299.00"), O13 (C6 was
quarantined, so unknown). Clean: O1..O6; O6 is after the as-of date.
"""

from datetime import date
from decimal import Decimal

from orchestration.reporting.nightly_report import render_nightly_report
from tests.conftest import TINY_AS_OF, query
from tests.test_nightly_report import ParsedReport


def test_every_raw_row_is_accounted_for(tiny_warehouse):
    rows = query(
        tiny_warehouse,
        "select source_name, raw_rows, clean_rows, quarantined_rows, duplicate_rows, is_balanced"
        " from marts.raw_row_accounting order by source_name",
    )
    assert rows == [
        ("customers", 9, 5, 3, 1, True),
        ("friend_events", 12, 9, 2, 1, True),
        # Optional, not in the fixture: taken in empty (tests/test_groups.py delivers them).
        ("group_members", 0, 0, 0, 0, True),
        ("groups", 0, 0, 0, 0, True),
        ("identity_links", 6, 4, 1, 1, True),
        ("interactions", 11, 6, 4, 1, True),
        ("order_items", 12, 6, 5, 1, True),
        ("orders", 14, 6, 7, 1, True),
        ("products", 5, 4, 1, 0, True),
        # Optional, not in the fixture: taken in empty (tests/test_staff_tags.py delivers them).
        ("staff_tags", 0, 0, 0, 0, True),
        ("tag_library", 0, 0, 0, 0, True),
    ]


def test_each_id_is_one_person_as_of_the_night(tiny_warehouse):
    persons = dict(query(tiny_warehouse, "select id, person_id from marts.person_ids"))
    # C1 -unionid- u_c1 -wecom- wm_c1; C2 -phone- p_c2; C3 -phone- C2 is dated 04-02, after the
    # night. C4 registered 04-15, after it too, and has no activity by then; C6's two versions
    # conflict, so it is no clean customer. The link without id_b is quarantined.
    assert persons == {
        "C1": "C1",
        "u_c1": "C1",
        "wm_c1": "C1",
        "C2": "C2",
        "p_c2": "C2",
        "C3": "C3",
        "C5": "C5",
    }


def test_row_accounting_reaches_dagster_metadata(tiny_night):
    result, _ = tiny_night
    (materialization,) = [
        event.materialization
        for event in result.get_asset_materialization_events()
        if event.materialization.asset_key.to_user_string() == "row_accounting_report"
    ]
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert metadata["orders/raw_rows"] == 14
    assert metadata["orders/quarantined_rows"] == 7
    assert metadata["orders/duplicate_rows"] == 1
    assert metadata["products/clean_rows"] == 4


def test_quarantine_reasons_and_original_values(tiny_warehouse):
    orders = query(
        tiny_warehouse,
        "select order_id, quarantine_reason, total_amount from marts.quarantine_orders"
        " order by _raw_row_number",
    )
    assert orders == [
        ("O7", "unknown_customer", "50.00"),
        ("O8", "unknown_status", "50.00"),
        ("O9", "negative_total_amount", "-5.00"),
        ("O10", "future_timestamp", "5.00"),
        ("O11", "invalid_order_ts", "5.00"),
        ("O12", "invalid_total_amount", "1,299.00"),
        ("O13", "unknown_customer", "10.00"),
    ]
    items = query(
        tiny_warehouse,
        "select order_id, line_no, sku_id, quarantine_reason from marts.quarantine_order_items"
        " order by _raw_row_number",
    )
    assert items == [
        ("O7", "1", "SKU1", "unknown_order"),
        ("O5", "2", "SKU9", "unknown_sku"),
        ("O1", "3", "SKU1", "non_positive_quantity"),
        ("O2", "2", "SKU1", "conflicting_duplicate_key"),
        ("O2", "2", "SKU3", "conflicting_duplicate_key"),
    ]
    customers = query(
        tiny_warehouse,
        "select _raw_row_number, customer_id, gender, quarantine_reason"
        " from marts.quarantine_customers order by _raw_row_number",
    )
    assert customers == [
        (7, "C6", "M", "conflicting_duplicate_key"),
        (8, "C6", "F", "conflicting_duplicate_key"),
        (9, None, "F", "missing_customer_id"),
    ]
    reasons = query(
        tiny_warehouse,
        "select quarantine_reason from marts.quarantine_interactions order by _raw_row_number",
    )
    assert [r for (r,) in reasons] == [
        "negative_duration_s",
        "invalid_interaction_ts",
        "unknown_customer",
        "unknown_interaction_type",
    ]
    events = query(
        tiny_warehouse,
        "select event_id, event_type, quarantine_reason from marts.quarantine_friend_events"
        " order by _raw_row_number",
    )
    assert events == [("E10", "add", "unknown_customer"), ("E11", "follow", "unknown_event_type")]


def test_orders_as_of_the_date(tiny_warehouse):
    rows = query(
        tiny_warehouse,
        "select order_id, order_status, is_paid, is_refunded, net_paid_amount_cny,"
        " discount_amount_cny, has_discount, line_count from marts.fct_orders order by order_id",
    )
    assert rows == [
        # confirmed, paid 198 after a 20 discount
        ("O1", "confirmed", True, False, Decimal("198.00"), Decimal("20.00"), True, 1),
        # refunded on 02-25: paid, but nothing kept
        ("O2", "refunded", True, True, Decimal("0.00"), Decimal("0.00"), False, 1),
        # ordered at 23:59:59 on the as-of day, paid 11 s after midnight: not paid yet
        ("O3", "created", False, False, Decimal("0.00"), Decimal("0.00"), False, 1),
        ("O4", "cancelled", False, False, Decimal("0.00"), Decimal("0.00"), False, 1),
        # status "paid" with an empty paid_ts: paid at order_ts
        ("O5", "paid", True, False, Decimal("119.00"), Decimal("10.00"), True, 1),
    ]
    ((total,),) = query(tiny_warehouse, "select sum(net_paid_amount_cny) from marts.fct_orders")
    assert total == Decimal("317.00")


def test_order_items_follow_their_orders(tiny_warehouse):
    rows = query(
        tiny_warehouse,
        "select order_id, line_number, category, quantity, line_amount_cny, is_net_paid"
        " from marts.fct_order_items order by order_id, line_number",
    )
    assert rows == [
        ("O1", 1, "面膜", 2, Decimal("218.00"), True),
        ("O2", 1, "面膜", 1, Decimal("99.00"), False),
        ("O3", 1, "儿童安全座椅", 1, Decimal("1299.00"), False),
        ("O4", 1, "车载用品", 1, Decimal("59.00"), False),
        ("O5", 1, "精华", 1, Decimal("129.00"), True),
    ]


def test_friend_metrics_daily(tiny_warehouse):
    columns = (
        "select cast(event_on as varchar), channel_code, staff_id, friends_added,"
        " friends_deleted_by_customer, friends_deleted_by_staff, net_friends, friends_total"
        " from marts.friend_metrics_daily"
    )
    changes = query(
        tiny_warehouse,
        f"{columns} where net_friends <> 0 or friends_added > 0"
        " order by event_on, channel_code, staff_id",
    )
    assert changes == [
        ("2026-01-05", "livecode_store_01", "S1", 1, 0, 0, 1, 1),
        ("2026-02-10", "parcel_card", "S1", 1, 0, 0, 1, 1),
        # C2 deleted S1; credited to parcel_card, the channel that brought C2
        ("2026-03-01", "parcel_card", "S1", 0, 1, 0, -1, 0),
        ("2026-03-01", "parcel_card", "S2", 1, 0, 0, 1, 1),
        # E5 (C3 added again while already a friend) changes nothing and is not counted
        ("2026-03-10", "official_account", "S2", 1, 0, 0, 1, 1),
        ("2026-03-20", "official_account", "S2", 0, 0, 1, -1, 0),
        ("2026-03-21", "livecode_store_01", "S1", 1, 0, 0, 1, 2),
    ]
    # Every day from the pair's first change to the as-of date 03-31: 01-05 to 03-31 is
    # 27 + 28 + 31 = 86 days, 02-10 to 03-31 is 19 + 31 = 50, 03-01 on 31, 03-10 on 22.
    days = query(
        tiny_warehouse,
        "select channel_code, staff_id, count(*), cast(min(event_on) as varchar),"
        " cast(max(event_on) as varchar) from marts.friend_metrics_daily group by all order by all",
    )
    assert days == [
        ("livecode_store_01", "S1", 86, "2026-01-05", "2026-03-31"),
        ("official_account", "S2", 22, "2026-03-10", "2026-03-31"),
        ("parcel_card", "S1", 50, "2026-02-10", "2026-03-31"),
        ("parcel_card", "S2", 31, "2026-03-01", "2026-03-31"),
    ]
    # A quiet day carries the total of the day before it.
    quiet = query(
        tiny_warehouse,
        f"{columns} where event_on in ('2026-02-20', '2026-03-31') order by all",
    )
    assert quiet == [
        ("2026-02-20", "livecode_store_01", "S1", 0, 0, 0, 0, 1),
        ("2026-02-20", "parcel_card", "S1", 0, 0, 0, 0, 1),
        ("2026-03-31", "livecode_store_01", "S1", 0, 0, 0, 0, 2),
        ("2026-03-31", "official_account", "S2", 0, 0, 0, 0, 0),
        ("2026-03-31", "parcel_card", "S1", 0, 0, 0, 0, 0),
        ("2026-03-31", "parcel_card", "S2", 0, 0, 0, 0, 1),
    ]


def test_customers_known_as_of_the_date(tiny_warehouse):
    rows = query(
        tiny_warehouse,
        "select customer_id, gender, cast(registered_at as varchar), invalid_fields,"
        " first_channel_code, first_staff_id, friend_status, current_friend_staff_count"
        " from marts.dim_customers order by customer_id",
    )
    assert rows == [
        ("C1", "F", "2026-01-05 10:00:00", None, "livecode_store_01", "S1", "current_friend", 1),
        # 02:00 UTC is 10:00 in Shanghai
        ("C2", "M", "2026-02-10 10:00:00", None, "parcel_card", "S1", "deleted_by_customer", 0),
        (
            "C3",
            None,
            "2026-03-01 09:00:00",
            "gender,birthday",
            "parcel_card",
            "S2",
            "current_friend",
            1,
        ),
        # C4 registers on 04-15: not known yet. C5 has no registration date: always known.
        ("C5", "F", None, None, "official_account", "S2", "current_friend", 1),
    ]


def test_staff_channels_and_products(tiny_warehouse):
    assert query(
        tiny_warehouse,
        "select staff_id, friends_added, friends_deleted_by_customer, friends_deleted_by_staff,"
        " current_friends, interactions from marts.dim_staff order by staff_id",
    ) == [("S1", 3, 1, 0, 2, 3), ("S2", 2, 0, 1, 1, 1)]
    assert query(
        tiny_warehouse,
        "select channel_code, channel_name, friends_added, friends_deleted, current_friends"
        " from marts.dim_channels order by channel_code",
    ) == [
        ("livecode_store_01", "门店活码01", 2, 0, 2),
        ("official_account", "公众号", 1, 1, 0),
        ("parcel_card", "包裹卡", 2, 1, 1),
    ]
    # SKU4 launches on 2026-05-01; SKU3's price "abc" is nulled and named.
    assert query(
        tiny_warehouse,
        "select sku_id, price_cny, is_periodic_consumable, invalid_fields"
        " from marts.dim_products order by sku_id",
    ) == [
        ("SKU1", Decimal("99.00"), True, None),
        ("SKU2", Decimal("1299.00"), False, None),
        ("SKU3", None, True, "price"),
    ]
    assert query(tiny_warehouse, "select count(*) from marts.fct_interactions") == [(5,)]


def test_the_reports_staff_table(tiny_warehouse):
    """The last 30 days are 03-02 to 03-31.

    S1: friends C1 (01-05) and C5 (03-21); C2's deletion on 03-01 is the day before the
    window, so of all that only C5's add counts. Its chat with C1 (chat_in and the chat_out
    300 s later) was on 01-06, long before; C2's chat_in on 03-01 was quarantined (negative
    duration). Not contacted: C1 (last chat_out 01-06) and C5 (never): 2.
    S2: friend C3 since 03-01 (E5 added C3 again and changes nothing); C5 added 03-10 and
    deleted by S2 on 03-20; C3's content_open is no chat. Not contacted: C3.
    """
    report = ParsedReport(
        render_nightly_report(tiny_warehouse, date.fromisoformat(TINY_AS_OF), None, language="en")
    )
    assert report.captions["staff"] == (
        "Staff members: the last 30 days (2026-03-02 to 2026-03-31) and the night of 2026-03-31"
    )
    assert report.tables["staff"]["body"] == [
        ["S1", "2", "1", "0", "0", "0", "0", "0", "0", "—", "2", "0"],
        ["S2", "1", "1", "0", "1", "0", "0", "0", "0", "—", "1", "0"],
    ]
    assert report.tables["staff"]["footer"] == [
        ["Total", "3", "2", "0", "1", "0", "0", "", "0", "", "3", "0"]
    ]


def test_the_reports_identity_figures(tiny_warehouse):
    """Customer ids C1, C2, C3 and C5; C1 joined with u_c1 and wm_c1 (two links), C2 with the
    phone p_c2 (one link); the link C3 - C2 comes after the night."""
    report = ParsedReport(
        render_nightly_report(tiny_warehouse, date.fromisoformat(TINY_AS_OF), None, language="en")
    )
    assert report.captions["identity"] == "Ids and persons on the night of 2026-03-31"
    assert report.tables["identity"]["body"] == [
        ["Customer ids (the ids the sources know customers by)", "4"],
        ["Persons they belong to", "4"],
        ["Persons with more than one id", "2"],
        ["Ids only links carry (phones, unionids)", "3"],
        ["Links that hold: joined two ids", "3"],
        ["Links kept out: an id over its partner limit", "0"],
        ["Links kept out: would join two persons of stronger links", "0"],
        ["Persons of more ids than the limit", "0"],
        # No link was observed on 03-31, so no id changed person since 03-30.
        ["Ids that joined an older person since the night before", "0"],
        ["Ids split from their person since the night before", "0"],
        ["Ids whose person is named by another id since the night before", "0"],
    ]
    assert "identity_blocked_ids" not in report.tables
