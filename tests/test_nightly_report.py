"""The nightly HTML report on the customer-story fixture, values worked out by hand.

Stories and arithmetic: tests/fixtures/raw_customer_marts/README.md. The nightly job renders
the report itself (asset reports/nightly_report); these tests read what it wrote.
"""

import json
import os
import re
import shutil
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.reporting.assets import nightly_report
from orchestration.defs.resources import WarehouseResource
from orchestration.guard_findings import SEGMENT, TAG, GuardFinding
from orchestration.language import _ as translate
from orchestration.language import speaking
from orchestration.layout import HELD_DIR, MANIFEST_FILE
from orchestration.publishing.exports import read_manifest
from orchestration.reporting.formatting import partial_month
from orchestration.reporting.nightly_report import (
    CHART_IDS,
    ReportError,
    render_nightly_report,
    write_nightly_report,
)
from tests.conftest import CUSTOMER_MARTS_AS_OF

AS_OF = date.fromisoformat(CUSTOMER_MARTS_AS_OF)
# Eight buyers are fewer than min_customers (100): no fit, so no backtest to draw. No
# campaign's conversion window is complete by 06-30, so there is no pooled lift to draw.
FIXTURE_CHARTS = [chart for chart in CHART_IDS if chart not in ("model_backtest", "campaign_lift")]
EXTERNAL_PREFIXES = ("http:", "https:", "//", "ftp:")


class ParsedReport(HTMLParser):
    """Tables as lists of cell texts, charts with what their SVG draws, and every reference."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, dict[str, list[list[str]]]] = {}
        self.captions: dict[str, str] = {}
        self.charts: dict[str, dict[str, int]] = {}
        self.notes: list[str] = []
        self.paragraphs: list[str] = []
        self.references: list[tuple[str, str, str]] = []
        self.tags_seen: set[str] = set()
        # Text of list items and <code>, and the data-notice of prominent notices.
        self.items: list[str] = []
        self.code: list[str] = []
        self.notices: list[str] = []
        self._item: str | None = None
        self._code: str | None = None
        self._table: str | None = None
        self._part = "body"
        self._row: list[str] | None = None
        self._cell: str | None = None
        self._caption: str | None = None
        self._chart: str | None = None
        self._paragraph: str | None = None
        self._is_note = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags_seen.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "data", "poster") and value:
                self.references.append((tag, name, value))
        if tag == "table":
            self._table = attributes.get("data-table")
            self.tables[self._table] = {"header": [], "body": [], "footer": []}
        elif tag in ("thead", "tbody", "tfoot"):
            self._part = {"thead": "header", "tbody": "body", "tfoot": "footer"}[tag]
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""
        elif tag == "caption" and self._table is not None:
            self._caption = ""
        elif tag == "figure" and "data-chart" in attributes:
            self._chart = attributes["data-chart"]
            assert self._chart not in self.charts, f"chart {self._chart} twice"
            self.charts[self._chart] = {"svg": 0, "marks": 0, "text": 0, "caption": 0}
        elif self._chart is not None:
            counts = self.charts[self._chart]
            if tag == "svg":
                counts["svg"] += 1
            elif tag in ("path", "use", "rect", "polyline") and "clip-path" in attributes:
                counts["marks"] += 1  # drawn inside the axes: bars, cells, lines
            elif tag == "text":
                counts["text"] += 1
            elif tag == "figcaption":
                counts["caption"] += 1
        if tag == "p":
            self._paragraph = ""
            self._is_note = "note" in (attributes.get("class") or "")
        elif tag == "li":
            self._item = ""
        elif tag == "code":
            self._code = ""
        if "data-notice" in attributes:
            self.notices.append(attributes["data-notice"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join(self._cell.split()))
            self._cell = None
        elif tag == "caption" and self._caption is not None:
            self.captions[self._table] = " ".join(self._caption.split())
            self._caption = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table][self._part].append(self._row)
            self._row = None
        elif tag == "table":
            self._table, self._part = None, "body"
        elif tag == "figure":
            self._chart = None
        elif tag == "p" and self._paragraph is not None:
            text = " ".join(self._paragraph.split())
            (self.notes if self._is_note else self.paragraphs).append(text)
            self._paragraph = None
        elif tag == "li" and self._item is not None:
            self.items.append(" ".join(self._item.split()))
            self._item = None
        elif tag == "code" and self._code is not None:
            self.code.append(self._code)
            self._code = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._caption is not None:
            self._caption += data
        if self._paragraph is not None:
            self._paragraph += data
        if self._item is not None:
            self._item += data
        if self._code is not None:
            self._code += data

    def rows(self, table: str) -> dict[str, list[str]]:
        """Body rows keyed by their first cell."""
        return {row[0]: row[1:] for row in self.tables[table]["body"]}

    def header(self, table: str) -> list[str]:
        return self.tables[table]["header"][0]


@pytest.fixture(scope="module")
def report_path(customer_marts_warehouse) -> Path:
    return customer_marts_warehouse.parent / "reports" / f"{CUSTOMER_MARTS_AS_OF}.html"


@pytest.fixture(autouse=True)
def english(monkeypatch):
    """These tests read the English report (SCRM_LANG=en); tests/test_language.py the Chinese."""
    monkeypatch.setenv("SCRM_LANG", "en")


@pytest.fixture(scope="module")
def report(customer_marts_warehouse) -> ParsedReport:
    manifest = read_manifest(customer_marts_warehouse.parent / "exports", AS_OF)
    return ParsedReport(
        render_nightly_report(customer_marts_warehouse, AS_OF, manifest, language="en")
    )


def test_the_nightly_job_writes_the_report_and_renders_are_identical(
    customer_marts_warehouse, report_path
):
    home = customer_marts_warehouse.parent
    assert sorted(path.name for path in (home / "reports").iterdir()) == [
        "2026-06-29.html",
        "2026-06-30.html",
    ]
    manifest = read_manifest(home / "exports", AS_OF)
    # In the language the job wrote it in (SCRM_LANG when the fixture ran).
    language = re.search(r'<html lang="([^"]+)"', report_path.read_text("utf-8")).group(1)
    first = render_nightly_report(customer_marts_warehouse, AS_OF, manifest, language=language)
    second = render_nightly_report(customer_marts_warehouse, AS_OF, manifest, language=language)
    assert first == second
    # What the asset wrote during the job is byte for byte what a fresh render gives.
    assert report_path.read_bytes() == first.encode("utf-8")


def test_summary(report):
    summary = report.rows("summary")
    assert summary["Customers known"] == ["10"]  # A to J; K registers on 07-15
    assert summary["Customers with a purchase (RFM scored)"] == ["8"]  # A C D E F G I J
    # Adds A B C F G H I, minus G's deletion on 06-15 (C's deletion is on 07-02).
    assert summary["Friendships now (customer-staff pairs)"] == ["6"]
    assert summary["Sources not balanced"] == ["0"]


def test_segments_from_the_exports_manifest(customer_marts_warehouse, report):
    assert report.header("segments")[:9] == [
        "Segment",
        "Display name",
        "Members",
        "Exported",
        "Holdout",
        "Priority",
        "Cool-down",
        "Entered",
        "Left",
    ]
    segments = report.rows("segments")
    # seg_churned on 06-30 (tests/test_segments.py): members C E G I; C exported; G in the
    # holdout; E and I outranked by seg_mask_repurchase_due (priority 1 against 6); nobody
    # pushed on 06-27..06-29 waits for a cool-down. C was exported on 06-29 too: no change.
    # In English a segment goes by its display_name_en (or where its YAML has none, by its
    # code name): never by the Chinese display_name.
    assert segments["seg_churned"][:8] == [
        "Churned customers",
        *("4", "1", "1", "2", "0", "0", "0"),
    ]
    assert segments["seg_churned"][9] == "流失客户"  # the WeCom tag
    # F, about to go silent, is outranked by the mask reminder as well.
    assert segments["seg_about_to_go_silent"][1:6] == ["1", "0", "0", "1", "0"]
    assert segments["seg_never_bought"][:6] == [
        "New friends, no purchase",
        *("2", "2", "0", "0", "0"),
    ]
    assert segments["seg_identity_office_worker"][1:6] == ["3", "3", "0", "0", "0"]  # A C I
    assert segments["seg_high_value"][1:6] == ["0", "0", "0", "0", "0"]
    # An export that is no segment model has exported rows only. An action's export goes by
    # the action's display name (seed next_best_actions), described in the night's language.
    assert segments["nba_win_back"][:6] == ["Win back", "—", "1", "—", "—", "—"]  # C
    # Every number is the manifest's: exported, entered and left are what the night
    # published, the members and who was held back its membership counts.
    manifest = read_manifest(customer_marts_warehouse.parent / "exports", AS_OF)
    assert {name: [row[2], row[6], row[7]] for name, row in segments.items()} == {
        name: [str(entry["rows"]), str(entry["entered"]), str(entry["left"])]
        for name, entry in manifest["segments"].items()
    }
    assert {name: row[1:6] for name, row in segments.items() if not name.startswith("nba_")} == {
        name: [
            str(entry["membership"][key])
            for key in ("members", "exported", "holdout", "priority", "cooldown")
        ]
        for name, entry in manifest["segments"].items()
        if "membership" in entry
    }
    assert any("previous published night, 2026-06-29." in text for text in report.paragraphs)
    assert report.notices == []  # the churn guard let the night out


def test_the_english_report_names_segments_and_tags_by_their_english_display_names(
    customer_marts_warehouse,
):
    """display_name_en, read from the dbt manifest (the catalogs keep only the Chinese name),
    names a segment and a tag wherever the English page names them; the Chinese name is
    nowhere. The manifest here is the project's with two changed, so the names come from it."""
    from orchestration.project import dbt_project
    from orchestration.segments import load_manifest

    dbt_manifest = load_manifest(dbt_project.manifest_path)
    never_bought = dbt_manifest["nodes"]["model.scrm.seg_never_bought"]
    never_bought["config"]["meta"]["segment"]["display_name_en"] = "Never bought"
    (identity,) = [
        column
        for node in dbt_manifest["nodes"].values()
        if node.get("resource_type") == "model" and node["fqn"][1] == "tags"
        for name, column in node["columns"].items()
        if name == "identity" and (column.get("config") or {}).get("meta", {}).get("tag")
    ]
    identity["config"]["meta"]["tag"]["display_name_en"] = "Identity"
    manifest = read_manifest(customer_marts_warehouse.parent / "exports", AS_OF)
    page = render_nightly_report(
        customer_marts_warehouse, AS_OF, manifest, language="en", dbt_manifest=dbt_manifest
    )
    parsed = ParsedReport(page)
    assert parsed.rows("segments")["seg_never_bought"][:3] == ["Never bought", "2", "2"]
    assert parsed.rows("segments")["seg_churned"][0] == "Churned customers"
    assert {row[1]: row[2] for row in parsed.tables["tag_coverage"]["body"]}["identity"] == (
        "Identity"
    )
    assert (
        "Never bought (seg_never_bought): 2 in the segment; since 2026-06-29: 0 entered, "
        "0 left; 0 in the holdout." in parsed.items
    )
    assert "新好友未购" not in page
    # As a name, never inside the staff tags' descriptions, which name the tag group 客户身份.
    assert ">身份<" not in page
    assert "流失挽回" not in page


def test_the_chinese_report_names_an_actions_export_by_the_action(customer_marts_warehouse):
    """nba_win_back goes by the seed's display name in Chinese, with its code name beside it,
    and is described in Chinese (the night's exports were written with SCRM_LANG unset)."""
    manifest = read_manifest(customer_marts_warehouse.parent / "exports", AS_OF)
    chinese = ParsedReport(
        render_nightly_report(customer_marts_warehouse, AS_OF, manifest, language="zh")
    )
    segments = chinese.rows("segments")
    assert segments["流失挽回"][:3] == ["nba_win_back", "—", "1"]
    assert segments["流失挽回"][-1] == "今晚下一步最佳行动为「流失挽回」的客户。"
    assert segments["流失客户"][0] == "seg_churned"


def test_segments_without_a_manifest_are_counted_from_membership(customer_marts_warehouse):
    parsed = ParsedReport(render_nightly_report(customer_marts_warehouse, AS_OF, None))
    segments = parsed.rows("segments")
    # Members, exported, holdout, priority, cool-down, then entered and left since 06-29
    # (members, not exports): E became churned tonight (on 06-29 E had bought 29 days before)
    # and is outranked by the mask reminder, like I; C exported, G in the holdout.
    assert segments["seg_churned"][1:8] == ["4", "1", "1", "2", "0", "1", "0"]
    assert segments["seg_never_bought"][1:8] == ["2", "2", "0", "0", "0", "0", "0"]  # B H
    assert segments["seg_mask_repurchase_due"][1:8] == ["3", "3", "0", "0", "0", "0", "0"]
    assert segments["seg_about_to_go_silent"][1:8] == ["1", "0", "0", "1", "0", "0", "0"]
    # D and J; J entered, E left (its purchase is 30 days old tonight). Not a push.
    assert segments["seg_buyers_not_friends"][1:8] == ["2", "2", "0", "0", "0", "1", "1"]
    # Only what segment_membership holds: no next-best-action files, no empty segment.
    assert "nba_win_back" not in segments
    assert "seg_high_value" not in segments
    assert "segments" in parsed.charts
    assert any(
        "counted from marts.segment_membership" in text and "2026-06-29" in text
        for text in parsed.paragraphs
    )
    # Without a manifest there is no dry run and no guard verdict to show.
    assert "No exports manifest for this night: no dry run to show." in parsed.notes
    assert "wecom_mark_tag" not in parsed.tables
    assert parsed.notices == []


def test_campaign_lift_before_any_window_is_complete(report):
    """Both rows of marts.campaign_lift are 06-29 entries: 14-day windows end on 07-13.

    06-29 is the first night, so every member entered then: seg_churned exported C and held
    out G; seg_never_bought exported B and H and held out nobody. None of them paid an order
    on 06-30. 0 of 1 has the Wilson interval [0, z²/(1 + z²)] = [0, 3.8416/4.8416] =
    [0, 0.7935], so the Newcombe interval of 0 - 0 is -79.3 to +79.3 pp (Wald's was the
    point 0). Both entries have fewer than 30 customers an arm: too few to tell.
    """
    assert "campaign_lift_pooled" not in report.tables
    assert "campaign_lift" not in report.charts
    assert (
        "No conversion window is complete yet, so there is no lift to read: the first ends on "
        "2026-07-13, 14 days after the entry night 2026-06-29. The entry nights below are "
        "still counting."
    ) in report.notes
    assert report.tables["campaign_lift_recent"]["body"] == [
        [
            "2026-06-29",
            "Churned customers (seg_churned)",
            "open until 2026-07-13",
            "0 of 1",
            "0.0%",
            "0 of 1",
            "0.0%",
            "+0.0",
            "-79.3 to +79.3",
            "+0.00",
            "—",  # one customer per arm: no sample variance, no Welch interval
            "yes",
        ],
        [
            "2026-06-29",
            "New friends, no purchase (seg_never_bought)",
            "open until 2026-07-13",
            "0 of 2",
            "0.0%",
            "0 of 0",
            "—",
            "—",
            "—",
            "—",
            "—",
            "yes",  # nobody held out
        ],
    ]


def test_campaign_lift_pools_the_complete_windows(customer_marts_warehouse, tmp_path):
    """Hand-made entry nights in a copy of the warehouse, beside the fixture's two open ones.

    seg_churned, complete: 06-01 treated 1 of 3, holdout 1 of 2 (the dbt unit test
    campaign_lift_by_hand); 06-02 treated 1 of 1, holdout 0 of 1. Pooled: 2 of 4 = 50.0%
    against 1 of 3 = 33.3%, lift +16.7 pp. Wilson (z = 1.96): 2 of 4 is (2 + 1.9208 ±
    1.96 * sqrt(1 + 0.9604)) / 7.8416 = [0.1500, 0.8500], 1 of 3 is [0.0615, 0.7923].
    Newcombe: 0.1667 - sqrt(0.35² + 0.4590²) = -0.4105 to 0.1667 + sqrt(0.35² + 0.2718²)
    = 0.6098, so -41.1 to +61.0 pp. (The mean of the two nights' lifts, (-16.7 + 100) / 2,
    would say +41.7.) seg_mask_repurchase_due, 06-03 to 06-14: twelve nights of 0 of 1
    against 0 of 1; pooled 0 of 12 against 0 of 12, each arm [0, 3.8416/15.8416] =
    [0, 0.242501], so -24.3 to +24.3 pp where Wald's interval was the point 0. Both pools
    have fewer than 30 customers an arm: too few to tell. seg_never_bought has only its open
    06-29 window: not pooled.
    """
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(customer_marts_warehouse, warehouse)
    columns = (
        "segment_name, entry_date, window_days, is_window_complete, treated_customers, "
        "treated_converted, treated_conversion_rate, holdout_customers, holdout_converted, "
        "holdout_conversion_rate, conversion_lift, conversion_lift_ci_low, "
        "conversion_lift_ci_high, treated_spend_per_customer_cny, "
        "holdout_spend_per_customer_cny, spend_lift_cny, spend_lift_ci_low_cny, "
        "spend_lift_ci_high_cny, min_arm_customers, too_few_to_tell, as_of_date"
    )
    rows = [
        ("seg_churned", date(2026, 6, 1), 3, 1, 0.3333, 2, 1, 0.5, -0.1667, -0.6548, 0.4458,
         33.33, 20.0, 13.33, -111.71, 138.38),
        ("seg_churned", date(2026, 6, 2), 1, 1, 1.0, 1, 0, 0.0, 1.0, -0.1221, 1.0,
         80.0, 0.0, 80.0, None, None),
        *(
            ("seg_mask_repurchase_due", date(2026, 6, 3) + timedelta(days=offset), 1, 0, 0.0,
             1, 0, 0.0, 0.0, -0.7935, 0.7935, 0.0, 0.0, 0.0, None, None)
            for offset in range(12)
        ),
    ]  # fmt: skip
    with duckdb.connect(str(warehouse)) as connection:
        connection.executemany(
            f"insert into marts.campaign_lift ({columns}) "
            "values (?, ?, 14, true, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 30, true, "
            "date '2026-06-30')",
            rows,
        )
        # What marts.campaign_lift_pooled makes of them (its unit test works the figures out).
        connection.executemany(
            "insert into marts.campaign_lift_pooled values "
            "(?, ?, 30, true, ?, ?, ?, ?, ?, ?, ?, ?, ?, date '2026-06-30')",
            [
                ("seg_churned", 2, 4, 2, 0.5, 3, 1, 0.333333, 0.166667, -0.410539, 0.609807),
                ("seg_mask_repurchase_due", 12, 12, 0, 0.0, 12, 0, 0.0, 0.0, -0.242501, 0.242501),
            ],
        )
    parsed = ParsedReport(render_nightly_report(warehouse, AS_OF, None))
    assert parsed.header("campaign_lift_pooled") == [
        "Segment",
        "Entry nights",
        "Treated",
        "Treated rate",
        "Holdout",
        "Holdout rate",
        "Lift (pp)",
        "95% CI (pp)",
        "Too few to tell",
    ]
    assert parsed.rows("campaign_lift_pooled") == {
        "Churned customers (seg_churned)": [
            "2", "2 of 4", "50.0%", "1 of 3", "33.3%", "+16.7", "-41.1 to +61.0", "yes",
        ],
        "Face mask repurchase reminder (seg_mask_repurchase_due)": [
            "12", "0 of 12", "0.0%", "0 of 12", "0.0%", "+0.0", "-24.3 to +24.3", "yes",
        ],
    }  # fmt: skip
    assert (
        "No complete window yet, so not pooled: New friends, no purchase (seg_never_bought) "
        "(first window ends on 2026-07-13)." in parsed.notes
    )
    # The last 14 entry nights: 06-29, 06-14 back to 06-03, and 06-02; 06-01 is the 15th.
    recent = parsed.tables["campaign_lift_recent"]["body"]
    assert [row[0] for row in recent] == [
        "2026-06-29",
        "2026-06-29",
        *(f"2026-06-{day:02d}" for day in range(14, 2, -1)),
        "2026-06-02",
    ]
    assert recent[-1] == [
        "2026-06-02",
        "Churned customers (seg_churned)",
        "complete",
        "1 of 1",
        "100.0%",
        "0 of 1",
        "0.0%",
        "+100.0",
        "-12.2 to +100.0",
        "+80.00",
        "—",
        "yes",
    ]
    chart = parsed.charts["campaign_lift"]
    assert chart["svg"] == 1 and chart["marks"] >= 2  # a point and an interval per segment


def test_wecom_dry_run_with_no_change(report):
    """06-30: the same six friendships carry the same tags as on 06-29, so no call."""
    assert report.rows("wecom_mark_tag") == {
        "Current friendships": ["6"],  # A B C F H I (G left on 06-15, C leaves on 07-02)
        "mark_tag calls (one per friendship whose tags change)": ["0"],
        "Friendships touched": ["0"],
        "Tags touched": ["0"],
        "Tag adds": ["0"],
        "Tag removes": ["0"],
        "Minutes needed at the limits": ["0"],
        "Limit: calls per minute": ["10,000"],
        "Limit: calls per hour": ["150,000"],
    }
    assert "wecom_largest_changes" not in report.tables
    assert "No friendship's tags change tonight: there is no mark_tag call to send." in (
        report.notes
    )
    assert "Changes since the previous published night, 2026-06-29." in report.paragraphs


def test_wecom_dry_run_on_the_first_night(customer_marts_warehouse):
    """The job's report of 06-29, the first published night: every friendship's tags are new.

    The six friends get the WeCom tags of the mapped segments they are exported in: 上班族
    A C I, 未购新客 B H, 面膜复购 F I (E, also due, is no friend), 学生 F, 宝妈 B and 流失客户
    C. Six calls, 3 + 2 + 2 + 1 + 1 + 1 = 10 adds; the five largest by count, then by name.
    """
    path = customer_marts_warehouse.parent / "reports" / "2026-06-29.html"
    text = path.read_text(encoding="utf-8")
    parsed = ParsedReport(text)
    # The job wrote it in its environment's language: the labels are looked up in that one.
    with speaking(re.search(r'<html lang="([^"]+)"', text).group(1)):
        summary = {
            label: parsed.rows("wecom_mark_tag")[translate(label)]
            for label in (
                "Current friendships",
                "mark_tag calls (one per friendship whose tags change)",
                "Friendships touched",
                "Tags touched",
                "Tag adds",
                "Tag removes",
                "Minutes needed at the limits",
            )
        }
        first_night = translate(
            "There is no previous published night, so every friendship's tags are new."
        )
    assert summary["Current friendships"] == ["6"]
    assert summary["mark_tag calls (one per friendship whose tags change)"] == ["6"]
    assert summary["Friendships touched"] == ["6"]
    assert summary["Tags touched"] == ["6"]
    assert summary["Tag adds"] == ["10"]
    assert summary["Tag removes"] == ["0"]
    assert summary["Minutes needed at the limits"] == ["1"]
    # A WeCom tag as WeCom names it, and the segments mapped to it in the page's language
    # (the fixture ran in Chinese, the default).
    assert parsed.tables["wecom_largest_changes"]["header"] == [
        ["企业微信标签", "人群包", "打上", "移除"]
    ]
    assert parsed.tables["wecom_largest_changes"]["body"] == [
        ["上班族", "上班族群", "3", "0"],
        ["未购新客", "新好友未购", "2", "0"],
        ["面膜复购", "面膜复购提醒", "2", "0"],
        ["学生", "学生群", "1", "0"],
        ["宝妈", "宝妈群", "1", "0"],
    ]
    assert first_night in parsed.paragraphs
    # In English the tag keeps its WeCom name; the segments say what it is (the section of
    # the night's manifest, the segments' English names from their YAML).
    from orchestration.project import dbt_project
    from orchestration.reporting.nightly_report import _wecom_section, declared_display_names
    from orchestration.segments import load_manifest

    manifest = read_manifest(customer_marts_warehouse.parent / "exports", date(2026, 6, 29))
    with speaking("en"):
        names = declared_display_names(load_manifest(dbt_project.manifest_path))
        section = _wecom_section(manifest, None, names)
    largest = section.tables[1]
    assert largest.header == ("WeCom tag", "Segments", "Add", "Remove")
    assert list(largest.rows) == [
        ("上班族", "Office workers' group", "3", "0"),
        ("未购新客", "New friends, no purchase", "2", "0"),
        ("面膜复购", "Face mask repurchase reminder", "2", "0"),
        ("学生", "Students' group", "1", "0"),
        ("宝妈", "Mums' group", "1", "0"),
    ]


def test_a_held_night_is_reported_with_its_reasons_and_the_release_command(
    customer_marts_warehouse, tmp_path
):
    """The asset finds a held night's manifest in exports/held/<date>/ and says so on top."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(customer_marts_warehouse, home / "warehouse.duckdb")
    manifest = read_manifest(customer_marts_warehouse.parent / "exports", AS_OF)
    findings = [
        GuardFinding(SEGMENT, "seg_churned", 100, 1, -0.99, 0.5),
        GuardFinding(TAG, "identity", 0.7, 0.1, -6 / 7, 0.5),
    ]
    reasons = [finding.text() for finding in findings]
    assert reasons == [
        "segment seg_churned: 100 → 1 customers (-99%; the guard allows ±50%)",
        "tag identity: coverage 70.0% → 10.0% (-86%; the guard allows -50%)",
    ]
    manifest["guard"] = {
        "held": True,
        "reasons": reasons,
        "findings": [finding.fields() for finding in findings],
    }
    held_dir = home / "exports" / HELD_DIR / CUSTOMER_MARTS_AS_OF
    held_dir.mkdir(parents=True)
    (held_dir / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False), "utf-8")

    def materialize() -> dict:
        result = nightly_report(
            context=dg.build_asset_context(partition_key=CUSTOMER_MARTS_AS_OF),
            warehouse=WarehouseResource(home_dir=str(home), raw_dir=str(tmp_path)),
        )
        return result.metadata

    metadata = materialize()
    assert metadata["held"] is True
    assert metadata["segments_from"] == "exports manifest"
    parsed = ParsedReport((home / "reports" / f"{CUSTOMER_MARTS_AS_OF}.html").read_text("utf-8"))
    assert parsed.notices == ["guard"]
    # The page words the findings with the English display names.
    assert parsed.items[: len(reasons)] == [
        "segment Churned customers (seg_churned): 100 → 1 customers (-99%; the guard allows ±50%)",
        "tag Identity (identity): coverage 70.0% → 10.0% (-86%; the guard allows -50%)",
    ]
    assert parsed.code == [f"scrm release --home {home} --as-of 2026-06-30"]
    assert any(
        f"exports wait in {home}/exports/held/2026-06-30/" in text for text in parsed.paragraphs
    )
    assert any(
        "held back (exports/held/2026-06-30/manifest.json" in text for text in parsed.paragraphs
    )
    assert "The night is held by the churn guard: no call is due until it is released." in (
        parsed.notes
    )
    # The held manifest's numbers, like a published one's.
    assert parsed.rows("segments")["seg_churned"][1:6] == ["4", "1", "1", "2", "0"]
    # In Chinese, the reasons come from the fields, with the segment's and tag's display names.
    chinese = ParsedReport(
        render_nightly_report(home / "warehouse.duckdb", AS_OF, manifest, language="zh")
    )
    assert chinese.items[: len(reasons)] == [
        "人群包 流失客户 (seg_churned)：100 → 1 位客户（-99%；流失保护允许 ±50%）",
        "标签 身份 (identity)：覆盖率 70.0% → 10.0%（-86%；流失保护允许 -50%）",
    ]
    # A manifest written before the guard kept its fields shows its reasons as they are.
    older = {**manifest, "guard": {"held": True, "reasons": reasons}}
    chinese = ParsedReport(
        render_nightly_report(home / "warehouse.duckdb", AS_OF, older, language="zh")
    )
    assert chinese.items[: len(reasons)] == reasons

    # Released (scrm release keeps the reasons and stamps the time): a note, no alarm.
    manifest["guard"] = {
        **manifest["guard"],
        "held": False,
        "released_at": "2026-07-01T02:30:00",
    }
    parsed = ParsedReport(render_nightly_report(home / "warehouse.duckdb", AS_OF, manifest))
    assert parsed.notices == [] and parsed.code == []
    assert any(
        note.startswith(
            "The churn guard held this night (segment Churned customers (seg_churned): 100 → 1"
        )
        and note.endswith("it was released after review at 2026-07-01T02:30:00.")
        for note in parsed.notes
    )

    # Neither published nor held: counted from the warehouse, nothing held.
    shutil.rmtree(home / "exports")
    metadata = materialize()
    assert metadata["held"] is False
    assert metadata["segments_from"] == "warehouse"


def test_rfm_grid_and_segments(report):
    assert report.header("rfm_grid") == ["R \\ F", "F1", "F2", "F3", "F4", "F5", "Total"]
    grid = report.rows("rfm_grid")
    assert grid["R5"] == ["2", "0", "0", "0", "0", "2"]  # A and J: one order, recent
    assert grid["R4"] == ["0", "0", "0", "0", "0", "0"]
    assert grid["R3"] == ["2", "0", "0", "1", "0", "3"]  # E, F (F1) and D (F4)
    assert grid["R2"] == ["0", "0", "0", "1", "0", "1"]  # I
    assert grid["R1"] == ["1", "0", "0", "0", "1", "2"]  # G (F1) and C (F5)
    assert report.tables["rfm_grid"]["footer"] == [["Total", "5", "0", "0", "2", "1", "8"]]
    segments = report.rows("rfm_segments")
    assert {name: row[0] for name, row in segments.items()} == {
        "New": "2",
        "About to Sleep": "2",
        "Cannot Lose Them": "1",
        "Loyal": "1",
        "Lost": "1",
        "At Risk": "1",
    }
    assert segments["Loyal"][4] == "1,658.00"  # D: 1299 + 359 in the last 365 days
    # The classes are Chinese values in the data: in English in words, the value beside.
    classes = report.rows("rfm_classes")
    assert classes["Ordinary development customers (一般发展客户)"][0] == "3"  # E F J
    assert classes["Important retention customers (重要保持客户)"][0] == "2"  # C I


def test_the_rfm_window_is_named_from_the_var(report, customer_marts_warehouse):
    # dbt_project.yml's rfm_window_days, which the fixture's customer_rfm was built with.
    assert report.header("rfm_segments")[4:] == ["Avg orders (365 days)", "Spend, 365 days (CNY)"]
    assert any("over the last 365 days" in text for text in report.paragraphs)
    other = ParsedReport(
        render_nightly_report(customer_marts_warehouse, AS_OF, None, rfm_window_days=90)
    )
    assert other.header("rfm_segments")[4:] == ["Avg orders (90 days)", "Spend, 90 days (CNY)"]
    assert any("over the last 90 days" in text for text in other.paragraphs)
    assert not any("365" in text for text in other.paragraphs)


def test_lifecycle_stages_and_moves(report):
    stages = report.rows("lifecycle_stages")
    # Customers, then entered and left on 06-30.
    assert {stage: row[0] for stage, row in stages.items()} == {
        "prospect": "2",  # B H
        "new": "3",  # A F J
        "active": "0",
        "reactivated": "1",  # D
        "silent": "2",  # C I
        "churned": "1",  # E
        "lost_friend": "1",  # G
    }
    assert stages["new"][2:4] == ["1", "1"]  # J's first stage; E left new ...
    assert stages["churned"][2:4] == ["1", "0"]  # ... for churned
    flow = report.rows("lifecycle_flow")  # 06-01 to 06-30
    header = report.header("lifecycle_flow")[1:]

    def moves(from_stage: str, to_stage: str) -> str:
        return flow[from_stage][header.index(to_stage)]

    assert moves("none (first stage)", "prospect") == "2"  # A on 06-01, H on 06-20
    assert moves("none (first stage)", "new") == "1"  # J bought on the day she registered
    assert moves("prospect", "new") == "2"  # F on 06-01, A on 06-10
    assert moves("churned", "reactivated") == "1"  # D on 06-01
    assert moves("new", "active") == "1"  # I on 06-24
    assert moves("active", "silent") == "1"  # I on 06-27
    assert moves("silent", "lost_friend") == "1"  # G on 06-15
    assert moves("new", "churned") == "1"  # E on 06-30
    assert flow["reactivated"][-1] == "0"


def test_each_segment_is_summed_up_at_the_top(report, customer_marts_warehouse):
    """Size, entered and left since 06-29, and holdout: members of marts.segment_membership.

    Only seg_churned and seg_buyers_not_friends moved: E entered churned tonight (on 06-29 E
    had bought 29 days before, on 06-30 it is 30: churned), beside C, G and I; G is its
    holdout. For the same reason E left the buyers who are no friends, and J, who bought on
    06-30, entered beside D. Everyone else is in the same segments both nights: F about to go
    silent, D the car-seat cross-sell, B 宝妈 (G, 宝妈 too, is no friend any more), A C I
    上班族, F 学生, E F I the mask reminder, A the membership invite (high value, entry level),
    B H never bought. Nobody else is held out.
    """
    since = "since 2026-06-29"
    unchanged = f"{since}: 0 entered, 0 left; 0 in the holdout."
    assert [item for item in report.items if "(seg_" in item] == [
        f"About to go silent (seg_about_to_go_silent): 1 in the segment; {unchanged}",
        f"Buyers not yet friends (seg_buyers_not_friends): 2 in the segment; {since}: 1 "
        "entered, 1 left; 0 in the holdout.",
        f"Car seat cross-sell (seg_car_seat_cross_sell): 1 in the segment; {unchanged}",
        f"Churned customers (seg_churned): 4 in the segment; {since}: 1 entered, 0 left; 1 in "
        "the holdout.",
        f"Mums' group (seg_identity_baoma): 1 in the segment; {unchanged}",
        f"Office workers' group (seg_identity_office_worker): 3 in the segment; {unchanged}",
        f"Students' group (seg_identity_student): 1 in the segment; {unchanged}",
        f"Face mask repurchase reminder (seg_mask_repurchase_due): 3 in the segment; {unchanged}",
        f"Membership invitation (seg_membership_invite): 1 in the segment; {unchanged}",
        f"New friends, no purchase (seg_never_bought): 2 in the segment; {unchanged}",
    ]
    chinese = ParsedReport(
        render_nightly_report(customer_marts_warehouse, AS_OF, None, language="zh")
    )
    assert (
        "流失客户 (seg_churned)：共 4 人；较 2026-06-29 新进入 1 人、离开 0 人；对照组 1 人。"
        in (chinese.items)
    )


def test_the_month_being_counted_is_marked_not_drawn_as_a_drop(
    report, report_path, customer_marts_warehouse, tmp_path
):
    """A night before the month's last day counts part of its month: the monthly charts mark it
    (faded hatched bars, a dashed last segment, "month to date, to <night>") and the tables
    name it, so a half-counted month does not read as a fall."""
    assert partial_month(date(2026, 6, 20)) == date(2026, 6, 1)
    assert partial_month(date(2024, 2, 28)) == date(2024, 2, 1)  # a leap year's February
    assert partial_month(date(2024, 2, 29)) is None
    assert partial_month(date(2026, 12, 31)) is None
    # 06-30 ends June: nothing is marked.
    assert report.tables["lifecycle_monthly"]["body"][-1][0] == "2026-06"
    assert "partial-month" not in report_path.read_text(encoding="utf-8")

    # The fixture's tables as a night of 06-20 would hold them: the moves and friend events
    # up to that day, in a copy of the warehouse.
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(customer_marts_warehouse, warehouse)
    night = date(2026, 6, 20)
    with duckdb.connect(str(warehouse)) as connection:
        for table in (
            "customer_rfm",
            "customer_lifecycle",
            "lifecycle_flow",
            "friend_metrics_daily",
            "staff_metrics_daily",
            "staff_metrics_window",
            "staff_deletion_alerts",
            "dim_channels",
            "tag_catalog",
            "tag_unseen_values",
            "campaign_lift",
            "campaign_lift_pooled",
            "person_ids",
            "identity_link_status",
            "identity_blocked_ids",
            "identity_large_persons",
            "person_merges",
            "dim_groups",
            "group_memberships",
            "group_metrics_daily",
            "dim_tag_library",
            "customer_staff_tags",
            "staff_tag_conflicts",
        ):
            connection.execute(f"update marts.{table} set as_of_date = ?", [night])
        connection.execute("delete from marts.lifecycle_flow where moved_on > ?", [night])
        connection.execute("delete from marts.friend_metrics_daily where event_on > ?", [night])
        connection.execute("delete from marts.staff_metrics_daily where metric_on > ?", [night])
    page = render_nightly_report(warehouse, night, None, language="en")
    parsed = ParsedReport(page)
    june = "2026-06 (month to date, to 2026-06-20)"
    # Prospect, new, active, reactivated, silent, churned, lost friend: A (06-01) and H
    # (06-20) first seen, F (06-01) and A (06-10) new, D reactivated 06-01, G lost 06-15. I, E
    # and J move after 06-20.
    assert parsed.tables["lifecycle_monthly"]["body"][-1] == [
        june,
        "2",
        "2",
        "0",
        "1",
        "0",
        "0",
        "1",
    ]
    # A and H added through the store's live code, G deleted a parcel-card friendship.
    assert parsed.tables["friends_monthly"]["body"][-3:] == [
        [june, "parcel_card", "0", "1", "0"],
        [june, "livecode_store_01", "2", "0", "0"],
        [june, "official_account", "0", "0", "0"],
    ]
    stages = ["prospect", "new", "active", "reactivated", "silent", "churned", "lost_friend"]
    # Every stage drawn gets its June bar faded; each channel a dashed last segment in both
    # panels; each chart one label.
    expected = {
        "lifecycle_monthly": {*stages, "label"},
        "friends_by_channel": {
            *(f"{kind}-{index}" for kind in ("added", "deleted") for index in range(3)),
            "label",
        },
    }
    for chart, marks in expected.items():
        figure = re.search(rf'data-chart="{chart}">(.*?)</figure>', page, re.DOTALL)[1]
        ids = set(re.findall(rf'id="chart-{chart}-partial-month-([a-z_0-9-]+)"', figure))
        assert ids == marks, chart
        assert re.findall(r">([^<>]*month to date[^<>]*)<", figure) == [
            "month to date, to 2026-06-20"
        ]


def test_friends_by_channel(report):
    channels = report.rows("friend_channels")
    # Added, deleted by customer, deleted by staff, friends now, added / deleted in 30 days.
    assert channels["parcel_card"] == ["包裹卡", "3", "1", "0", "2", "0", "1"]  # B C G; G left
    assert channels["livecode_store_01"] == ["门店活码01", "2", "0", "0", "2", "2", "0"]  # A H
    assert channels["official_account"] == ["公众号", "2", "0", "0", "2", "0", "0"]  # F I
    assert report.tables["friend_channels"]["footer"] == [
        ["Total", "", "7", "1", "0", "6", "2", "1"]
    ]
    monthly = report.tables["friends_monthly"]["body"]
    assert ["2026-06", "livecode_store_01", "2", "0", "0"] in monthly
    assert ["2026-06", "parcel_card", "0", "1", "0"] in monthly


STAFF_HEADER = [
    "Staff member",
    "Friends now",
    "Added",
    "Deleted by customer",
    "Deleted by staff",
    "Chats in",
    "Chats out",
    "Customers chatted with",
    "Responses measured",
    "Median first response, minutes",
    "Not contacted in 30 days",
    "Deletion alerts (night)",
]


def test_staff_members(report):
    """The last 30 days are 06-01 to 06-30 (friend_events.csv, interactions.csv).

    S1: friends A (06-01), B, F (05-01), H (06-20); G (01-01) deleted S1 on 06-15: 4 now,
    2 added in the window (A on its first day), 1 deleted by the customer. Chats: A's chat_in
    at 10:00 and S1's chat_out at 10:05 on 06-25, H's chat_in on 06-22 (A's invite is no
    chat): 2 in, 1 out, with 2 customers; one response measured, A's 300 s = 5.0 minutes (H
    had no reply). Not contacted: B, F and H never had a chat_out; A had one on 06-25: 3.
    S2: friends C (01-01) and I (04-01), none added in the window; I's group messages are no
    chats; neither was ever contacted: 2. C's deletion on 07-02 is after the night; nobody
    deleted a staff member on 06-30, so no alerts.
    """
    assert report.header("staff") == STAFF_HEADER
    assert report.tables["staff"]["body"] == [
        ["S1", "4", "2", "1", "0", "2", "1", "2", "1", "5.0", "3", "0"],
        ["S2", "2", "0", "0", "0", "0", "0", "0", "0", "—", "2", "0"],
    ]
    # Distinct customers and the median do not add up over staff members.
    assert report.tables["staff"]["footer"] == [
        ["Total", "6", "2", "1", "0", "2", "1", "", "1", "", "5", "0"]
    ]
    assert report.captions["staff"] == (
        "Staff members: the last 30 days (2026-06-01 to 2026-06-30) and the night of 2026-06-30"
    )
    assert any(
        "taken over the same days at once (marts.staff_metrics_window)" in paragraph
        for paragraph in report.paragraphs
    )


def test_staff_members_as_of_the_night_and_their_alerts(customer_marts_warehouse, tmp_path):
    """Hand-made rows in a copy of the warehouse: the customers chatted with, responses and
    their median come from marts.staff_metrics_window, the sums stop at the window's first
    day, the deletion alerts are counted per staff member, and staff members with as many
    friends go by staff_id."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(customer_marts_warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as connection:
        # S2: 5 chats in on 05-31, the day before the window (not counted), 1 out on 06-01
        # (counted); in the window two customers, 3 responses with a median of 450 s = 7.5
        # minutes.
        for metric_on, assignments in (
            ("2026-05-31", "chats_in = 5"),
            ("2026-06-01", "chats_out = 1"),
        ):
            connection.execute(
                f"update marts.staff_metrics_daily set {assignments} "
                "where staff_id = 'S2' and metric_on = ?",
                [metric_on],
            )
        connection.execute(
            "update marts.staff_metrics_window set customers_chatted = 2, responses_measured = 3,"
            " median_first_response_seconds = 450 where staff_id = 'S2'"
        )
        # S1 answered one customer after 12 hours and 30 seconds: 720.5 minutes.
        connection.execute(
            "update marts.staff_metrics_window set customers_chatted = 1, responses_measured = 1,"
            " median_first_response_seconds = 43230 where staff_id = 'S1'"
        )
        # S0 added two friends on 06-30, as many friends now as S2.
        connection.execute(
            "insert into marts.friend_metrics_daily by name select date '2026-06-30' as event_on,"
            " 'parcel_card' as channel_code, 'S0' as staff_id, 2 as friends_added,"
            " 0 as friends_deleted_by_customer, 0 as friends_deleted_by_staff,"
            " 2 as net_friends, 2 as friends_total, date '2026-06-30' as as_of_date"
        )
        connection.execute(
            "insert into marts.staff_metrics_daily by name select date '2026-06-30' as"
            " metric_on, 'S0' as staff_id, 2 as friends_added, 0 as friends_deleted_by_customer,"
            " 0 as friends_deleted_by_staff, 0 as chats_in, 0 as chats_out,"
            " 0 as customers_chatted, 0 as responses_measured, 2 as customers_not_contacted,"
            " date '2026-06-30' as as_of_date"
        )
        # C and I deleted S2 on 06-30.
        connection.execute(
            "insert into marts.staff_deletion_alerts by name select * from (values"
            " ('EX1', 'S2', 'C', timestamp '2026-06-30 09:00:00', date '2026-06-30'),"
            " ('EX2', 'S2', 'I', timestamp '2026-06-30 21:00:00', date '2026-06-30'))"
            " as alerts(event_id, staff_id, customer_id, deleted_at, as_of_date)"
        )
    parsed = ParsedReport(render_nightly_report(warehouse, AS_OF, None, language="en"))
    assert parsed.tables["staff"]["body"] == [
        ["S1", "4", "2", "1", "0", "2", "1", "1", "1", "720.5", "3", "0"],
        ["S0", "2", "2", "0", "0", "0", "0", "0", "0", "—", "2", "0"],
        ["S2", "2", "0", "0", "0", "0", "1", "2", "3", "7.5", "2", "2"],
    ]
    assert parsed.tables["staff"]["footer"] == [
        ["Total", "8", "4", "1", "0", "2", "2", "", "4", "", "7", "2"]
    ]
    chinese = ParsedReport(render_nightly_report(warehouse, AS_OF, None, language="zh"))
    assert chinese.header("staff") == [
        "员工",
        "当前好友",
        "新增",
        "客户删除",
        "员工删除",
        "收到消息",
        "发出消息",
        "沟通客户数",
        "计入的首次回复",
        "首次回复中位数（分钟）",
        "30 天未联系",
        "当晚删除提醒",
    ]
    assert (
        chinese.captions["staff"] == "员工：近 30 天（2026-06-01 至 2026-06-30）与 2026-06-30 当晚"
    )
    assert chinese.rows("staff")["S2"][-3:] == ["7.5", "2", "2"]


def test_tag_coverage(report, customer_marts_warehouse):
    tags = {row[1]: row for row in report.tables["tag_coverage"]["body"]}
    with duckdb.connect(str(customer_marts_warehouse), read_only=True) as connection:
        (catalog_size,) = connection.execute("select count(*) from marts.tag_catalog").fetchone()
    assert len(tags) == catalog_size
    # Of the ten known customers: identity given by A B C D F G I; skin type by A C F I;
    # a first friend channel for the seven who were ever friends.
    assert tags["identity"][2:5] == ["Identity", "text", "70.0%"]  # its display_name_en
    assert tags["skin_type"][4] == "40.0%"
    assert tags["first_channel_code"][4] == "70.0%"
    assert tags["lifecycle_stage"][4] == "100.0%"


def test_model_card_says_why_there_is_no_fit(report):
    fits = report.rows("model_fits")
    assert fits["bg_nbd"][:2] == ["not_fitted", "8"]
    assert fits["bg_nbd"][-1] == "8 buyers, fewer than min_customers=100"
    assert fits["gamma_gamma"][:2] == ["not_fitted", "3"]  # C D I bought twice
    assert (
        "bg_nbd is not_fitted (too few buyers or repeat buyers to fit; no predictions from "
        "it): 8 buyers, fewer than min_customers=100." in report.notes
    )
    assert (
        "No backtest for this night: its calibration fit is not_fitted (see above)." in report.notes
    )
    assert "model_backtest" not in report.tables
    assert "model_backtest" not in report.charts
    card = report.rows("model_card")
    assert card["Evaluation"] == ["No backtest this night."]
    assert "8 customers" in card["Training data"][0]


def test_model_card_with_a_fit_and_a_backtest(customer_marts_warehouse, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(customer_marts_warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("delete from predictive.btyd_model_fits")
        connection.execute(
            """
            insert into predictive.btyd_model_fits values (
                date '2026-06-30', 'bg_nbd', 'converged', '3 of 8 buyers repeat',
                '{"reason": "repeat_buyers", "repeat_buyers": 3, "buyers": 8}', 8, -123.456, 12,
                '{"r": 0.25, "alpha": 4.0, "a": 0.5, "b": 2.0}',
                date '2025-06-30', date '2026-06-30'
            )
            """
        )
        # Buckets out of order, to check the report sorts them: all, 0, 1, 7+.
        connection.execute(
            """
            insert into predictive.model_backtest values
                ('2026-06-30', '2026-04-01', '2026-06-30', '7+', 1, 9.0, 7.0, 9.0, 7.0, null),
                ('2026-06-30', '2026-04-01', '2026-06-30', '0', 2, 0.5, 0.25, 1.0, 0.5, null),
                ('2026-06-30', '2026-04-01', '2026-06-30', 'all', 4, 3.0, 2.25, 12.0, 9.0, 0.875),
                ('2026-06-30', '2026-04-01', '2026-06-30', '1', 1, 2.0, 1.5, 2.0, 1.5, null)
            """
        )
    path = write_nightly_report(warehouse, tmp_path / "reports", AS_OF, None)
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["2026-06-30.html"]
    parsed = ParsedReport(path.read_text(encoding="utf-8"))
    fits = parsed.rows("model_fits")
    assert fits["bg_nbd"][:5] == [
        "converged",
        "8",
        "-123.46",
        "12",
        "r = 0.25, alpha = 4, a = 0.5, b = 2",
    ]
    assert fits["bg_nbd"][-1] == "3 of 8 buyers repeat"  # worded from detail_fields
    chinese = ParsedReport(render_nightly_report(warehouse, AS_OF, None, language="zh"))
    assert chinese.rows("model_fits")["bg_nbd"][-1] == "8 位购买客户中 3 位复购"
    backtest = parsed.tables["model_backtest"]["body"]
    assert [row[0] for row in backtest] == ["all", "0", "1", "7+"]
    assert backtest[0] == ["all", "4", "3.000", "2.250", "12.0", "9.0", "0.875"]
    # |9 - 12| / 12 of the purchase days in the holdout.
    assert (
        "9.0 predicted against 12.0 actual (25.0% off)"
        in parsed.rows("model_card")["Evaluation"][0]
    )
    chart = parsed.charts["model_backtest"]
    assert chart["svg"] == 1 and chart["marks"] >= 6  # 3 buckets x actual and predicted

    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("drop table predictive.btyd_model_fits")
    parsed = ParsedReport(render_nightly_report(warehouse, AS_OF, None))
    assert any(note.startswith("No model fits were recorded") for note in parsed.notes)
    assert parsed.tables["model_fits"]["body"] == []


def test_an_empty_night_renders_with_notes_instead_of_charts(customer_marts_warehouse, tmp_path):
    """A brand's first night can be empty; the page says so rather than failing."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(customer_marts_warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as connection:
        for table in (
            "marts.customer_rfm",
            "marts.customer_lifecycle",
            "marts.lifecycle_flow",
            "marts.friend_metrics_daily",
            "marts.staff_metrics_daily",
            "marts.staff_deletion_alerts",
            "marts.dim_channels",
            "marts.tag_catalog",
            "marts.segment_membership",
            "marts.campaign_lift",
            "predictive.btyd_model_fits",
            "predictive.model_backtest",
        ):
            connection.execute(f"delete from {table}")
    parsed = ParsedReport(render_nightly_report(warehouse, AS_OF, None))
    assert parsed.charts == {}
    assert "No customer has a purchase yet: nothing to score." in parsed.notes
    assert "No known customers this night." in parsed.notes
    assert "The tag catalog is empty." in parsed.notes
    assert (
        "No customers have entered a segment with a holdout yet: there is nothing to compare."
        in parsed.notes
    )
    assert parsed.rows("summary")["Customers known"] == ["0"]
    assert "No staff member has a friend or a chat yet." in parsed.notes
    assert "staff" not in parsed.tables


def test_raw_row_accounting(report):
    # Data rows of each fixture file: every one clean, none quarantined or duplicated.
    assert report.rows("raw_row_accounting") == {
        "customers": ["11", "11", "0", "0", "0", "0", "yes"],
        "friend_events": ["9", "9", "0", "0", "0", "0", "yes"],
        # Not delivered: optional sources, taken in empty.
        "group_members": ["0", "0", "0", "0", "0", "0", "yes"],
        "groups": ["0", "0", "0", "0", "0", "0", "yes"],
        "identity_links": ["0", "0", "0", "0", "0", "0", "yes"],
        "interactions": ["23", "23", "0", "0", "0", "0", "yes"],
        "order_items": ["18", "18", "0", "0", "0", "0", "yes"],
        "orders": ["17", "17", "0", "0", "0", "0", "yes"],
        "products": ["5", "5", "0", "0", "0", "0", "yes"],
        "staff_tags": ["0", "0", "0", "0", "0", "0", "yes"],
        "tag_library": ["0", "0", "0", "0", "0", "0", "yes"],
    }
    assert report.tables["raw_row_accounting"]["footer"] == [
        ["Total", "83", "83", "0", "0", "0", "0", "yes"]
    ]


def test_every_chart_is_drawn(report):
    assert list(report.charts) == FIXTURE_CHARTS
    for chart, counts in report.charts.items():
        assert counts["svg"] == 1, chart
        assert counts["marks"] >= 3, chart  # bars, heatmap cells or lines
        assert counts["text"] >= 3, chart  # labels stay text (svg.fonttype none)
        assert counts["caption"] == 1, chart
    assert report.charts["rfm_grid"]["marks"] >= 25  # every cell of the 5 x 5 grid


def test_nothing_is_fetched_from_elsewhere(report_path, report):
    text = report_path.read_text(encoding="utf-8")
    assert not {"link", "script", "img", "iframe", "object", "embed"} & report.tags_seen
    external = [ref for ref in report.references if ref[2].lower().startswith(EXTERNAL_PREFIXES)]
    assert external == []
    # In-page references only: section anchors and the SVGs' own clip paths and markers.
    assert all(value.startswith("#") for _, _, value in report.references)
    assert "url(http" not in text and "@import" not in text and "<metadata" not in text


def test_a_night_the_warehouse_no_longer_holds_is_refused(customer_marts_warehouse):
    with pytest.raises(ReportError, match="holds the night of 2026-06-30, not 2026-06-29"):
        render_nightly_report(customer_marts_warehouse, date(2026, 6, 29))
    exports = customer_marts_warehouse.parent / "exports"
    with pytest.raises(ReportError, match="manifest is for '2026-06-29'"):
        render_nightly_report(
            customer_marts_warehouse, AS_OF, read_manifest(exports, date(2026, 6, 29))
        )


def chromium_or_skip() -> str:
    """Debian's chromium (.ci/run installs it), or skip; SCRM_REQUIRE_BROWSER=1 fails instead."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("SCRM_REQUIRE_BROWSER") == "1":
            pytest.fail("SCRM_REQUIRE_BROWSER=1 but chromium is not on PATH")
        pytest.skip("chromium is not on PATH (set SCRM_REQUIRE_BROWSER=1 to require it)")
    return chromium


def test_the_report_renders_in_a_browser(report_path, tmp_path):
    """Open the file in headless chromium: no request leaves file://, every chart has a size."""
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    errors: list[str] = []

    def route(route):
        requests.append(route.request.url)
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            route.abort()

    url = report_path.resolve().as_uri()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.route("**/*", route)
            page.goto(url, wait_until="load")
            # Wide tables wrap or fit: the page never scrolls sideways at 1280 pixels.
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            figures = page.query_selector_all("figure.chart")
            assert [f.get_attribute("data-chart") for f in figures] == FIXTURE_CHARTS
            for figure in figures:
                name = figure.get_attribute("data-chart")
                box = figure.query_selector("svg").bounding_box()
                assert box is not None and box["width"] > 0 and box["height"] > 0, name
                drawn = figure.evaluate(
                    "f => [...f.querySelectorAll('svg [clip-path]')]"
                    ".filter(e => { const b = e.getBBox(); return b.width > 0 || b.height > 0; })"
                    ".length"
                )
                assert drawn >= 3, name
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert requests == [url]
    assert errors == []
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_chinese_is_drawn_in_the_browser_not_as_tofu(customer_marts_warehouse, tmp_path):
    """The Chinese report in headless chromium draws its heading's characters as glyphs.

    Without a CJK font (.ci/run installs fonts-noto-cjk) chromium draws every Chinese
    character as the same empty box, "tofu": the text is in the page but nobody can read it.
    So each character of the heading is screenshotted alone, in the heading's own style:
    different characters must give different pictures, and each picture must hold ink (it
    differs from the same character drawn transparent).
    """
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    manifest = read_manifest(customer_marts_warehouse.parent / "exports", AS_OF)
    path = tmp_path / "report.html"
    path.write_text(
        render_nightly_report(customer_marts_warehouse, AS_OF, manifest, language="zh"),
        encoding="utf-8",
    )
    characters = "每晚报告"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(path.as_uri(), wait_until="load")
            # The text is there: the heading, a segment's display name, a section title.
            assert page.inner_text("h1") == "每晚报告 2026-06-30"
            body = page.inner_text("body")
            assert "流失客户" in body and "生命周期" in body
            page.evaluate(
                """characters => {
                    const heading = document.querySelector('h1');
                    for (const [index, character] of [...characters].entries()) {
                        for (const [kind, colour] of [['ink', ''], ['blank', 'transparent']]) {
                            const probe = heading.cloneNode(false);
                            probe.id = `${kind}-${index}`;
                            probe.textContent = character;
                            probe.style.display = 'inline-block';
                            probe.style.color = colour;
                            document.body.append(probe);
                        }
                    }
                }""",
                characters,
            )
            drawn = [page.locator(f"#ink-{i}").screenshot() for i in range(len(characters))]
            blank = [page.locator(f"#blank-{i}").screenshot() for i in range(len(characters))]
        finally:
            browser.close()
    assert all(ink != nothing for ink, nothing in zip(drawn, blank, strict=True))
    assert len(set(drawn)) == len(characters), "the Chinese characters are drawn as tofu"
