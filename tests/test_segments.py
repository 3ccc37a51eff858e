"""Segments (人群包) on the customer-story fixture, members worked out by hand.

Stories: tests/fixtures/raw_customer_marts/README.md.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import openpyxl
import pyarrow.parquet as pq
import pytest

from orchestration.publishing.lock import LOCK_FILE
from tests.conftest import CUSTOMER_MARTS_AS_OF, CUSTOMER_MARTS_RAW, copy_dbt_project, query

EXPECTED_MEMBERS = {
    # Friends with no purchase: B (only order refunded) and H.
    "seg_never_bought": ["B", "H"],
    # Confirmed purchase, none in 30 days: C (90), E (exactly 30), G (149), I (33). D bought
    # 29 days ago; E's order of 06-20 was cancelled and is no purchase.
    "seg_churned": ["C", "E", "G", "I"],
    "seg_mask_repurchase_due": ["E", "F", "I"],
    "seg_high_value": [],
    # Bought in the last 30 days, nobody's friend: D (06-01, 29 days) and J (06-30). E's
    # purchase of 05-31 is 30 days old; A, F (friends) and I (a friend since 04-01) are out.
    "seg_buyers_not_friends": ["D", "J"],
    # Active in 30 days, not in 15: F opened content on 06-10.
    "seg_about_to_go_silent": ["F"],
    # Value tier vip or high, no level above 普通会员: A (C is 银卡, D 金卡).
    "seg_membership_invite": ["A"],
    "seg_car_seat_cross_sell": ["D"],
    # Current friends only: G (宝妈) deleted us.
    "seg_identity_baoma": ["B"],
    "seg_identity_student": ["F"],
    "seg_identity_office_worker": ["A", "C", "I"],
    # The fixture has no groups (tests/test_groups.py has the segment's own night).
    "seg_left_group_this_week": [],
}


# The header of seg_churned's paid_amount_365d_cny, Chinese parentheses and all.
CHURNED_PAID_HEADER = "近365天实付金额\uff08元\uff09"


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
        "select customer_id, sku_id, expected_run_out_on from segments.seg_mask_repurchase_due"
        " order by customer_id",
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
    # On 06-29 E had bought 29 days before, and J not yet.
    assert night_before["seg_buyers_not_friends"] == ["D", "E"]


def test_buyers_not_friends_carry_what_a_friend_request_needs(customer_marts_warehouse):
    """D has paid 100 + 1299 + 359 = 1758, the latest D3 on 06-01; J 100 (J1 on 06-30; J2 is
    paid on 07-01, not yet). Ranked by value: D first. The export is sorted by customer id,
    the rank a column; J entered since 06-29 and E left."""
    night = customer_marts_warehouse.parent / "exports" / CUSTOMER_MARTS_AS_OF
    exported = pq.read_table(night / "seg_buyers_not_friends.parquet").to_pylist()
    assert [
        (
            row["customer_id"],
            row["value_rank"],
            float(row["paid_amount_cny"]),
            row["last_purchase_on"].isoformat(),
            row["last_purchase_channel"],
            row["last_order_id"],
            row["last_buyer_id"],
            row["known_ids"],
            row["friend_status"],
        )
        for row in exported
    ] == [
        ("D", 1, 1758.0, "2026-06-01", "wechat_shop", "D3", "D", "D", "never_friend"),
        ("J", 2, 100.0, "2026-06-30", "wechat_shop", "J1", "J", "J", "never_friend"),
    ]
    assert exported[0]["reason"] == (
        "friend_status=never_friend != current_friend; days_since_last_purchase=29 < 30; "
        "paid_amount_cny=1758.00"
    )
    entered = (night / "seg_buyers_not_friends.entered.csv").read_text("utf-8-sig")
    left = (night / "seg_buyers_not_friends.left.csv").read_text("utf-8-sig")
    assert (entered.splitlines(), left.splitlines()) == (["customer_id", "J"], ["customer_id", "E"])
    manifest = json.loads((night / "manifest.json").read_text(encoding="utf-8"))
    # Not a push: no priority, no cool-down, no holdout; no WeCom tag for a non-friend.
    entry = manifest["segments"]["seg_buyers_not_friends"]
    assert entry["membership"] == {
        "members": 2,
        "exported": 2,
        "holdout": 0,
        "priority": 0,
        "cooldown": 0,
    }
    assert entry.get("wecom_tag") is None
    sheet = openpyxl.load_workbook(night / "seg_buyers_not_friends.xlsx")["已购未加好友"]
    assert [cell.value for cell in next(sheet.iter_rows())] == [
        "客户ID",
        "价值排名",
        "累计实付金额（元）",
        "最近购买日期",
        "最近购买店铺",
        "最近订单号",
        "最近购买的买家ID",
        "全部ID",
        "好友状态",
        "入选原因",
    ]


def test_wecom_remarks_fit_the_limit(customer_marts_warehouse):
    sql = "select customer_id, remark, remark_omitted_parts from marts.wecom_customer_remarks"
    rows = {
        customer: (remark, omitted)
        for customer, remark, omitted in query(customer_marts_warehouse, sql)
    }
    assert rows["C"] == ("★★★|上班族|互动0", None)
    assert rows["I"] == ("★|上班族|互动3", None)
    assert rows["H"] == ("||互动1", None)
    # The fixture's identities are short: every remark is whole, none over 20 characters.
    assert {omitted for _, omitted in rows.values()} == {None}
    assert max(len(remark) for remark, _ in rows.values()) <= 20


def test_exports_of_two_nights(customer_marts_warehouse):
    exports = customer_marts_warehouse.parent / "exports"
    assert sorted(path.name for path in exports.iterdir()) == [
        LOCK_FILE,
        "2026-06-29",
        "2026-06-30",
    ]
    night = exports / CUSTOMER_MARTS_AS_OF
    manifest = json.loads((night / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["previous_night"] == "2026-06-29"
    churned = manifest["segments"]["seg_churned"]
    # Members C, E, G, I: E and I get the mask push instead (priority), G is in the holdout.
    assert (churned["rows"], churned["entered"], churned["left"]) == (1, 0, 0)
    assert churned["membership"] == {
        "members": 4,
        "exported": 1,
        "holdout": 1,
        "priority": 2,
        "cooldown": 0,
    }
    # For people: a byte-order mark for Excel, and the same rows as an .xlsx with the headers
    # of the segment's YAML.
    churned_csv = (night / "seg_churned.csv").read_bytes()
    assert churned_csv.startswith(b"\xef\xbb\xbf")
    assert churned_csv.decode("utf-8-sig").splitlines() == [
        "customer_id,days_since_last_purchase,paid_amount_365d_cny,reason",
        # Monetary 100 + 50 + 300 (fixture README); the reason in words (test_language.py).
        "C,90,450.00,距上次购买 90 天（≥30 天）；上次购买 2026-04-01",
    ]
    sheet = openpyxl.load_workbook(night / "seg_churned.xlsx")["流失客户"]
    assert [[cell.value for cell in row] for row in sheet.iter_rows()] == [
        ["客户ID", "距上次购买天数", CHURNED_PAID_HEADER, "入选原因"],
        ["C", 90, 450, "距上次购买 90 天（≥30 天）；上次购买 2026-04-01"],
    ]
    assert sorted(churned["files"]) == [
        f"seg_churned.{kind}" for kind in ("csv", "entered.csv", "left.csv", "parquet", "xlsx")
    ]
    for name, digest in churned["files"].items():
        assert hashlib.sha256((night / name).read_bytes()).hexdigest() == digest
    # Nobody's exported segments changed since 06-29: no WeCom tag to add or remove.
    assert (night / "wecom_tag_sync.csv").read_text(encoding="utf-8").splitlines() == [
        "tag,action,customer_id,remark"
    ]
    first_sync = (exports / "2026-06-29" / "wecom_tag_sync.csv").read_text("utf-8").splitlines()
    assert [line for line in first_sync if line.startswith("流失客户")] == [
        "流失客户,add,C,★★★|上班族|互动0"
    ]
    # One file per next best action, from the same night's next_best_action.
    repurchase = (night / "nba_repurchase_coupon.csv").read_text("utf-8-sig").splitlines()
    assert [line.split(",")[0] for line in repurchase] == ["customer_id", "E", "F", "I"]
    assert manifest["segments"]["nba_win_back"]["rows"] == 1
    first_night = json.loads((exports / "2026-06-29" / "manifest.json").read_text("utf-8"))
    assert first_night["segments"]["seg_never_bought"]["entered"] == 2


def test_every_member_carries_the_reason_from_its_criteria(customer_marts_warehouse):
    reasons = {
        (segment, customer): reason
        for segment, customer, reason in query(
            customer_marts_warehouse,
            f"""
            select segment_name, customer_id, reason from marts.segment_membership
            where as_of_date = '{CUSTOMER_MARTS_AS_OF}'
            """,
        )
    }
    assert reasons[("seg_churned", "C")] == (
        "days_since_last_purchase=90 >= 30; last_purchase_on=2026-04-01"
    )
    assert reasons[("seg_never_bought", "H")] == (
        "friend_status=current_friend; paid_order_count=0; days_as_friend=10"
    )
    assert reasons[("seg_membership_invite", "A")] == (
        "customer_value_tier=high in (vip, high); member_level=普通会员"
    )
    assert reasons[("seg_mask_repurchase_due", "F")] == (
        "category=面膜; is_repurchase_due=true; expected_run_out_on=2026-07-01"
    )
    assert reasons[("seg_car_seat_cross_sell", "D")] == (
        "source_category=儿童安全座椅; target_category=儿童安全用品"
    )
    assert reasons[("seg_identity_baoma", "B")] == "friend_status=current_friend; identity=宝妈"


def test_every_member_carries_the_criteria_as_fields_too(customer_marts_warehouse):
    """reason_fields (macro segment_reason_fields) holds the reason's criteria as fields, and
    words to the same text as the reason read back; the files people open use the fields."""
    from orchestration.language import speaking
    from orchestration.reasons import readable_reason, reason_from_fields

    def member(segment: str, customer: str) -> tuple[str, str]:
        ((reason, fields),) = query(
            customer_marts_warehouse,
            f"select reason, reason_fields from segments.{segment} "
            f"where customer_id = '{customer}'",
        )
        return reason, fields

    expected = {
        ("seg_churned", "C"): [
            {"column": "days_since_last_purchase", "value": "90", "op": ">=", "rule": ["30"]},
            {"column": "last_purchase_on", "value": "2026-04-01", "op": None, "rule": []},
        ],
        ("seg_membership_invite", "A"): [
            {"column": "customer_value_tier", "value": "high", "op": "in", "rule": ["vip", "high"]},
            {"column": "member_level", "value": "普通会员", "op": "=", "rule": []},
        ],
        ("seg_mask_repurchase_due", "F"): [
            {"column": "category", "value": "面膜", "op": "=", "rule": []},
            {"column": "is_repurchase_due", "value": "true", "op": "=", "rule": []},
            {"column": "expected_run_out_on", "value": "2026-07-01", "op": None, "rule": []},
        ],
        ("seg_identity_baoma", "B"): [
            {"column": "friend_status", "value": "current_friend", "op": "=", "rule": []},
            {"column": "identity", "value": "宝妈", "op": "=", "rule": []},
        ],
    }
    for (segment, customer), criteria in expected.items():
        reason, fields = member(segment, customer)
        assert json.loads(fields) == criteria, (segment, customer)
        for language in ("zh", "en"):
            with speaking(language):
                assert reason_from_fields(fields) == readable_reason(reason), (segment, language)
    night = customer_marts_warehouse.parent / "exports" / CUSTOMER_MARTS_AS_OF
    parquet = pq.read_table(night / "seg_churned.parquet")
    assert parquet.column_names[-2:] == ["reason", "reason_fields"]
    assert json.loads(parquet.column("reason_fields")[0].as_py()) == expected[("seg_churned", "C")]


def test_who_is_exported_tonight(customer_marts_warehouse):
    decided = query(
        customer_marts_warehouse,
        f"""
        select segment_name, customer_id, is_exported, suppression, outranked_by
        from marts.segment_membership
        where as_of_date = '{CUSTOMER_MARTS_AS_OF}' and not is_exported
        order by all
        """,
    )
    assert decided == [
        # F's mask runs out: that push wins over the wake-up content, as E's and I's over churn.
        ("seg_about_to_go_silent", "F", False, "priority", "seg_mask_repurchase_due"),
        ("seg_churned", "E", False, "priority", "seg_mask_repurchase_due"),
        # md5("scrm-holdout-v1|seg_churned|G") starts 0x...: bucket 190 of 10000, under 1000.
        ("seg_churned", "G", False, "holdout", None),
        ("seg_churned", "I", False, "priority", "seg_mask_repurchase_due"),
    ]


FAILING_TEST = """\
-- Fails on purpose: customer C exists.
select customer_id from {{ ref('customer_profile') }} where customer_id = 'C'
"""


def test_a_failed_check_publishes_nothing(customer_marts_warehouse, tmp_path):
    project = copy_dbt_project(tmp_path / "dbt_project")
    (project / "tests").mkdir(exist_ok=True)
    (project / "tests" / "assert_profile_without_customer_c.sql").write_text(
        FAILING_TEST, encoding="utf-8"
    )
    home = tmp_path / "home"
    shutil.copytree(customer_marts_warehouse.parent, home)
    published = (home / "exports" / CUSTOMER_MARTS_AS_OF / "manifest.json").read_bytes()
    environment = {**os.environ, "SCRM_DBT_PROJECT_DIR": str(project)}
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "scrm"),
            "run",
            "--raw",
            str(CUSTOMER_MARTS_RAW),
            "--home",
            str(home),
            "--as-of",
            "2026-07-01",
            "--run-started-at",
            "2026-07-31 12:00:00",
        ],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    assert result.returncode != 0
    assert "assert_profile_without_customer_c" in result.stdout + result.stderr
    assert sorted(path.name for path in (home / "exports").iterdir()) == [
        LOCK_FILE,
        "2026-06-29",
        "2026-06-30",
    ]
    assert (home / "exports" / CUSTOMER_MARTS_AS_OF / "manifest.json").read_bytes() == published


def test_next_best_action_takes_the_highest_priority(customer_marts_warehouse):
    actions = dict(
        query(customer_marts_warehouse, "select customer_id, action from marts.next_best_action")
    )
    assert actions == {
        # Masks running out win over churn (E, I) and over going quiet (F).
        "E": "repurchase_coupon",
        "F": "repurchase_coupon",
        "I": "repurchase_coupon",
        "B": "first_order_coupon",
        "H": "first_order_coupon",
        "D": "cross_sell",
        "A": "membership_invite",
        "C": "win_back",
        # G, churned too, is in that segment's holdout: no action.
    }


def holdout_bucket(segment: str, customer_id: str, salt: str = "scrm-holdout-v1") -> int:
    """The holdout hash, computed here independently of the SQL: md5's first 32 bits."""
    digest = hashlib.md5(f"{salt}|{segment}|{customer_id}".encode()).hexdigest()
    return int(digest[:8], 16) % 10_000


def test_every_exported_column_has_a_header_in_both_languages():
    """The .xlsx headers come from each column's display_name in the YAML, or display_name_en
    in English, for every export; the sheet is named in the same language."""
    from orchestration.project import dbt_project
    from orchestration.segments import (
        load_manifest,
        next_best_action_exports,
        segment_exports,
    )

    manifest = load_manifest(dbt_project.manifest_path)
    actions = {"win_back": "Win back", "cross_sell": "Cross-sell"}

    def exports(language: str) -> dict:
        return {
            export.name: export
            for export in [
                *segment_exports(manifest, language),
                *next_best_action_exports(manifest, actions, language),
            ]
        }

    chinese, english = exports("zh"), exports("en")
    assert len(chinese) == len(english) == len(EXPECTED_MEMBERS) + 2
    for export in chinese.values():
        untranslated = [h for h in export.headers if not re.search(r"[\u4e00-\u9fff]", h)]
        assert untranslated == [], export.name
    for export in english.values():
        # A header in English is declared, not the column name it falls back to.
        assert not set(export.headers) & set(export.columns), export.name
        assert all(header.isascii() for header in export.headers), export.name
    assert chinese["seg_never_bought"].headers == (
        "客户ID",
        "加好友天数",
        "来源渠道编码",
        "入选原因",
    )
    assert english["seg_never_bought"].headers == (
        "Customer ID",
        "Days as a friend",
        "Channel code",
        "Why selected",
    )
    assert chinese["seg_churned"].headers[2] == CHURNED_PAID_HEADER
    assert chinese["nba_win_back"].headers == (
        "客户ID",
        "优先级",
        "人群包",
        "推荐理由",
        "行动细节",
        "入选原因",
    )
    assert english["nba_win_back"].headers == (
        "Customer ID",
        "Priority",
        "Segment",
        "Why this action",
        "Action detail",
        "Why selected",
    )
    # Sheets: the segment's display name, in English its display_name_en; an action's seed
    # display name through the catalog. The manifest's display_name does not change with the
    # language.
    assert (chinese["seg_churned"].sheet_name, english["seg_churned"].sheet_name) == (
        "流失客户",
        "Churned customers",
    )
    assert chinese["seg_churned"].display_name == english["seg_churned"].display_name == "流失客户"
    assert (chinese["nba_win_back"].sheet_name, english["nba_win_back"].sheet_name) == (
        "流失挽回",
        "Win back",
    )
    assert chinese["nba_cross_sell"].sheet_name == "交叉销售"
    assert chinese["nba_win_back"].display_name == "win_back"


def test_a_next_best_action_export_is_described_in_the_operators_language(monkeypatch):
    """The description the exports manifest and the report show names the action by its seed
    display_name through the catalog, in Chinese unless SCRM_LANG=en, never by its code."""
    from orchestration.project import dbt_project
    from orchestration.segments import load_manifest, next_best_action_exports

    manifest = load_manifest(dbt_project.manifest_path)
    actions = {"win_back": "Win back", "no_name_yet": ""}

    def descriptions(language: str | None) -> dict[str, str]:
        exports = next_best_action_exports(manifest, actions, language)
        return {export.name: export.description for export in exports}

    assert descriptions("zh") == {
        "nba_no_name_yet": "今晚下一步最佳行动为「no_name_yet」的客户。",
        "nba_win_back": "今晚下一步最佳行动为「流失挽回」的客户。",
    }
    assert descriptions("en") == {
        "nba_no_name_yet": 'Customers whose next best action tonight is "no_name_yet".',
        "nba_win_back": 'Customers whose next best action tonight is "Win back".',
    }
    # Without a language argument: SCRM_LANG, else Chinese.
    monkeypatch.delenv("SCRM_LANG", raising=False)
    assert descriptions(None)["nba_win_back"] == "今晚下一步最佳行动为「流失挽回」的客户。"
    monkeypatch.setenv("SCRM_LANG", "en")
    assert descriptions(None)["nba_win_back"] == (
        'Customers whose next best action tonight is "Win back".'
    )


def test_every_segment_is_described_in_both_languages():
    """meta.segment.description_zh in Chinese, the model's description in English: the
    exports manifest gives the one of the language its files are written in."""
    from orchestration.project import dbt_project
    from orchestration.segments import (
        load_manifest,
        segment_declaration,
        segment_description,
        segment_exports,
    )

    manifest = load_manifest(dbt_project.manifest_path)
    nodes = {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node.get("resource_type") == "model" and node["fqn"][1] == "segments"
    }
    assert sorted(nodes) == sorted(EXPECTED_MEMBERS)
    chinese = {name: segment_description(node, "zh") for name, node in nodes.items()}
    english = {name: segment_description(node, "en") for name, node in nodes.items()}
    # Each declared: the Chinese one is no fallback on the English.
    undeclared = [
        n for n, node in nodes.items() if not segment_declaration(node).get("description_zh")
    ]
    assert undeclared == []
    assert [n for n, text in english.items() if not text] == []
    assert chinese["seg_churned"] == "有过确认订单、但近 30 天没有购买的客户（运营的流失规则）。"
    assert english["seg_churned"] == (
        "Had a confirmed purchase and no purchase in the last 30 days (the operators' 流失 rule)."
    )
    exported = {
        language: {
            export.name: export.description for export in segment_exports(manifest, language)
        }
        for language in ("zh", "en")
    }
    assert exported == {"zh": chinese, "en": english}


def test_holdout_is_a_stable_hash_of_segment_and_customer(
    customer_marts_warehouse, generated_night
):
    from orchestration.project import dbt_project
    from orchestration.segment_declarations import segment_declaration, segment_settings
    from orchestration.segments import load_manifest

    shares = {
        node["name"]: segment_settings(node["name"], declaration).holdout_share
        for node in load_manifest(dbt_project.manifest_path)["nodes"].values()
        if (declaration := segment_declaration(node))
    }
    assert shares["seg_never_bought"] == shares["seg_churned"] == 0.1
    membership = "select segment_name, customer_id, is_holdout from marts.segment_membership"
    two_nights = query(customer_marts_warehouse, membership)
    for segment, customer_id, is_holdout in [*two_nights, *query(generated_night[1], membership)]:
        assert is_holdout == (holdout_bucket(segment, customer_id) < shares[segment] * 10_000)
    # The same customer in the same segment on both fixture nights has the same flag.
    flags: dict[tuple[str, str], set[bool]] = {}
    for segment, customer_id, is_holdout in two_nights:
        flags.setdefault((segment, customer_id), set()).add(is_holdout)
    assert all(len(seen) == 1 for seen in flags.values())
    # On the 200 generated customers the shares draw real control groups.
    held = query(
        generated_night[1],
        """
        select segment_name, count(*) filter (where is_holdout), count(*)
        from marts.segment_membership group by 1 order by 1
        """,
    )
    for segment, holdout, _members in held:
        if shares[segment] == 0:
            assert holdout == 0, segment
    assert sum(holdout for _, holdout, _ in held) > 0


def test_each_customer_gets_at_most_one_push_a_night(generated_night):
    pushes = query(
        generated_night[1],
        """
        select customer_id, count(*) from marts.segment_membership
        where is_exclusive and is_exported group by 1 having count(*) > 1
        """,
    )
    assert pushes == []
    # A customer in several push segments is assigned the one with the lowest priority, and
    # exported in it unless held out.
    outranked = query(
        generated_night[1],
        """
        select count(*) from marts.segment_membership as loser
        inner join marts.segment_membership as winner
            on loser.customer_id = winner.customer_id
            and winner.segment_name = loser.outranked_by
        where loser.suppression = 'priority'
            and (winner.is_exported or winner.suppression = 'holdout')
            and winner.segment_priority < loser.segment_priority
        """,
    )[0][0]
    assert (
        outranked
        == query(
            generated_night[1],
            "select count(*) from marts.segment_membership where suppression = 'priority'",
        )[0][0]
    )
    assert outranked > 0


def test_campaign_lift_on_the_fixture(customer_marts_warehouse):
    # Entered 06-29 (the first night): churned C treated, G held out; never-bought B and H
    # treated, nobody held out. Nobody has paid since, and the 14-day windows are still open.
    # 0 of 1 has the Wilson interval [0, 1.96² / (1 + 1.96²)] = [0, 0.7935], so the lift 0
    # has the Newcombe interval -0.7935 to 0.7935 (Wald's was the point 0); 0 of 2 has
    # [0, 3.8416 / 5.8416] = [0, 0.6576]. An arm of one, and an empty arm, are too few (30).
    lift = query(
        customer_marts_warehouse,
        """
        select segment_name, entry_date, is_window_complete, treated_customers,
            holdout_customers, treated_conversion_rate, holdout_conversion_rate, conversion_lift,
            treated_conversion_ci_high, conversion_lift_ci_low, conversion_lift_ci_high,
            min_arm_customers, too_few_to_tell
        from marts.campaign_lift order by segment_name
        """,
    )
    night = date(2026, 6, 29)
    assert lift == [
        ("seg_churned", night, False, 1, 1, 0.0, 0.0, 0.0, 0.7935, -0.7935, 0.7935, 30, True),
        ("seg_never_bought", night, False, 2, 0, 0.0, None, None, 0.6576, None, None, 30, True),
    ]
    # No window has ended, so nothing is pooled yet.
    assert query(customer_marts_warehouse, "select * from marts.campaign_lift_pooled") == []


def test_wecom_tags_per_current_friendship(customer_marts_warehouse):
    # Friends on 06-30: A, B, F, H of S1 and C, I of S2 (G deleted S1 on 06-15). Each carries
    # the tags of the mapped segments it is exported in: I's churn is outranked by the mask,
    # A's membership invite and F's wake-up content map to no tag.
    expected = [
        ("S1", "A", "上班族"),
        ("S1", "B", "宝妈|未购新客"),
        ("S1", "F", "学生|面膜复购"),
        ("S1", "H", "未购新客"),
        ("S2", "C", "上班族|流失客户"),
        ("S2", "I", "上班族|面膜复购"),
    ]
    tags = "select staff_id, customer_id, wecom_tags from marts.wecom_friendship_tags"
    assert query(customer_marts_warehouse, f"{tags} order by all") == expected
    exports = customer_marts_warehouse.parent / "exports"
    # The first night adds every tag; nothing changed by 06-30, so no call then.
    first = (exports / "2026-06-29" / "wecom_mark_tag.csv").read_text("utf-8").splitlines()
    assert first == ["minute,staff_id,customer_id,add_tags,remove_tags"] + [
        f"0,{staff},{customer},{tags}," for staff, customer, tags in expected
    ]
    manifest = json.loads((exports / CUSTOMER_MARTS_AS_OF / "manifest.json").read_text("utf-8"))
    assert manifest["wecom_mark_tag"]["calls"] == 0
    assert manifest["wecom_mark_tag"]["friendships"] == 6
    assert manifest["guard"] == {
        "held": False,
        "reasons": [],
        "findings": [],
        "holds_published_warehouse": False,
    }
    assert manifest["tag_coverage"]["identity"] == 0.7


def test_a_segment_mapping_wecom_cannot_hold_stops_prepare(tmp_path):
    from orchestration.tag_registry import PrepareError, prepare

    project = copy_dbt_project(tmp_path / "dbt_project")
    declarations = project / "models" / "segments" / "_segments__models.yml"
    text = declarations.read_text(encoding="utf-8")
    # 16 characters: one more than WeCom's tag names hold.
    too_long = "高价值客户" * 3 + "高"
    assert len(too_long) == 16
    declarations.write_text(text.replace("wecom_tag: 高价值", f"wecom_tag: {too_long}"), "utf-8")
    with pytest.raises(PrepareError, match=r"segment seg_high_value: WeCom tag .* 16 characters"):
        prepare(project)
    # '|' separates a friendship's tags in the sync files: 高价值|VIP would arrive as two tags.
    declarations.write_text(text.replace("wecom_tag: 高价值", "wecom_tag: 高价值|VIP"), "utf-8")
    with pytest.raises(PrepareError, match=r"segment seg_high_value: WeCom tag .* contains '\|'"):
        prepare(project)
    # An exclusive segment without a priority is refused too, naming it.
    declarations.write_text(text.replace("          priority: 6\n", ""), "utf-8")
    with pytest.raises(PrepareError, match="segment seg_churned: an exclusive segment needs"):
        prepare(project)
