"""Generator → nightly job: every injected contract violation is caught by its rule.

The generator reports how many bad rows of each kind it spliced into each source; the night
must count exactly the injected exact duplicates, balance every source, and quarantine (or,
for optional attributes of reference data, null and name) at least one row per injected kind
with the reason that kind breaks. Cascades (an order of a quarantined customer) make larger
counts legitimate, so only the duplicates are compared exactly.
"""

from tests.conftest import query

# The reason codes each kind must produce, as SQL conditions.
KIND_CONDITIONS = {
    "duplicate_key": "quarantine_reason = 'conflicting_duplicate_key'",
    "missing_required": "quarantine_reason like 'missing_%'",
    "bad_timestamp": "quarantine_reason like 'invalid_%'",
    "bad_number": "quarantine_reason like 'invalid_%'",
    "negative_value": (
        "(quarantine_reason like 'negative_%' or quarantine_reason like 'non_positive_%')"
    ),
    "unknown_enum": "quarantine_reason in ('unknown_status', 'unknown_event_type',"
    " 'unknown_interaction_type', 'unknown_action')",
    "unknown_reference": "quarantine_reason in ('unknown_customer', 'unknown_order',"
    " 'unknown_sku', 'unknown_group', 'unknown_tag')",
    "future_timestamp": "quarantine_reason = 'future_timestamp'",
    "end_before_start": "quarantine_reason in ('dismissed_before_created',"
    " 'deleted_before_created')",
}
# Reference data keeps the row and nulls a bad optional attribute, naming it.
NULLED_IN_REFERENCE_DATA = ("bad_timestamp", "bad_number", "negative_value", "future_timestamp")
VALIDATED_MODEL = {
    "customers": "staging.stg_raw__customers",
    "products": "staging.stg_raw__products",
    "orders": "intermediate.int_orders_validated",
    "order_items": "intermediate.int_order_items_validated",
    "friend_events": "intermediate.int_friend_events_validated",
    "interactions": "intermediate.int_interactions_validated",
    "groups": "staging.stg_raw__groups",
    "group_members": "intermediate.int_group_members_validated",
    "tag_library": "staging.stg_raw__tag_library",
    "staff_tags": "intermediate.int_staff_tags_validated",
}


def test_exact_duplicates_are_counted_and_every_source_balances(generated_night):
    summary, warehouse = generated_night
    accounting = {
        source: (raw_rows, duplicates, balanced)
        for source, raw_rows, duplicates, balanced in query(
            warehouse,
            "select source_name, raw_rows, duplicate_rows, is_balanced"
            " from marts.raw_row_accounting",
        )
    }
    for source, rows in summary["rows"].items():
        injected = summary["bad_rows"][source].get("duplicate_row", 0)
        assert accounting[source] == (rows, injected, True), source


def test_each_injected_kind_is_caught_by_its_rule(generated_night):
    summary, warehouse = generated_night
    for source, kinds in summary["bad_rows"].items():
        for kind, injected in kinds.items():
            if kind == "duplicate_row" or injected == 0:
                continue
            if source == "products" and kind == "future_timestamp":
                continue  # a launch date in the future is a planned launch, not an error
            condition = KIND_CONDITIONS[kind]
            if source in ("customers", "products") and kind in NULLED_IN_REFERENCE_DATA:
                condition = "invalid_fields is not null"
            ((caught,),) = query(
                warehouse, f"select count(*) from {VALIDATED_MODEL[source]} where {condition}"
            )
            assert caught >= 1, (source, kind)


def test_group_members_of_an_unknown_group_or_customer_are_both_caught(generated_night):
    """The two forms of a group member's unknown reference, and the cascade of the group an
    injected conflicting copy quarantines (the one drawing the fewest members)."""
    summary, warehouse = generated_night
    assert summary["bad_rows"]["group_members"]["unknown_reference"] == 2
    reasons = dict(
        query(
            warehouse,
            "select quarantine_reason, count(*) from intermediate.int_group_members_validated"
            " where quarantine_reason in ('unknown_group', 'unknown_customer')"
            " group by quarantine_reason",
        )
    )
    assert reasons["unknown_customer"] == 1
    assert reasons["unknown_group"] > 1  # the injected one, and the conflicting group's members
    # 13 groups for 200 customers; all but the conflicting one are built.
    ((groups,),) = query(warehouse, "select count(*) from marts.dim_groups")
    assert groups == 12


def test_staff_tags_of_an_unknown_tag_or_customer_are_both_caught(generated_night):
    """The two forms of a staff tag's unknown reference, and the cascade of the tag an
    injected conflicting copy quarantines (退休, the rarest). Our sync's tags are clean and
    flagged, never a customer's staff tag."""
    summary, warehouse = generated_night
    assert summary["bad_rows"]["staff_tags"]["unknown_reference"] == 2
    reasons = dict(
        query(
            warehouse,
            "select quarantine_reason, count(*) from intermediate.int_staff_tags_validated"
            " where quarantine_reason in ('unknown_tag', 'unknown_customer')"
            " group by quarantine_reason",
        )
    )
    assert reasons["unknown_customer"] == 1
    assert reasons["unknown_tag"] >= 1
    ((conflicting,),) = query(
        warehouse,
        "select count(*) from marts.dim_tag_library where tag_name = '退休'",
    )
    assert conflicting == 0
    synced, staff_held = query(
        warehouse,
        "select (select count(*) from marts.fct_staff_tag_events where is_warehouse_sync),"
        " (select count(*) from marts.customer_staff_tags where tag_group = '自动标签')",
    )[0]
    assert synced > 0 and staff_held == 0
