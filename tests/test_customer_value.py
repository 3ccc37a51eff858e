"""RFM, lifecycle and repurchase marts against values worked out by hand.

The fixture and the arithmetic are in tests/fixtures/raw_customer_marts/README.md.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tests.conftest import connect_warehouse, copy_warehouse, dbt_command, query


def rows_by_customer(warehouse, sql: str) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in query(warehouse, sql)}


def test_rfm_scores_classes_and_segments(customer_marts_warehouse):
    rfm = rows_by_customer(
        customer_marts_warehouse,
        """
        select customer_id, recency_days, frequency_orders, monetary_cny,
               r_score, f_score, m_score, rfm_class, rfm_segment
        from marts.customer_rfm
        """,
    )
    expected = {
        "A": (20, 1, 200, 5, 1, 4, "重要发展客户", "New"),
        "C": (90, 3, 450, 1, 5, 5, "重要保持客户", "Cannot Lose Them"),
        "D": (29, 2, 1658, 3, 4, 5, "重要价值客户", "Loyal"),
        "E": (30, 1, 100, 3, 1, 1, "一般发展客户", "About to Sleep"),
        "F": (29, 1, 100, 3, 1, 1, "一般发展客户", "About to Sleep"),
        "G": (149, 1, 100, 1, 1, 1, "一般挽留客户", "Lost"),
        "I": (33, 2, 180, 2, 4, 3, "重要保持客户", "At Risk"),
        "J": (0, 1, 100, 5, 1, 1, "一般发展客户", "New"),
    }
    # B's only order was refunded and H never ordered: neither is scored.
    assert {customer: (r, f, float(m), *rest) for customer, (r, f, m, *rest) in rfm.items()} == {
        customer: (r, f, float(m), *rest) for customer, (r, f, m, *rest) in expected.items()
    }


def test_btyd_summary_counts_purchase_days(customer_marts_warehouse):
    btyd = rows_by_customer(
        customer_marts_warehouse,
        """
        select customer_id, btyd_frequency, btyd_recency, btyd_t, btyd_monetary
        from marts.customer_rfm
        """,
    )
    assert btyd["C"] == (1, 31, 121, 300.0)  # two orders on 03-01 are one purchase day
    assert btyd["D"] == (2, 336, 365, 829.0)
    assert btyd["I"] == (1, 3, 36, 80.0)
    assert btyd["A"] == (0, 0, 20, 0.0)
    assert btyd["J"] == (0, 0, 0, 0.0)  # bought on the as-of day


def test_lifecycle_stage_of_every_customer(customer_marts_warehouse):
    stages = rows_by_customer(
        customer_marts_warehouse,
        """
        select customer_id, lifecycle_stage, stage_entered_on, previous_stage, days_in_stage
        from marts.customer_lifecycle
        """,
    )
    assert stages == {
        "A": ("new", date(2026, 6, 10), "prospect", 20),
        "B": ("prospect", date(2026, 5, 1), None, 60),
        "C": ("silent", date(2026, 5, 1), "reactivated", 60),
        "D": ("reactivated", date(2026, 6, 1), "churned", 29),
        "E": ("churned", date(2026, 6, 30), "new", 0),
        "F": ("new", date(2026, 6, 1), "prospect", 29),
        "G": ("lost_friend", date(2026, 6, 15), "silent", 15),
        "H": ("prospect", date(2026, 6, 20), None, 10),
        "I": ("silent", date(2026, 6, 27), "active", 3),
        "J": ("new", date(2026, 6, 30), None, 0),
    }


def test_lifecycle_history_keeps_every_change(customer_marts_warehouse):
    history = query(
        customer_marts_warehouse,
        """
        select customer_id, lifecycle_stage, entered_on, previous_stage
        from marts.customer_lifecycle_history
        where customer_id in ('C', 'D')
        order by customer_id, entered_on
        """,
    )
    assert history == [
        ("C", "prospect", date(2026, 1, 1), None),
        ("C", "new", date(2026, 3, 1), "prospect"),
        ("C", "silent", date(2026, 3, 31), "new"),
        ("C", "reactivated", date(2026, 4, 1), "silent"),
        ("C", "silent", date(2026, 5, 1), "reactivated"),
        ("D", "prospect", date(2025, 5, 1), None),
        ("D", "new", date(2025, 6, 30), "prospect"),
        ("D", "active", date(2025, 7, 30), "new"),
        ("D", "churned", date(2025, 7, 31), "active"),
        ("D", "reactivated", date(2026, 6, 1), "churned"),
    ]


def test_lifecycle_flow_counts_moves_per_day(customer_marts_warehouse):
    flow = query(
        customer_marts_warehouse,
        """
        select moved_on, from_stage, to_stage, customers from marts.lifecycle_flow
        where moved_on in ('2026-06-30', '2026-06-01')
        order by moved_on, from_stage, to_stage
        """,
    )
    assert flow == [
        (date(2026, 6, 1), "churned", "reactivated", 1),  # D
        (date(2026, 6, 1), "none", "prospect", 1),  # A, first seen
        (date(2026, 6, 1), "prospect", "new", 1),  # F
        (date(2026, 6, 30), "new", "churned", 1),  # E
        (date(2026, 6, 30), "none", "new", 1),  # J
    ]
    # Every customer's first stage is one move from 'none'.
    assert query(
        customer_marts_warehouse,
        "select sum(customers) from marts.lifecycle_flow where from_stage = 'none'",
    ) == [(10,)]


def test_repurchase_intervals(customer_marts_warehouse):
    intervals = rows_by_customer(
        customer_marts_warehouse,
        """
        select customer_id, purchase_day_count, avg_repurchase_interval_days,
               first_to_second_days
        from marts.customer_repurchase
        """,
    )
    assert intervals["A"] == (1, None, None)
    assert intervals["C"] == (2, 31.0, 31)
    assert intervals["D"] == (3, 168.0, 1)  # (2026-06-01 - 2025-06-30) / 2
    assert intervals["I"] == (2, 3.0, 3)
    assert "B" not in intervals


def test_repurchase_due_list(customer_marts_warehouse):
    due = query(
        customer_marts_warehouse,
        """
        select customer_id, sku_id, expected_run_out_on, days_to_run_out
        from marts.customer_product_repurchase
        where is_repurchase_due
        order by customer_id
        """,
    )
    assert due == [
        ("E", "P_MASK", date(2026, 6, 30), 0),
        ("F", "P_MASK", date(2026, 7, 1), 1),
        ("I", "P_MASK2", date(2026, 6, 27), -3),
    ]
    superseded = query(
        customer_marts_warehouse,
        """
        select days_to_run_out, has_newer_category_purchase
        from marts.customer_product_repurchase
        where customer_id = 'I' and sku_id = 'P_MASK'
        """,
    )
    assert superseded == [(-6, True)]
    two_masks = query(
        customer_marts_warehouse,
        """
        select last_purchase_quantity, expected_run_out_on from marts.customer_product_repurchase
        where customer_id = 'A'
        """,
    )
    assert two_masks == [(2, date(2026, 8, 9))]


def test_cross_sell_skips_categories_already_bought(customer_marts_warehouse):
    assert query(
        customer_marts_warehouse,
        """
        select customer_id, target_category, source_category, priority
        from marts.cross_sell_candidates
        """,
    ) == [("D", "儿童安全用品", "儿童安全座椅", 2)]


def test_customer_timeline_tells_the_story_up_to_the_date(customer_marts_warehouse):
    timeline = query(
        customer_marts_warehouse,
        """
        select event_number, strftime(happened_at, '%m-%d %H:%M'), event_type, source_id,
               amount_cny, topic
        from marts.customer_timeline where customer_id = 'C' order by event_number
        """,
    )
    # The refund of C3 (07-10) and the deletion (07-02) happen after the date.
    assert [row[1:4] for row in timeline] == [
        ("01-01 10:00", "friend_added", "E3"),
        ("03-01 10:00", "order_placed", "C1"),
        ("03-01 10:01", "order_paid", "C1"),
        ("03-01 15:00", "order_placed", "C2"),
        ("03-01 15:01", "order_paid", "C2"),
        ("04-01 10:00", "order_placed", "C3"),
        ("04-01 10:01", "order_paid", "C3"),
        ("05-01 21:00", "interaction_content_open", "IC1"),
        ("05-02 21:00", "interaction_content_open", "IC2"),
        ("05-03 21:00", "interaction_content_open", "IC3"),
    ]
    assert [row[0] for row in timeline] == list(range(1, 11))
    assert float(timeline[4][4]) == 50.0
    assert timeline[9][5] == "母婴"
    refunds = query(
        customer_marts_warehouse,
        "select customer_id, source_id from marts.customer_timeline "
        "where event_type = 'order_refunded'",
    )
    assert refunds == [("B", "B1")]


LIFECYCLE_HISTORY = "customer_lifecycle_history"


def current_stages(warehouse: Path, customers: str) -> dict[str, tuple]:
    """Customer → (stage, entered on) of the stage each of `customers` is in."""
    return rows_by_customer(
        warehouse,
        "select customer_id, lifecycle_stage, entered_on from marts.customer_lifecycle_history"
        f" where left_on is null and customer_id in ({', '.join(repr(c) for c in customers)})",
    )


LIFECYCLE_ROWS = (
    "select customer_id, lifecycle_stage, entered_on, previous_stage, left_on, as_of_date "
    "from marts.customer_lifecycle_history order by all"
)


class RestatedAndFull:
    """Two copies of a built warehouse: one mart restated per customer in the first, built in
    full (--full-refresh) in the second, night by night on the same facts. Each build runs the
    mart's inputs model (`inputs`) first."""

    def __init__(self, warehouse: Path, model: str, inputs: str, tmp_path: Path) -> None:
        self.restated = copy_warehouse(warehouse, tmp_path / "restated")
        self.full = copy_warehouse(warehouse, tmp_path / "full")
        self.model, self.target = f"{inputs} {model}", tmp_path / "target"

    def build(self, as_of: str) -> None:
        for warehouse, extra_args in ((self.restated, ()), (self.full, ("--full-refresh",))):
            result = dbt_command(
                "run", warehouse.parent, self.target, self.model, as_of, extra_args=extra_args
            )
            assert result.returncode == 0, result.stdout[-3000:]

    def execute(self, sql: str, *, restated_only: bool = False) -> None:
        for warehouse in (self.restated,) if restated_only else (self.restated, self.full):
            with connect_warehouse(warehouse) as connection:
                connection.execute(sql)

    def rows(self, sql: str) -> list[tuple]:
        """The rows `sql` gives in both, which must be the same."""
        restated = query(self.restated, sql)
        assert restated == query(self.full, sql)
        return restated


def test_lifecycle_history_restated_per_customer_equals_a_full_build(
    customer_marts_warehouse, tmp_path
):
    """The history is restated only for the customers whose inputs changed or who have a
    candidate day between the stored night and the new one (macros/restated_per_customer.sql).
    On the same facts, each night so built equals a full build of it: a month later (the
    "new" and active spans of A, D, F and J run out meanwhile), after a purchase day moves, a
    night further back, and without its inputs model's table."""
    marts = RestatedAndFull(
        customer_marts_warehouse, LIFECYCLE_HISTORY, "customer_lifecycle_inputs", tmp_path
    )

    marts.build("2026-07-31")
    marts.rows(LIFECYCLE_ROWS)
    assert current_stages(marts.restated, "ADFJ") == {
        "A": ("silent", date(2026, 7, 10)),  # 30 days after the first purchase, none since
        "D": ("churned", date(2026, 7, 1)),  # 30 days after its purchase of 06-01
        "F": ("silent", date(2026, 7, 1)),
        "J": ("churned", date(2026, 7, 30)),  # not a friend
    }

    # I's second purchase day moves two days earlier (the same count of days, another
    # fingerprint); C has nothing new, so its stored rows are not rewritten: a value planted
    # in them stays.
    marts.execute(
        "update marts.fct_purchase_days set purchase_on = '2026-05-26'"
        " where customer_id = 'I' and purchase_on = '2026-05-28'"
    )
    planted = (
        "update marts.customer_lifecycle_history set previous_stage = {}"
        " where customer_id = 'C' and entered_on = '2026-05-01'"
    )
    marts.execute(planted.format("'planted'"), restated_only=True)
    marts.build("2026-07-31")
    assert query(
        marts.restated,
        "select previous_stage from marts.customer_lifecycle_history"
        " where customer_id = 'C' and entered_on = '2026-05-01'",
    ) == [("planted",)]
    marts.execute(planted.format("'reactivated'"), restated_only=True)
    marts.rows(LIFECYCLE_ROWS)
    # I's active span after its second purchase now ends on 06-25, not 06-27.
    assert current_stages(marts.restated, "I") == {"I": ("silent", date(2026, 6, 25))}

    marts.build("2026-06-10")
    marts.rows(LIFECYCLE_ROWS)

    marts.execute("drop table audit.customer_lifecycle_inputs", restated_only=True)
    marts.build("2026-06-30")
    marts.rows(LIFECYCLE_ROWS)


REPURCHASE_ROWS = (
    "select * exclude (_written_at) from marts.customer_product_repurchase order by all"
)


def test_product_repurchase_restated_per_customer_equals_a_full_build(
    customer_marts_warehouse, tmp_path
):
    """Only the customers whose net paid lines of periodic consumables changed are restated;
    the days to each run-out date, and whether it is due, are set again on every row. Each
    night so built equals a full build of it: three days later, after a line's quantity
    changes, and without its inputs model's table."""
    marts = RestatedAndFull(
        customer_marts_warehouse,
        "customer_product_repurchase",
        "customer_product_repurchase_inputs",
        tmp_path,
    )
    due = (
        "select customer_id, sku_id, days_to_run_out, is_repurchase_due"
        " from marts.customer_product_repurchase where customer_id in ('D', 'E', 'I')"
        " order by all"
    )

    marts.build("2026-07-03")
    marts.rows(REPURCHASE_ROWS)
    # Three days on: each run-out is three days nearer (the fixture's README has the dates).
    assert marts.rows(due) == [
        ("D", "P_MASK", -338, False),
        ("D", "P_SERUM", 28, False),
        ("E", "P_MASK", -3, True),
        ("I", "P_MASK", -9, False),  # a newer mask of the category: never due
        ("I", "P_MASK2", -6, True),
    ]

    # A bought three masks, not two; C has nothing new, so a value planted in its rows stays.
    marts.execute("update marts.fct_order_items set quantity = 3 where order_id = 'A1'")
    planted = (
        "update marts.customer_product_repurchase set last_purchase_quantity = {}"
        " where customer_id = 'C' and sku_id = 'P_SERUM'"
    )
    marts.execute(planted.format(99), restated_only=True)
    marts.build("2026-07-03")
    assert query(
        marts.restated,
        "select last_purchase_quantity from marts.customer_product_repurchase"
        " where customer_id = 'C' and sku_id = 'P_SERUM'",
    ) == [(99,)]
    marts.execute(planted.format(1), restated_only=True)
    assert marts.rows(
        "select expected_run_out_on, days_to_run_out from marts.customer_product_repurchase"
        " where customer_id = 'A'"
    ) == [(date(2026, 9, 8), 67)]  # 06-10 + 3 masks of 30 days
    marts.rows(REPURCHASE_ROWS)

    marts.execute("drop table audit.customer_product_repurchase_inputs", restated_only=True)
    marts.build("2026-06-30")
    marts.rows(REPURCHASE_ROWS)
