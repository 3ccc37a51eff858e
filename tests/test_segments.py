"""Segments (人群包) on the customer-story fixture, members worked out by hand.

Stories: tests/fixtures/raw_customer_marts/README.md.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

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
    assert (churned["rows"], churned["entered"], churned["left"]) == (4, 1, 0)
    assert (night / "seg_churned.entered.csv").read_text(encoding="utf-8").split() == [
        "customer_id",
        "E",
    ]
    for name, digest in churned["files"].items():
        assert hashlib.sha256((night / name).read_bytes()).hexdigest() == digest
    # E entered the churned segment tonight: WeCom gets the tag with E's remark.
    assert (night / "wecom_tag_sync.csv").read_text(encoding="utf-8").splitlines() == [
        "tag,action,customer_id,remark",
        "流失客户,add,E,||互动0",
    ]
    # One file per next best action, from the same night's next_best_action.
    repurchase = (night / "nba_repurchase_coupon.csv").read_text(encoding="utf-8").splitlines()
    assert [line.split(",")[0] for line in repurchase] == ["customer_id", "E", "F", "I"]
    assert manifest["segments"]["nba_win_back"]["rows"] == 2
    first_night = json.loads((exports / "2026-06-29" / "manifest.json").read_text("utf-8"))
    assert first_night["segments"]["seg_never_bought"]["entered"] == 2


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
        "G": "win_back",
    }
