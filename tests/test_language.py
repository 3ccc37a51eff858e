"""Operators read Chinese: the catalog is whole in both languages, reasons read as words, and
the report and the files people open follow SCRM_LANG (orchestration/language.py).

Expected values are worked out by hand from tests/fixtures/raw_customer_marts/README.md.
"""

import csv
import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from orchestration.language import (
    LANGUAGE_VARIABLE,
    LANGUAGES,
    LOCALE_DIR,
    LanguageError,
    configured_language,
    speaking,
)
from orchestration.language import _ as translate
from orchestration.project import project_vars
from orchestration.publishing.exports import read_manifest
from orchestration.reasons import (
    Criterion,
    lifecycle_reason,
    parse_reason,
    readable_reason,
    value_tier_reason,
)
from orchestration.reporting.nightly_report import render_nightly_report
from tests.conftest import CUSTOMER_MARTS_AS_OF, query
from tests.test_nightly_report import ParsedReport

ROOT = Path(__file__).resolve().parent.parent
AS_OF = date.fromisoformat(CUSTOMER_MARTS_AS_OF)
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
CJK = re.compile(r"[\u4e00-\u9fff]")


def extracted_messages() -> set[str]:
    """Every message the code and seeds mark for people, as `make messages` extracts them."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    return {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT, method_map, options_map
        )
        if message
    }


@pytest.fixture(scope="module")
def messages() -> set[str]:
    return extracted_messages()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_has_a_translation_in_both_languages(messages, language):
    path = LOCALE_DIR / language / "LC_MESSAGES" / "scrm.po"
    with path.open("rb") as handle:
        catalog = read_po(handle)
    entries = {message.id: message for message in catalog if message.id}
    # Report messages, reason words and the seed's action reasons are all extracted.
    assert "Nightly report" in messages
    assert "{value} days since the last purchase" in messages
    assert "The face mask runs out around today: send the repurchase coupon." in messages
    assert sorted(messages - set(entries)) == [], f"not in {path.name}: run `make messages`"
    assert sorted(set(entries) - messages) == [], f"no longer used, in {path.name}"
    # A plural message (ngettext) has a form per plural of the language, each to fill in.
    forms = {
        key: message.string if isinstance(message.string, tuple) else (message.string,)
        for key, message in entries.items()
    }
    untranslated = sorted(
        str(key) for key, message in entries.items() if not all(forms[key]) or message.fuzzy
    )
    assert untranslated == [], f"untranslated or fuzzy in {language}"
    # A translation keeps the placeholders its code fills in, no more and no fewer.
    for key, strings in forms.items():
        ids = key if isinstance(key, tuple) else (key,)
        expected = set(PLACEHOLDER.findall(ids[0]))
        assert all(set(PLACEHOLDER.findall(text)) == expected for text in (*ids, *strings)), key


def test_every_segment_and_tag_has_a_name_in_both_languages():
    """display_name (Chinese) and display_name_en in every segment's meta.segment and every
    tag's meta.tag, rule tags included: the English report names none by its code name."""
    from orchestration.project import dbt_project
    from orchestration.reporting.nightly_report import declared_display_names
    from orchestration.segments import load_manifest, segment_declaration
    from orchestration.tag_registry import tag_declaration

    manifest = load_manifest(dbt_project.manifest_path)
    declarations = {
        node["name"]: declaration
        for node in manifest["nodes"].values()
        if (declaration := segment_declaration(node))
    }
    for node in manifest["nodes"].values():
        if node.get("resource_type") == "model" and node["fqn"][1] == "tags":
            for name, column in node["columns"].items():
                if declaration := tag_declaration(column):
                    declarations[name] = declaration
    # 12 segments; the tag models' 69 tags and tag_rules.yml's 4.
    assert len(declarations) == 12 + 69 + 4
    lacking = {
        key: sorted(name for name, declared in declarations.items() if not declared.get(key))
        for key in ("display_name", "display_name_en")
    }
    assert lacking == {"display_name": [], "display_name_en": []}
    chinese = [
        name for name, declared in declarations.items() if not CJK.search(declared["display_name"])
    ]
    assert chinese == []
    english = [
        n for n, declared in declarations.items() if not declared["display_name_en"].isascii()
    ]
    assert english == []
    with speaking("en"):
        names = declared_display_names(manifest)
    assert (names.segments["seg_churned"], names.tags["identity"], names.tags["deal_hunter"]) == (
        "Churned customers",
        "Identity",
        "Deal hunter",
    )
    with speaking("zh"):
        names = declared_display_names(manifest)
    assert (names.segments["seg_churned"], names.tags["identity"]) == ("流失客户", "身份")


def test_every_tag_has_a_description_in_both_languages():
    """The column's description (English) and meta.tag.description_zh (Chinese) on every tag,
    rule tags included: the Chinese report describes none in English."""
    from orchestration.project import dbt_project
    from orchestration.segments import load_manifest
    from orchestration.tag_registry import tag_declaration, tag_description, tag_descriptions

    manifest = load_manifest(dbt_project.manifest_path)
    columns = {
        name: column
        for node in manifest["nodes"].values()
        if node.get("resource_type") == "model" and node["fqn"][1] == "tags"
        for name, column in node["columns"].items()
        if tag_declaration(column)
    }
    assert len(columns) == 69 + 4  # the tag models' tags and tag_rules.yml's
    lacking = {
        "description": sorted(
            name for name, column in columns.items() if not column["description"]
        ),
        "description_zh": sorted(
            name
            for name, column in columns.items()
            if not CJK.search(str(tag_declaration(column).get("description_zh") or ""))
        ),
    }
    assert lacking == {"description": [], "description_zh": []}
    # In the page's language; the English one for a tag that declares no Chinese.
    identity = columns["identity"]
    assert tag_description(identity, "zh") == "客户在问卷中填写的身份（宝妈、学生、上班族等）。"
    assert tag_description(identity, "en") == (
        "Identity the customer gave in a survey (宝妈, 学生, 上班族, ...)."
    )
    undeclared = {"description": "Bought twice.", "config": {"meta": {"tag": {"category": "x"}}}}
    assert tag_description(undeclared, "zh") == "Bought twice."
    chinese, english = tag_descriptions(manifest, "zh"), tag_descriptions(manifest, "en")
    assert (len(chinese), len(english)) == (73, 73)
    assert chinese["deal_hunter"] == "大多数购买都用了优惠\uff0c而且经常退款。"
    assert english["deal_hunter"] == "Most purchases used a discount and refunds are frequent."


def test_the_language_defaults_to_chinese_and_scrm_lang_chooses(monkeypatch):
    monkeypatch.delenv(LANGUAGE_VARIABLE, raising=False)
    assert configured_language() == "zh_Hans"
    monkeypatch.setenv(LANGUAGE_VARIABLE, "en")
    assert configured_language() == "en"
    assert configured_language("zh-CN") == configured_language("ZH_hans") == "zh_Hans"
    with pytest.raises(LanguageError, match="SCRM_LANG='fr'"):
        configured_language("fr")
    # Within speaking(), the block's language wins over the environment.
    with speaking("zh"):
        assert translate("Nightly report") == "每晚报告"
    assert translate("Nightly report") == "Nightly report"


def test_a_reason_keeps_its_fields_and_reads_as_words():
    reason = "days_since_last_purchase=125 >= 30; last_purchase_on=2026-06-28"
    assert parse_reason(reason) == [
        Criterion("days_since_last_purchase", "125", ">=", "30"),
        Criterion("last_purchase_on", "2026-06-28"),
    ]
    with speaking("zh"):
        assert readable_reason(reason) == "距上次购买 125 天（≥30 天）；上次购买 2026-06-28"
    with speaking("en"):
        assert readable_reason(reason) == (
            "125 days since the last purchase (≥30 days); last purchase 2026-06-28"
        )


def test_every_kind_of_criterion_reads_as_words():
    cases = {
        # in: the listed values, each in words.
        "customer_value_tier=high in (vip, high); member_level=普通会员": (
            "价值层级：高（属于 VIP、高）；会员等级：普通会员",
            "value tier: high (one of VIP, high); member level: 普通会员",
        ),
        # Flags read as a sentence either way; a coded value in words.
        "friend_status=current_friend; is_active_30d=true; is_active_15d=false": (
            "好友状态：当前好友；近 30 天有互动；近 15 天无互动",
            "friend status: current friend; interacted in the last 30 days; "
            "no interaction in the last 15 days",
        ),
        "paid_order_count=7 > 5; paid_amount_cny=6120.00 > 5000": (
            "购买 7 次（>5 次）；累计实付 6120.00 元（>5000 元）",
            "7 purchases (>5 times); 6120.00 CNY paid (>5000 CNY)",
        ),
        # A column without words still reads, by its name; a missing value is "none".
        "loyalty_points=null": ("loyalty_points：无", "loyalty_points: none"),
    }
    for reason, (chinese, english) in cases.items():
        with speaking("zh"):
            assert readable_reason(reason) == chinese
        with speaking("en"):
            assert readable_reason(reason) == english


def test_a_reason_reads_the_same_from_its_fields():
    """Segment reasons in the files people open come from the criteria as fields (macro
    segment_reason_fields), not from the text read back; the words are the same."""
    from orchestration.reasons import reason_from_fields, segment_reasons_for_people

    fields = json.dumps(
        [
            {"column": "customer_value_tier", "value": "high", "op": "in", "rule": ["vip", "high"]},
            {"column": "member_level", "value": "普通会员", "op": "=", "rule": []},
            {"column": "paid_amount_cny", "value": "6120.00", "op": ">", "rule": ["5000"]},
            {"column": "is_active_15d", "value": "false", "op": "=", "rule": []},
            {"column": "loyalty_points", "value": None, "op": None, "rule": []},
        ],
        ensure_ascii=False,
    )
    reason = (
        "customer_value_tier=high in (vip, high); member_level=普通会员; "
        "paid_amount_cny=6120.00 > 5000; is_active_15d=false; loyalty_points=null"
    )
    words = (
        "价值层级：高（属于 VIP、高）；会员等级：普通会员；累计实付 6120.00 元（>5000 元）；"
        "近 15 天无互动；loyalty_points：无"
    )
    with speaking("zh"):
        assert reason_from_fields(fields) == readable_reason(reason) == words
        assert reason_from_fields(None) is None
    with speaking("en"):
        assert reason_from_fields(fields) == readable_reason(reason)
    # A segment's table for people: the reason worded from the fields, the fields left out.
    table = pa.table({"customer_id": ["A"], "reason": [reason], "reason_fields": [fields]})
    people = segment_reasons_for_people("zh")(table)
    assert people.column_names == ["customer_id", "reason"]
    assert people.column("reason").to_pylist() == [words]


def test_a_fit_status_reads_in_the_operators_language():
    """The report's note on a fit that did not converge gives its status's meaning in words,
    then the fit's detail (worded from its fields by fit_detail_text, below)."""
    from orchestration.reporting.nightly_report import _fit_status_notes

    fits = [
        ("bg_nbd", "not_fitted", "2 buyers, fewer than min_customers=100"),
        ("gamma_gamma", "converged", ""),
        ("bg_nbd_backtest", "retired", None),
    ]
    with speaking("zh"):
        assert _fit_status_notes(fits) == [
            "bg_nbd 状态为 not_fitted（购买客户或复购客户太少\uff0c无法拟合；没有由此得出的预测）："
            "2 buyers, fewer than min_customers=100。",
            "bg_nbd_backtest 状态为 retired（未知状态）：未给出原因。",
        ]
    with speaking("en"):
        assert _fit_status_notes(fits)[0] == (
            "bg_nbd is not_fitted (too few buyers or repeat buyers to fit; no predictions from "
            "it): 2 buyers, fewer than min_customers=100."
        )


def test_a_fits_detail_reads_in_the_operators_language_from_its_fields():
    """btyd_model_fits.detail_fields worded in the page's language; a detail without fields
    (a failed fit's error, a night from before the fields) is shown as it is."""
    from orchestration.reporting.nightly_report import fit_detail_text

    too_few = json.dumps({"reason": "too_few_buyers", "buyers": 2, "min_customers": 100})
    english = "2 buyers, fewer than min_customers=100"
    spenders = {"reason": "too_few_repeat_spenders", "repeat_buyers": 3, "min_customers": 100}
    # q kept to four significant digits, as the English detail writes it.
    spend = json.dumps({"reason": "no_finite_mean_spend", "q": 0.62534})
    with speaking("zh"):
        assert fit_detail_text(english, too_few) == "购买客户 2 位\uff0c少于 min_customers=100"
        assert fit_detail_text("", json.dumps({"reason": "no_repeat_buyers", "buyers": 150})) == (
            "150 位购买客户都没有复购：无法估计流失"
        )
        assert fit_detail_text("", json.dumps(spenders)) == (
            "有消费金额的复购客户 3 位\uff0c少于 min_customers=100"
        )
        assert fit_detail_text(
            "", json.dumps({"reason": "repeat_buyers", "repeat_buyers": 3, "buyers": 150})
        ) == ("150 位购买客户中 3 位复购")
        assert fit_detail_text("", spend).startswith("q=0.6253 ≤ 1：")
        # No fields, fields of an unknown reason, or missing a count: the detail as it is.
        assert fit_detail_text(english, None) == english
        assert fit_detail_text(english, json.dumps({"reason": "new_reason"})) == english
        assert fit_detail_text(english, json.dumps({"reason": "too_few_buyers"})) == english
        assert fit_detail_text("LinAlgError: singular matrix", None) == (
            "LinAlgError: singular matrix"
        )
    with speaking("en"):
        assert fit_detail_text("", too_few) == english
        assert fit_detail_text("", spend).startswith("q=0.6253 <= 1: spend per purchase")


def test_boundary_and_failed_fit_details_read_in_the_operators_language():
    """A boundary's and a failed fit's fields worded in both languages; the English words are
    the fit's English detail (btyd_model_fits.detail), parameters to four digits."""
    from orchestration.reporting.nightly_report import fit_detail_text

    parameters = {"r": 0.0094184, "alpha": 22.86875, "a": 8656.59, "b": 0.000115519}
    at = "r=0.009418, alpha=22.87, a=8657, b=0.0001155"
    bgnbd = {
        "reason": "no_interior_maximum",
        "running": ["a", "b"],
        "at_search_edge": False,
        "parameters": parameters,
        "repeat_buyers": 3,
        "buyers": 150,
    }
    # One parameter running off, at the edge of the search range, and Gamma-Gamma's, which
    # counts no buyers; a flat ridge names none.
    edge = {**bgnbd, "running": ["a"], "at_search_edge": True}
    ridge = {"reason": "no_interior_maximum", "running": [], "at_search_edge": False}
    ridge["parameters"] = {"p": 2.5, "q": 1.25, "v": 300.0}
    unusable = {"reason": "non_finite_predictions", "predictions": 600, "status": "boundary"}
    unusable["fields"] = bgnbd
    failed = {
        "reason": "likelihood_still_rises",
        "iterations": 24,
        "parameters": {"p": 15804992.6, "q": 61945805.9, "v": 470.3258},
        "gradient": 1.4840653,
    }
    limit = {"reason": "iteration_limit", "maxiter": 1, "parameters": {"p": 1.0, "q": 3.0}}
    invalid = {"reason": "invalid_input", "error": "recency exceeds T for 1 customers"}
    raised = {"reason": "fit_error", "error_type": "LinAlgError", "error": "singular matrix"}
    cases = [
        (
            bgnbd,
            f"3 of 150 buyers repeat; no interior maximum: the likelihood levels off as a, b run "
            f"towards 0 or infinity at {at}; the data do not identify them (a penalizer_coef may "
            "give an interior fit)",
            f"150 位购买客户中 3 位复购；无内部最大值：似然随 a, b 趋向 0 或无穷大而趋于平稳"
            f"\uff0c停在 {at}；数据无法确定这些参数（设置 penalizer_coef 可能得到内部解）",
        ),
        (
            edge,
            f"3 of 150 buyers repeat; no interior maximum: the likelihood levels off as a runs "
            f"towards 0 or infinity (stopped at the edge of the search range) at {at}; the data "
            "do not identify them (a penalizer_coef may give an interior fit)",
            f"150 位购买客户中 3 位复购；无内部最大值：似然随 a 趋向 0 或无穷大而趋于平稳（搜索停在"
            f"取值范围的边缘）\uff0c停在 {at}；数据无法确定这些参数（设置 penalizer_coef 可能"
            "得到内部解）",
        ),
        (
            ridge,
            "no interior maximum: the likelihood levels off along a flat ridge at p=2.5, q=1.25, "
            "v=300; the data do not identify them (a penalizer_coef may give an interior fit)",
            "无内部最大值：似然沿一条平坦的脊线趋于平稳\uff0c停在 p=2.5, q=1.25, v=300；"
            "数据无法确定这些参数（设置 penalizer_coef 可能得到内部解）",
        ),
        (
            failed,
            "the fit did not converge: the search stopped after 24 iterations at p=1.58e+07, "
            "q=6.195e+07, v=470.3, where the likelihood still rises (largest gradient component "
            "1.484)",
            "拟合未收敛：搜索在 24 次迭代后停在 p=1.58e+07, q=6.195e+07, v=470.3"
            "\uff0c该处似然仍在上升（梯度最大分量 1.484）",
        ),
        (
            limit,
            "the fit did not converge within maxiter=1 iterations (last parameters p=1, q=3)",
            "拟合在 maxiter=1 次迭代内未收敛（最后的参数为 p=1, q=3）",
        ),
        (
            {"reason": "non_finite_point"},
            "the fit ended at a point where the likelihood is not finite",
            "拟合停在了似然不是有限值的点上",
        ),
        # Faults of the code, not the data: their message as it is, said whose they are.
        (
            invalid,
            "the fit's input is invalid, a fault upstream to report: recency exceeds T for 1 "
            "customers",
            "拟合的输入数据无效\uff0c这是上游的故障\uff0c请报告：recency exceeds T for 1 customers",
        ),
        (
            raised,
            "the fit raised LinAlgError: singular matrix",
            "拟合出错（LinAlgError）：singular matrix",
        ),
    ]
    for fields, english, chinese in cases:
        with speaking("en"):
            assert fit_detail_text("", json.dumps(fields)) == english
        with speaking("zh"):
            assert fit_detail_text("", json.dumps(fields)) == chinese
    # Predictions withheld from a usable fit: its status and its own detail, worded too.
    with speaking("en"):
        assert fit_detail_text("", json.dumps(unusable)) == (
            f"600 predictions are not finite, so none are kept (boundary: {cases[0][1]})"
        )
    with speaking("zh"):
        assert fit_detail_text("", json.dumps(unusable)) == (
            f"600 个预测值不是有限值\uff0c因此全部不保留（boundary：{cases[0][2]}）"
        )
        # Fields missing what the words need: the detail as it is.
        assert fit_detail_text("as it is", json.dumps({**bgnbd, "running": None})) == "as it is"
        unknown = {**unusable, "fields": {"reason": "new_reason"}}
        assert fit_detail_text("as it is", json.dumps(unknown)) == "as it is"


def test_the_chinese_report_words_the_fits_details(customer_marts_warehouse):
    """The fixture's 8 buyers, 3 of them repeat buyers (C D I), are too few for either model
    (tests/test_nightly_report.py, the model card): in Chinese, from the fits' fields."""
    fits = render(customer_marts_warehouse, "zh").rows("model_fits")
    assert fits["bg_nbd"][-1] == "购买客户 8 位\uff0c少于 min_customers=100"
    assert fits["gamma_gamma"][-1] == "有消费金额的复购客户 3 位\uff0c少于 min_customers=100"


def spent(amount: str, score: int, tier: str, scores: str) -> str:
    return f"近 365 天实付 {amount} 元；消费评分（M）{score} 分（价值层级 {tier}：{scores} 分）"


# Every customer of the customer-marts fixture: why in their lifecycle stage, why in their
# value tier (fixture README; new and churn span 30 days, RFM window 365).
STAGE_AND_TIER_REASONS = {
    # First purchases 06-10, 06-01 and 06-30: new for 30 days.
    "A": ("距首次购买 20 天（<30 天）", spent("200.00", 4, "高", "4")),
    "F": ("距首次购买 29 天（<30 天）", spent("100.00", 1, "低", "1-2")),
    "J": ("距首次购买 0 天（<30 天）", spent("100.00", 1, "低", "1-2")),
    # B's only order was refunded; H never ordered.
    "B": ("尚未购买", "尚未购买"),
    "H": ("尚未购买", "尚未购买"),
    # Quiet for 30 days or more: C and I still friends (silent), E never one (churned).
    "C": ("距上次购买 90 天（≥30 天）；好友状态：当前好友", spent("450.00", 5, "VIP", "5")),
    "I": ("距上次购买 33 天（≥30 天）；好友状态：当前好友", spent("180.00", 3, "中", "3")),
    "E": ("距上次购买 30 天（≥30 天）；好友状态：从未加好友", spent("100.00", 1, "低", "1-2")),
    # D bought on 06-01 after 2025-07-01: 335 days apart.
    "D": (
        "距上次购买 29 天（<30 天）；最近两次购买相隔 335 天（>30 天）",
        spent("1658.00", 5, "VIP", "5"),
    ),
    "G": ("好友状态：被客户删除", spent("100.00", 1, "低", "1-2")),
}
# Their stage and value tier, in words.
STAGES_AND_TIERS = {
    "A": ("新客", "高"),
    # Without a purchase, the value tier is none (无).
    "B": ("潜在客户", "无"),
    "C": ("沉默", "VIP"),
    "D": ("回流", "VIP"),
    "E": ("流失", "低"),
    "F": ("新客", "低"),
    "G": ("已删好友", "低"),
    "H": ("潜在客户", "无"),
    "I": ("沉默", "中"),
    "J": ("新客", "低"),
}


def test_every_customer_reads_why_they_are_in_their_stage_and_tier(customer_marts_warehouse):
    """Not only segment members: the stage and value tier of all ten customers, from the
    structured fields of marts.customer_lifecycle and customer_rfm (fixture README; new and
    churn spans 30 days, RFM window 365)."""
    rows = query(
        customer_marts_warehouse,
        """
        select
            lifecycle.customer_id,
            lifecycle.lifecycle_stage,
            lifecycle.days_since_first_purchase,
            lifecycle.days_since_last_purchase,
            lifecycle.days_between_last_purchases,
            lifecycle.friend_status,
            profile.customer_value_tier,
            rfm.m_score,
            rfm.monetary_cny
        from marts.customer_lifecycle as lifecycle
        inner join marts.customer_profile as profile using (customer_id)
        left join marts.customer_rfm as rfm using (customer_id)
        order by 1
        """,
    )
    names = (
        "lifecycle_stage",
        "days_since_first_purchase",
        "days_since_last_purchase",
        "days_between_last_purchases",
        "friend_status",
        "customer_value_tier",
        "m_score",
        "monetary_cny",
    )
    fields = {row[0]: dict(zip(names, row[1:], strict=True)) for row in rows}
    rule_vars = project_vars()
    window = int(rule_vars["rfm_window_days"])

    def reasons(language: str) -> dict[str, tuple[str, str]]:
        with speaking(language):
            return {
                customer: (lifecycle_reason(row, rule_vars), value_tier_reason(row, window))
                for customer, row in fields.items()
            }

    assert reasons("zh") == STAGE_AND_TIER_REASONS
    english = reasons("en")
    assert english["D"] == (
        "29 days since the last purchase (<30 days); 335 days between the last two purchases "
        "(>30 days)",
        "1658.00 CNY paid in the last 365 days; spend score (M) 5 (value tier VIP: a score of 5)",
    )
    assert english["B"] == ("no purchase yet", "no purchase yet")


def test_every_customer_has_a_file_of_their_stage_and_tier_and_why(customer_marts_warehouse):
    """exports/<night>/customer_reasons.*: for people, every customer of the profile with their
    stage and value tier in words and why; for programs, the fields the reasons come from."""
    night = customer_marts_warehouse.parent / "exports" / CUSTOMER_MARTS_AS_OF
    lines = (night / "customer_reasons.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == (
        "customer_id,lifecycle_stage,lifecycle_reason,customer_value_tier,value_tier_reason"
    )
    rows = list(csv.reader(lines[1:]))
    assert {row[0]: (row[1], row[3]) for row in rows} == STAGES_AND_TIERS
    assert {row[0]: (row[2], row[4]) for row in rows} == STAGE_AND_TIER_REASONS
    sheet = openpyxl.load_workbook(night / "customer_reasons.xlsx")["生命周期与价值层级"]
    assert [cell.value for cell in sheet[1]] == [
        "客户ID",
        "生命周期阶段",
        "阶段原因",
        "价值层级",
        "价值层级原因",
    ]
    assert sheet.max_row == 1 + 10
    # The Parquet keeps the fields: D's gap of 335 days, its spend and score.
    fields = {
        row["customer_id"]: row
        for row in pq.read_table(night / "customer_reasons.parquet").to_pylist()
    }
    assert len(fields) == 10
    assert (
        fields["D"]["lifecycle_stage"],
        fields["D"]["days_since_last_purchase"],
        fields["D"]["days_between_last_purchases"],
        fields["D"]["m_score"],
        str(fields["D"]["monetary_cny"]),
    ) == ("reactivated", 29, 335, 5, "1658.00")
    manifest = read_manifest(night.parent, AS_OF)
    assert manifest["customer_tables"]["customer_reasons"]["rows"] == 10
    assert sorted(manifest["customer_tables"]["customer_reasons"]["files"]) == [
        "customer_reasons.csv",
        "customer_reasons.parquet",
        "customer_reasons.xlsx",
    ]


def test_customer_reasons_for_people_from_hand_made_fields():
    """The renderer of customer_reasons on three hand-made customers, in both languages."""
    from orchestration.reasons import CUSTOMER_REASON_COLUMNS, customer_reasons_for_people

    fields = pa.table(
        {
            "customer_id": ["R", "P", "X"],
            # R came back after 130 days; P never bought; X is in no stage (erased).
            "lifecycle_stage": ["reactivated", "prospect", None],
            "days_since_first_purchase": [180, None, None],
            "days_since_last_purchase": [10, None, None],
            "days_between_last_purchases": [130, None, None],
            "friend_status": ["current_friend", "never_friend", None],
            "customer_value_tier": ["high", None, None],
            "m_score": [4, None, None],
            "monetary_cny": pa.array([Decimal("880.5"), None, None], pa.decimal128(18, 2)),
        }
    )
    rule_vars = {"lifecycle_new_days": 30, "lifecycle_churn_days": 60, "rfm_window_days": 180}
    chinese = customer_reasons_for_people(rule_vars, "zh")(fields)
    assert tuple(chinese.column_names) == CUSTOMER_REASON_COLUMNS
    assert chinese.to_pylist() == [
        {
            "customer_id": "R",
            "lifecycle_stage": "回流",
            "lifecycle_reason": "距上次购买 10 天（<60 天）；最近两次购买相隔 130 天（>60 天）",
            "customer_value_tier": "高",
            "value_tier_reason": (
                "近 180 天实付 880.50 元；消费评分（M）4 分（价值层级 高：4 分）"
            ),
        },
        {
            "customer_id": "P",
            "lifecycle_stage": "潜在客户",
            "lifecycle_reason": "尚未购买",
            "customer_value_tier": None,
            "value_tier_reason": "尚未购买",
        },
        {
            "customer_id": "X",
            "lifecycle_stage": None,
            "lifecycle_reason": None,
            "customer_value_tier": None,
            "value_tier_reason": "尚未购买",
        },
    ]
    english = customer_reasons_for_people(rule_vars, "en")(fields).to_pylist()[0]
    assert english == {
        "customer_id": "R",
        "lifecycle_stage": "reactivated",
        "lifecycle_reason": (
            "10 days since the last purchase (<60 days); 130 days between the last two "
            "purchases (>60 days)"
        ),
        "customer_value_tier": "high",
        "value_tier_reason": (
            "880.50 CNY paid in the last 180 days; spend score (M) 4 (value tier high: a score "
            "of 4)"
        ),
    }


def test_files_for_people_carry_the_reason_in_words_programs_the_fields(
    customer_marts_warehouse,
):
    night = customer_marts_warehouse.parent / "exports" / CUSTOMER_MARTS_AS_OF
    # C: last purchase 04-01, 90 days before 06-30; churn is 30 days (fixture README).
    machine = "days_since_last_purchase=90 >= 30; last_purchase_on=2026-04-01"
    parquet = pq.read_table(night / "seg_churned.parquet").to_pylist()
    assert [(row["customer_id"], row["reason"]) for row in parquet] == [("C", machine)]
    csv = (night / "seg_churned.csv").read_text(encoding="utf-8-sig").splitlines()
    assert csv[1] == "C,90,450.00,距上次购买 90 天（≥30 天）；上次购买 2026-04-01"
    # The action's reason from the seed, in Chinese; the membership reason in words.
    win_back = (night / "nba_win_back.csv").read_text(encoding="utf-8-sig").splitlines()
    assert win_back == [
        "customer_id,priority,segment_name,reason,action_detail,membership_reason",
        "C,6,seg_churned,有过确认订单、但 30 天没有购买：发召回优惠。,,"
        "距上次购买 90 天（≥30 天）；上次购买 2026-04-01",
    ]
    # Its workbook: the sheet named for the action in Chinese (seed display_name, catalog).
    workbook = openpyxl.load_workbook(night / "nba_win_back.xlsx")
    assert workbook.sheetnames == ["流失挽回"]
    assert [cell.value for cell in workbook.active[1]][:3] == ["客户ID", "优先级", "人群包"]


def test_next_best_actions_carry_the_detail_they_promise(customer_marts_warehouse):
    details = dict(
        query(
            customer_marts_warehouse,
            "select customer_id, action_detail from marts.next_best_action order by 1",
        )
    )
    # The mask to buy again (I's newer mask supersedes its first), the category to offer D,
    # nothing promised by the others.
    assert details == {
        "A": None,
        "B": None,
        "C": None,
        "D": "儿童安全用品",
        "E": "P_MASK",
        "F": "P_MASK",
        "H": None,
        "I": "P_MASK2",
    }
    # The wake-up content's topic is its segment's content_preference: F's is 促销, though F
    # gets the mask push tonight.
    assert query(
        customer_marts_warehouse,
        "select customer_id, content_preference from segments.seg_about_to_go_silent",
    ) == [("F", "促销")]


def render(warehouse: Path, language: str) -> ParsedReport:
    manifest = read_manifest(warehouse.parent / "exports", AS_OF)
    return ParsedReport(render_nightly_report(warehouse, AS_OF, manifest, language=language))


def test_the_report_speaks_chinese_by_default_and_english_on_request(
    customer_marts_warehouse, monkeypatch
):
    monkeypatch.delenv(LANGUAGE_VARIABLE, raising=False)
    chinese = ParsedReport(render_nightly_report(customer_marts_warehouse, AS_OF, None))
    assert chinese.rows("summary")["已知客户"] == ["10"]
    assert chinese.header("summary") == ["指标", "数值"]
    # Segments go by their display names, the code name beside them.
    assert chinese.header("segments")[:3] == ["人群包", "代码名", "成员"]
    assert chinese.rows("segments")["流失客户"][:2] == ["seg_churned", "4"]
    stages = chinese.rows("lifecycle_stages")
    # E churned, G lost the friendship; A F J new (fixture README).
    assert (stages["流失"][0], stages["已删好友"][0], stages["新客"][0]) == ("1", "1", "3")
    # RFM segments, English values in the data, in words with the value beside (A and J new;
    # E and F about to sleep: tests/test_nightly_report.py).
    rfm = chinese.rows("rfm_segments")
    assert (rfm["新客户 (New)"][0], rfm["即将沉睡客户 (About to Sleep)"][0]) == ("2", "2")
    assert chinese.rows("rfm_classes")["一般发展客户"][0] == "3"  # E F J: the value alone

    monkeypatch.setenv(LANGUAGE_VARIABLE, "en")
    english = render(customer_marts_warehouse, "en")
    assert english.rows("summary")["Customers known"] == ["10"]
    # seg_churned by its YAML's display_name_en, the code name beside it.
    assert english.rows("segments")["seg_churned"][:2] == ["Churned customers", "4"]
    assert english.rows("lifecycle_stages")["churned"][0] == "1"
    assert render(customer_marts_warehouse, "zh").rows("summary")["已知客户"] == ["10"]


def test_the_report_describes_tags_in_its_language(customer_marts_warehouse):
    """The tag coverage table's last column: the tag's description_zh in Chinese, its YAML
    description in English (code name: the second column in Chinese, the first in English)."""
    chinese = render(customer_marts_warehouse, "zh").tables["tag_coverage"]
    assert chinese["header"][0][-1] == "说明"
    described = {row[2]: row[-1] for row in chinese["body"]}
    assert described["identity"] == "客户在问卷中填写的身份（宝妈、学生、上班族等）。"
    assert described["high_value"] == "购买超过 5 次\uff0c且累计实付超过 5000 元。"
    assert all(CJK.search(text) for text in described.values())
    english = render(customer_marts_warehouse, "en").tables["tag_coverage"]
    described = {row[1]: row[-1] for row in english["body"]}
    assert described["high_value"] == "More than five purchases and more than 5,000 CNY paid."
    assert described["is_active_7d"] == "Started an interaction in the last 7 days."
    # BI readers have both in marts.tag_catalog.
    catalog = query(
        customer_marts_warehouse,
        "select description, description_zh from marts.tag_catalog "
        f"where tag_name = 'high_value' and as_of_date = '{AS_OF}'",
    )
    assert catalog == [
        (
            "More than five purchases and more than 5,000 CNY paid.",
            "购买超过 5 次\uff0c且累计实付超过 5000 元。",
        )
    ]


def test_the_report_names_its_language(customer_marts_warehouse):
    for language, tag in (("zh", "zh-Hans"), ("en", "en")):
        manifest = read_manifest(customer_marts_warehouse.parent / "exports", AS_OF)
        page = render_nightly_report(customer_marts_warehouse, AS_OF, manifest, language=language)
        assert page.startswith(f'<!DOCTYPE html>\n<html lang="{tag}">')


CHURNED_ZH = "有过确认订单、但近 30 天没有购买的客户（运营的流失规则）。"
CHURNED_EN = (
    "Had a confirmed purchase and no purchase in the last 30 days (the operators' 流失 rule)."
)


def test_the_report_describes_segments_in_its_language(customer_marts_warehouse):
    """A segment's description is its YAML's in the page's language (meta.segment
    description_zh, or the model's description in English), whatever language the night's
    exports were written in (Chinese here), and without an exports manifest too."""
    chinese = render(customer_marts_warehouse, "zh")
    assert chinese.rows("segments")["流失客户"][-1] == CHURNED_ZH
    english = render(customer_marts_warehouse, "en")
    assert english.rows("segments")["seg_churned"][-1] == CHURNED_EN
    unpublished = ParsedReport(
        render_nightly_report(customer_marts_warehouse, AS_OF, None, language="en")
    )
    assert unpublished.rows("segments")["seg_churned"][-1] == CHURNED_EN
    assert CHURNED_EN not in render_nightly_report(
        customer_marts_warehouse, AS_OF, None, language="zh"
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_of_click_has_a_translation_in_both_languages(language):
    """click's own words (Usage:, its usage errors), from the click installed: `make messages`
    extracts them into click.po when click changes."""
    import click

    extracted = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            Path(click.__file__).parent
        )
    }
    assert "Show this message and exit." in extracted
    path = LOCALE_DIR / language / "LC_MESSAGES" / "click.po"
    with path.open("rb") as handle:
        entries = {message.id: message for message in read_po(handle) if message.id}
    assert sorted(map(str, extracted - set(entries))) == [], f"run `make messages`: {path.name}"
    for key, message in entries.items():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"untranslated in {language}: {key!r}"
        # A translation names only what click fills in (a plural's forms may differ).
        ids = key if isinstance(key, tuple) else (key,)
        filled = {name for text in ids for name in re.findall(r"\{[^}]*\}", text)}
        assert all(set(re.findall(r"\{[^}]*\}", text)) <= filled for text in strings), key
