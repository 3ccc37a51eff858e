"""Nights on data shaped like what brands send, not like what the generator writes.

- tests/fixtures/raw_real_shop: a shop selling on 淘宝, 京东, 快手, 小红书, 直播间, a
  "双11"专场 and an English `online`, with member levels of its own (钻石会员, VIP3, 粉丝),
  an English province, a city outside the city-tier seed, a product category no seed knows,
  an order of 2016 and no skin_type column. Its README has the arithmetic.
- tests/fixtures/raw_cdnow_1998: a CDNOW-shaped purchase log of 1997-1998 (customer, day,
  quantity, amount), with customers known by id only and no friends or interactions.

Each night exits 0 and publishes its exports, BI copy and report.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestration.cli import main, run_night
from orchestration.publishing.exports import read_manifest
from orchestration.publishing.warehouse import published_night
from tests.conftest import FIXTURES, night_fixture, query

REAL_SHOP_RAW = FIXTURES / "raw_real_shop"
REAL_SHOP_AS_OF = "2026-11-30"
CDNOW_RAW = FIXTURES / "raw_cdnow_1998"


@night_fixture(scope="module")
def real_shop_night(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("real_shop_home")
    # The report in English, the language these tests read it in.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SCRM_LANG", "en")
        result = run_night(REAL_SHOP_RAW, home, REAL_SHOP_AS_OF, "2026-12-01 08:00:00")
    assert result.success
    return result, home


def test_a_night_of_open_vocabularies_publishes(real_shop_night) -> None:
    _, home = real_shop_night
    night = date.fromisoformat(REAL_SHOP_AS_OF)
    assert published_night(home / "published") == night
    assert read_manifest(home / "exports", night)["guard"]["held"] is False
    assert (home / "reports" / f"{REAL_SHOP_AS_OF}.html").is_file()


def test_unseen_values_are_kept_in_the_tags(real_shop_night) -> None:
    _, home = real_shop_night
    profile = query(
        home / "warehouse.duckdb",
        "select customer_id, favourite_sales_channel, first_order_channel, member_level "
        "from marts.customer_profile order by customer_id",
    )
    assert profile == [
        ("R01", "淘宝", "淘宝", "钻石会员"),
        ("R02", "京东", "京东", "VIP3"),  # 京东 twice, 淘宝 once
        ("R03", "快手", "快手", "金卡"),
        ("R04", "小红书", "小红书", None),
        ("R05", "online", "online", "普通会员"),
        # One purchase each way: the tie goes to the name first in order ('"' before 直).
        ("R06", '"双11"专场', "直播间", "粉丝"),
        ("R07", "wechat_shop", "wechat_shop", "银卡"),
        ("R08", None, None, "普通会员"),
        ("R09", "淘宝", "淘宝", "钻石会员"),
    ]


def test_unseen_values_are_listed_per_tag_and_value(real_shop_night) -> None:
    _, home = real_shop_night
    unseen = query(
        home / "warehouse.duckdb",
        "select tag_name, tag_value, customers from marts.tag_unseen_values "
        "order by tag_name, tag_value",
    )
    assert unseen == [
        ("favourite_sales_channel", '"双11"专场', 1),
        ("favourite_sales_channel", "online", 1),
        ("favourite_sales_channel", "京东", 1),
        ("favourite_sales_channel", "小红书", 1),
        ("favourite_sales_channel", "快手", 1),
        ("favourite_sales_channel", "淘宝", 2),  # R01, R09
        ("first_order_channel", "online", 1),
        ("first_order_channel", "京东", 1),
        ("first_order_channel", "小红书", 1),
        ("first_order_channel", "快手", 1),
        ("first_order_channel", "淘宝", 2),
        ("first_order_channel", "直播间", 1),
        ("member_level", "VIP3", 1),
        ("member_level", "粉丝", 1),
        ("member_level", "钻石会员", 2),
    ]
    catalog = query(
        home / "warehouse.duckdb",
        "select tag_name, known_values, unseen_values, unseen_value_customers "
        "from marts.tag_catalog where known_values is not null order by tag_name",
    )
    channels = "wechat_shop, mini_program, douyin_shop, offline_store"
    assert catalog == [
        (
            "favourite_sales_channel",
            channels,
            '"双11"专场 (1) | online (1) | 京东 (1) | 小红书 (1) | 快手 (1) | 淘宝 (2)',
            7,
        ),
        (
            "first_order_channel",
            channels,
            "online (1) | 京东 (1) | 小红书 (1) | 快手 (1) | 淘宝 (2) | 直播间 (1)",
            7,
        ),
        ("member_level", "普通会员, 银卡, 金卡, 黑金", "VIP3 (1) | 粉丝 (1) | 钻石会员 (2)", 4),
    ]
    # A tag without known values has none unseen.
    assert query(
        home / "warehouse.duckdb",
        "select unseen_values, unseen_value_customers from marts.tag_catalog "
        "where tag_name = 'province'",
    ) == [(None, 0)]


def test_unseen_values_warn_in_dagster_and_the_report(real_shop_night) -> None:
    result, home = real_shop_night
    (check,) = [
        evaluation
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.check_name.startswith("is_empty_tag_unseen_values")
    ]
    assert (check.passed, check.severity.value) == (False, "WARN")
    (report,) = [
        event.materialization
        for event in result.get_asset_materialization_events()
        if event.materialization.asset_key.to_user_string() == "reports/nightly_report"
    ]
    listed = report.metadata["unseen_tag_values"].value
    assert len(listed) == 15
    assert {"tag_name": "member_level", "tag_value": "钻石会员", "customers": 2} in listed
    html = (home / "reports" / f"{REAL_SHOP_AS_OF}.html").read_text(encoding="utf-8")
    table = html.split('data-table="tag_unseen_values"', 1)[1].split("</table>", 1)[0]
    assert "钻石会员" in table and "&#34;双11&#34;专场" in table
    assert "Tag values outside the known values (customers)</td>" in html


def test_a_night_before_the_first_night_says_what_to_set(tmp_path: Path) -> None:
    outcome = CliRunner().invoke(
        main,
        ["run", "--raw", str(CDNOW_RAW), "--home", str(tmp_path), "--as-of", "1997-09-30"],
        env={"SCRM_FIRST_NIGHT": "", "SCRM_LANG": "en"},
    )
    assert outcome.exit_code == 1
    assert outcome.output.startswith(
        "Error: the night of 1997-09-30 is before the first night, 2020-01-01. Set the first "
        "night to the first day of your data: --first-night 1997-09-30 (or earlier)"
    )
    assert "Traceback" not in outcome.output and "Dagster" not in outcome.output
    outcome = CliRunner().invoke(
        main,
        ["run", "--raw", str(CDNOW_RAW), "--home", str(tmp_path), "--as-of", "2999-01-01"],
        env={"SCRM_LANG": "en"},
    )
    assert outcome.exit_code == 1
    assert "the night of 2999-01-01 has not ended yet in Asia/Shanghai" in outcome.output
    outcome = CliRunner().invoke(
        main,
        ["run", "--raw", str(CDNOW_RAW), "--home", str(tmp_path), "--as-of", "1998-06-30"],
        env={"SCRM_FIRST_NIGHT": "30/06/1997"},
    )
    assert outcome.exit_code == 2  # click's usage error names the option and its variable
    assert "SCRM_FIRST_NIGHT" in outcome.output and "'30/06/1997'" in outcome.output


@pytest.mark.night
def test_a_night_in_1998_runs_with_the_first_night_set(tmp_path: Path) -> None:
    """Its own process, as a user runs it: the partitions are built when the definitions load."""
    home = tmp_path / "home"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestration.cli",
            "run",
            "--raw",
            str(CDNOW_RAW),
            "--home",
            str(home),
            "--as-of",
            "1998-06-30",
            "--run-started-at",
            "1998-07-01 08:00:00",
        ],
        env={**os.environ, "SCRM_FIRST_NIGHT": "1997-01-01"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    night = date(1998, 6, 30)
    assert published_night(home / "published") == night
    assert read_manifest(home / "exports", night)["guard"]["held"] is False
    assert (home / "reports" / "1998-06-30.html").is_file()
    warehouse = home / "warehouse.duckdb"
    # 10 buyers. Customer 00005 bought on 11 days (10 repeat days), the last on 1998-01-03,
    # 178 days before; 5 of them in the last 365 days (1997-07-22, 09-15, 12-08, 12-12 and
    # 1998-01-03).
    assert query(warehouse, "select count(*) from marts.customer_rfm") == [(10,)]
    assert query(
        warehouse,
        "select frequency_orders, recency_days, btyd_frequency from marts.customer_rfm "
        "where customer_id = '00005'",
    ) == [(5, 178, 10)]
    assert query(
        warehouse,
        "select sum(raw_rows), sum(clean_rows) from marts.raw_row_accounting "
        "where source_name in ('orders', 'order_items')",
    ) == [(72, 72)]
