"""The tag system on the customer-story fixture, against values worked out by hand.

Stories and arithmetic: tests/fixtures/raw_customer_marts/README.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.tag_registry import prepare
from orchestration.tag_rules import RuleError
from tests.conftest import (
    CUSTOMER_MARTS_AS_OF,
    copy_dbt_project,
    copy_warehouse,
    dbt_command,
    query,
)

CUSTOMERS = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"]


def profile(warehouse: Path, *columns: str) -> dict[str, tuple]:
    rows = query(
        warehouse,
        f"select customer_id, {', '.join(columns)} from marts.customer_profile order by 1",
    )
    return {row[0]: row[1:] for row in rows}


def test_profile_has_one_row_per_known_customer(customer_marts_warehouse):
    # K registers after the as-of date: not known yet.
    assert list(profile(customer_marts_warehouse, "as_of_date")) == CUSTOMERS
    assert query(
        customer_marts_warehouse,
        "select count(*), count(distinct customer_id) from marts.customer_profile",
    ) == [(10, 10)]


def test_basic_attribute_tags(customer_marts_warehouse):
    tags = profile(
        customer_marts_warehouse,
        "gender",
        "age_band",
        "birthday_month",
        "city_tier",
        "friend_status",
        "first_channel_code",
        "last_ship_province",
    )
    assert tags["A"] == ("F", "30-34", 6, "新一线", "current_friend", "livecode_store_01", "浙江省")
    # Born 2000-07-07: 25 on 2026-06-30, the birthday has not come yet.
    assert tags["F"][1] == "25-29"
    assert tags["D"][1:5] == ("40-49", 11, "一线", "never_friend")
    assert tags["G"][4] == "deleted_by_customer"
    assert tags["H"][6] is None  # never ordered


def test_lifecycle_tags(customer_marts_warehouse):
    tags = profile(
        customer_marts_warehouse,
        "lifecycle_stage",
        "customer_value_tier",
        "days_as_friend",
        "brand_intimacy",
    )
    assert tags["A"] == ("new", "high", 29, 10 + 3 * 5 + 20 + 0)
    assert tags["B"][:2] == ("prospect", "none")
    assert tags["C"] == ("silent", "vip", 180, 20 + 3 * 3 + 20 + 6)
    assert tags["I"] == ("silent", "medium", 90, 20 + 30 + 20 + 3)  # interactions capped at 30
    assert tags["H"] == ("prospect", "none", 10, 0 + 3 * 2 + 20 + 0)
    assert tags["E"] == ("churned", "low", None, 10)


def test_consumption_tags(customer_marts_warehouse):
    tags = profile(
        customer_marts_warehouse,
        "order_count",
        "paid_order_count",
        "ordered_amount_cny",
        "paid_amount_cny",
        "days_since_last_order",
        "days_since_last_payment",
        "avg_order_value_cny",
        "largest_order_cny",
        "refund_rate",
        "has_used_discount",
    )
    assert tags["D"] == (3, 3, 1758, 1758, 29, 29, 586, 1299, 0, False)
    assert tags["B"] == (1, 0, 100, 0, 56, 56, None, None, 1, False)
    # E2 was placed 06-20 and cancelled: an order, not a payment.
    assert tags["E"][:6] == (2, 1, 200, 100, 10, 30)
    assert tags["C"][9] is True
    channels = profile(customer_marts_warehouse, "favourite_sales_channel")
    # C: two purchases in the WeChat shop, one in the mini program.
    assert (channels["C"], channels["F"], channels["H"]) == (
        ("wechat_shop",),
        ("douyin_shop",),
        (None,),
    )
    assert tags["H"] == (0, 0, 0, 0, None, None, None, None, None, False)
    # J2 was paid on 07-01: not yet.
    assert tags["J"][:2] == (2, 1)


def test_preference_tags(customer_marts_warehouse):
    tags = profile(
        customer_marts_warehouse,
        "discount_order_share",
        "price_sensitivity",
        "top_category",
        "top_category_share",
        "bought_new_product",
        "is_low_repurchase_buyer",
        "intent_topic",
        "has_purchase_intent",
    )
    share, sensitivity, top, top_share, *rest = tags["C"]
    assert (sensitivity, top, rest) == ("medium", "精华", [False, False, None, False])
    assert share == pytest.approx(1 / 3)
    assert top_share == pytest.approx(300 / 460)
    assert tags["D"][2] == "儿童安全座椅"
    assert tags["D"][3] == pytest.approx(1299 / 1758)
    assert tags["D"][4:6] == (True, True)  # P_CAR bought 12 days after its launch
    assert tags["A"][6:] == ("出行安全", True)
    assert tags["H"][6:] == ("母婴", True)
    assert tags["B"][:2] == (None, None)


def test_social_tags(customer_marts_warehouse):
    tags = profile(
        customer_marts_warehouse,
        "interaction_level",
        "chat_count_30d",
        "group_message_count_30d",
        "content_preference",
        "share_count",
        "invite_count",
        "has_reviewed",
        "is_active_7d",
        "is_active_15d",
        "is_active_30d",
    )
    assert tags["A"] == (2, 1, 0, "出行安全", 1, 1, True, True, True, True)
    assert tags["I"] == (3, 0, 10, None, 0, 0, False, False, True, True)
    assert tags["H"] == (1, 1, 0, "母婴", 0, 0, False, False, True, True)
    assert tags["C"] == (0, 0, 0, "护肤", 0, 0, False, False, False, False)


def test_referral_willingness_and_content_viewing(customer_marts_warehouse):
    """A shared once and invited once: 1 + 2 points, medium; nobody else shared or invited.
    Seconds read in the last 30 days (06-01 to 06-30): A 45 on 出行安全, F 20 on 促销, H 60
    on 母婴; C read 护肤 (30 + 30 s) and 母婴 (30 s) in May, 58 to 60 days ago."""
    tags = profile(
        customer_marts_warehouse,
        "share_count",
        "invite_count",
        "referral_willingness",
        "content_view_seconds_30d",
        "top_viewed_topic_30d",
    )
    assert tags["A"] == (1, 1, "medium", 45, "出行安全")
    assert tags["F"] == (0, 0, "none", 20, "促销")
    assert tags["H"] == (0, 0, "none", 60, "母婴")
    assert tags["C"] == (0, 0, "none", 0, None)
    assert {customer for customer, row in tags.items() if row[2] != "none"} == {"A"}
    topics = query(
        customer_marts_warehouse,
        """
        select customer_id, topic, open_count, view_seconds, open_count_30d, view_seconds_30d,
               cast(last_viewed_on as varchar), round(view_seconds_share, 4)
        from marts.customer_topic_viewing order by customer_id, topic
        """,
    )
    assert topics == [
        ("A", "出行安全", 1, 45, 1, 45, "2026-06-26", 1.0),
        # 护肤 60 of C's 90 seconds, 母婴 30.
        ("C", "护肤", 2, 60, 0, 0, "2026-05-02", 0.6667),
        ("C", "母婴", 1, 30, 0, 0, "2026-05-03", 0.3333),
        ("F", "促销", 1, 20, 1, 20, "2026-06-10", 1.0),
        ("H", "母婴", 1, 60, 1, 60, "2026-06-21", 1.0),
    ]


def test_rule_tags(customer_marts_warehouse):
    tags = profile(customer_marts_warehouse, "new_never_bought", "dormant_friend", "high_value")
    assert [c for c, (new, _, _) in tags.items() if new] == ["H"]
    assert [c for c, (_, dormant, _) in tags.items() if dormant] == ["C"]
    assert not any(high for _, _, high in tags.values())


def test_long_tags_hold_every_profile_value(customer_marts_warehouse):
    rows = query(
        customer_marts_warehouse,
        """
        select tag_category, tag_name, tag_value from marts.customer_tags
        where customer_id = 'H' and tag_name in ('lifecycle_stage', 'new_never_bought', 'age_band')
        order by tag_name
        """,
    )
    # age_band is null for H: left out.
    assert rows == [
        ("lifecycle", "lifecycle_stage", "prospect"),
        ("lifecycle", "new_never_bought", "true"),
    ]
    catalog = query(customer_marts_warehouse, "select tag_name, coverage from marts.tag_catalog")
    non_null = sum(round(coverage * 10) for _, coverage in catalog)
    assert query(customer_marts_warehouse, "select count(*) from marts.customer_tags") == [
        (non_null,)
    ]


def test_tag_catalog(customer_marts_warehouse):
    catalog = {
        row[0]: row[1:]
        for row in query(
            customer_marts_warehouse,
            """
            select tag_name, tag_category, display_name, value_type, coverage, distinct_values,
                   is_categorical, rule_text
            from marts.tag_catalog
            """,
        )
    }
    assert catalog["age_band"] == ("basic_attributes", "年龄段", "text", 0.8, 4, True, None)
    assert catalog["high_value"][:4] == ("lifecycle", "高价值客户", "boolean", 1.0)
    assert catalog["high_value"][6] == "paid_order_count > 5 and paid_amount_cny > 5000"
    assert catalog["brand_intimacy"][5] is False  # a number, not a WeCom tag group
    # Every customer has a band (none included): A medium, the nine others none; a WeCom tag
    # group of four declared values. Seconds read: A 45, F 20, H 60, the others 0.
    assert catalog["referral_willingness"] == ("social", "裂变意愿度", "text", 1.0, 2, True, None)
    assert catalog["content_view_seconds_30d"][2:6] == ("integer", 1.0, 4, False)
    # A text tag, a WeCom tag group like content_preference.
    assert catalog["top_viewed_topic_30d"][2:6] == ("text", 0.3, 3, True)
    categories = {row[0] for row in catalog.values()}
    assert categories == {"basic_attributes", "lifecycle", "consumption", "preference", "social"}


def test_tag_changes_since_the_night_before(customer_marts_warehouse):
    changes = {
        (customer, tag): (old, new, previous)
        for customer, tag, old, new, previous in query(
            customer_marts_warehouse,
            f"""
            select customer_id, tag_name, old_value, new_value, cast(previous_as_of_date as varchar)
            from marts.tag_changes where as_of_date = '{CUSTOMER_MARTS_AS_OF}'
            """,
        )
    }
    assert changes[("E", "lifecycle_stage")] == ("new", "churned", "2026-06-29")
    assert changes[("E", "days_since_last_payment")] == ("29", "30", "2026-06-29")
    assert changes[("J", "lifecycle_stage")] == (None, "new", "2026-06-29")  # known from 06-30
    assert ("B", "lifecycle_stage") not in changes
    assert query(
        customer_marts_warehouse,
        "select distinct as_of_date from marts.customer_tags_history order by 1",
    ) == query(
        customer_marts_warehouse,
        "select cast('2026-06-29' as date) union all select cast('2026-06-30' as date)",
    )


def test_a_history_kept_before_a_new_column_keeps_its_nights(customer_marts_warehouse, tmp_path):
    """A table kept per night gains a column without losing the nights it holds: a history
    written before `_written_at` existed gets the column, null on its earlier nights."""
    home = tmp_path / "home"
    warehouse = copy_warehouse(customer_marts_warehouse, home)
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("alter table marts.customer_profile_history drop column _written_at")
    nights_before = query(
        warehouse,
        "select as_of_date, count(*) from marts.customer_profile_history group by 1 order by 1",
    )
    built = dbt_command(
        "run", home, tmp_path / "target", "customer_profile_history", CUSTOMER_MARTS_AS_OF
    )
    assert built.returncode == 0, (built.stdout + built.stderr)[-3000:]
    assert query(
        warehouse,
        "select as_of_date, count(*), count(_written_at) from marts.customer_profile_history "
        "group by 1 order by 1",
    ) == [
        (night, rows, 0 if str(night) != CUSTOMER_MARTS_AS_OF else rows)
        for night, rows in nights_before
    ]


def test_nights_older_than_the_days_kept_are_deleted(customer_marts_warehouse, tmp_path):
    """With var history_days_kept, a table kept per night holds the nights of the last N days
    before its newest night, counted from the newest night kept, not the night built; the
    var must leave segment_membership its cool-down nights."""
    home = tmp_path / "home"
    warehouse = copy_warehouse(customer_marts_warehouse, home)
    # Nights around the two built (06-29, 06-30): older ones, and a newer one (07-03) that a
    # rebuild of 06-30 is older than.
    with duckdb.connect(str(warehouse)) as connection:
        for night in ("2026-06-20", "2026-06-25", "2026-06-26", "2026-07-03"):
            connection.execute(
                "insert into marts.customer_profile_history by name "
                f"select * replace (date '{night}' as as_of_date) "
                "from marts.customer_profile_history where as_of_date = date '2026-06-29'"
            )
    nights_before = dict(
        query(
            warehouse,
            "select cast(as_of_date as varchar), count(*) from marts.customer_profile_history "
            "group by 1",
        )
    )

    built = dbt_command(
        "run",
        home,
        tmp_path / "target",
        "customer_profile_history",
        CUSTOMER_MARTS_AS_OF,
        {"history_days_kept": 5},
    )
    assert built.returncode == 0, (built.stdout + built.stderr)[-3000:]
    # Newest 07-03: five days keep 06-29 to 07-03; 06-28 and before go.
    assert query(
        warehouse,
        "select cast(as_of_date as varchar), count(*) from marts.customer_profile_history "
        "group by 1 order by 1",
    ) == [(night, nights_before[night]) for night in ("2026-06-29", "2026-06-30", "2026-07-03")]

    refused = dbt_command(
        "run",
        home,
        tmp_path / "target",
        "customer_profile_history",
        CUSTOMER_MARTS_AS_OF,
        {"history_days_kept": 3},
    )
    assert refused.returncode != 0
    assert "history_days_kept is 3" in refused.stdout + refused.stderr


NEW_TAG_SQL = """\
select
    customer_id,
    current_friend_staff_count as friend_staff_count
from {{ ref('dim_customers') }}
"""

NEW_TAG_YAML = """\
version: 2

models:
  - name: tag_staff_reach
    description: How many staff members can reach the customer.
    data_tests: [tag_values_match_metadata]
    columns:
      - name: customer_id
        data_tests: [unique, not_null]
      - name: friend_staff_count
        description: Staff members the customer is a friend of now.
        config:
          meta:
            tag:
              category: social
              display_name: 好友员工数
              value_type: integer
              min_value: 0
              owner: test
"""

NEW_RULE = """
  - name: reachable_regular
    display_name: 可触达老客
    category: social
    description: A friend of at least one staff member with three purchases or more.
    owner: test
    rule: friend_staff_count >= 1 and paid_order_count >= 3
"""


def dbt(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """dbt in its own process: dbt-duckdb keeps its connection open in the caller's."""
    executable = Path(sys.executable).parent / "dbt"
    return subprocess.run(
        [str(executable), *args, "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_dropped_in_tag_model_and_rule_appear_after_the_next_run(
    customer_marts_warehouse, tmp_path, monkeypatch
):
    project = copy_dbt_project(tmp_path / "dbt_project")
    home = tmp_path / "home"
    copy_warehouse(customer_marts_warehouse, home)
    monkeypatch.setenv("SCRM_HOME", str(home))
    tag_dir = project / "models" / "tags" / "social"
    (tag_dir / "tag_staff_reach.sql").write_text(NEW_TAG_SQL, encoding="utf-8")
    (tag_dir / "_staff_reach__tags.yml").write_text(NEW_TAG_YAML, encoding="utf-8")
    rules = project / "tag_rules.yml"
    rules.write_text(rules.read_text(encoding="utf-8") + NEW_RULE, encoding="utf-8")

    # WeCom allows 100 values per tag group; with a limit of 5 the catalog must warn.
    catalog_yaml = project / "models" / "marts" / "tags" / "_tags__models.yml"
    catalog_yaml.write_text(
        catalog_yaml.read_text(encoding="utf-8").replace(
            "      - wecom_tag_limits:\n",
            "      - wecom_tag_limits:\n          arguments: {max_tags_per_group: 5}\n",
        ),
        encoding="utf-8",
    )

    assert "tag_staff_reach" in prepare(project)
    dbt_vars = json.dumps({"as_of_date": CUSTOMER_MARTS_AS_OF})
    result = dbt(
        project,
        "build",
        "--select",
        "path:models/tags",
        "path:models/marts/tags",
        "--vars",
        dbt_vars,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    # last_ship_province has 6 values: a warning, not a failure.
    assert "WARN=1 ERROR=0" in result.stdout
    assert "Warning in test wecom_tag_limits_tag_catalog" in result.stdout

    warehouse = home / "warehouse.duckdb"
    tags = profile(warehouse, "friend_staff_count", "reachable_regular")
    assert tags["C"] == (1, True)  # C deletes S2 only on 07-02
    assert tags["D"] == (0, False)
    assert tags["G"] == (0, False)
    assert query(
        warehouse,
        """
        select tag_category, tag_value from marts.customer_tags
        where customer_id = 'C' and tag_name = 'friend_staff_count'
        """,
    ) == [("social", "1")]
    # The kept history gains the tag as a column, empty on the night before it existed, so
    # the change log has the tag appear tonight wherever it has a value.
    assert query(
        warehouse,
        """
        select as_of_date::varchar, count(friend_staff_count), count(reachable_regular)
        from marts.customer_profile_history group by 1 order by 1
        """,
    ) == [
        ("2026-06-29", 0, 0),
        (
            CUSTOMER_MARTS_AS_OF,
            sum(staff is not None for staff, _ in tags.values()),
            sum(regular is not None for _, regular in tags.values()),
        ),
    ]
    assert query(
        warehouse,
        """
        select tag_category, old_value, new_value from marts.tag_changes
        where customer_id = 'C' and tag_name = 'friend_staff_count'
        """,
    ) == [("social", None, "1")]
    assert query(
        warehouse, "select display_name from marts.tag_catalog where tag_name = 'reachable_regular'"
    ) == [("可触达老客",)]

    # A tag model added without `scrm prepare` stops the build with the way out.
    (tag_dir / "tag_staff_reach_copy.sql").write_text(NEW_TAG_SQL, encoding="utf-8")
    (tag_dir / "_staff_reach_copy__tags.yml").write_text(
        NEW_TAG_YAML.replace("tag_staff_reach", "tag_staff_reach_copy").replace(
            "friend_staff_count", "staff_count_copy"
        ),
        encoding="utf-8",
    )
    stale = dbt(project, "build", "--select", "tag_profile_base", "--vars", dbt_vars)
    assert stale.returncode != 0
    assert "Run `scrm prepare`" in stale.stdout

    # A bad rule stops `prepare` with the rule and the file named.
    rules.write_text(
        rules.read_text(encoding="utf-8").replace(
            "paid_order_count >= 3", "paid_order_count >= 3; drop table marts.customer_profile"
        ),
        encoding="utf-8",
    )
    with pytest.raises(RuleError, match=r"tag_rules\.yml: rule 'reachable_regular'"):
        prepare(project)
