"""Rule tags: the grammar, its SQL, what the SQL selects in DuckDB, every error, the dbt model.

Expected SQL strings and matching rows are worked out by hand from the rules and PROFILE_ROWS.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
import yaml

from orchestration.tag_rules import (
    CompiledRule,
    RuleDefinition,
    RuleError,
    compile_rule,
    compile_rules,
    load_rules,
    render_rule_model,
    tag_categories,
    tag_value_types,
    write_rule_model,
)

COLUMNS = {
    "customer_id": "integer",
    "paid_order_count": "integer",
    "paid_amount_cny": "number",
    "city": "text",
    "nickname": "text",
    "is_member": "boolean",
    "last_order_date": "date",
    "staff_tags": "text",
}

# One row per customer; customer 3 knows nothing, customer 5 lacks a nickname and a date.
# staff_tags is a list tag, its items joined by '|' (docs/staff-tags.md).
PROFILE_ROWS = """
    (1, 7, 6000.00, '上海', 'O''Brien', true, date '2026-01-15', '宝妈|护肤'),
    (2, 2, 100.50, '北京', '小明', false, date '2025-12-31', '新手宝妈'),
    (3, null, null, null, null, null, null, null),
    (4, 0, 0.00, 'shanghai', 'Amy', true, date '2026-02-01', '护肤'),
    (5, 6, 4999.99, '上海', null, false, null, '宝妈')
"""


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> None:
    """Overrides the suite-wide fixture: these tests never read dbt's manifest."""


@pytest.fixture(scope="module")
def profile() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute(
        f"""
        create table profile as
        select
            customer_id::integer as customer_id,
            paid_order_count::integer as paid_order_count,
            paid_amount_cny::decimal(18, 2) as paid_amount_cny,
            city::varchar as city,
            nickname::varchar as nickname,
            is_member::boolean as is_member,
            last_order_date::date as last_order_date,
            staff_tags::varchar as staff_tags
        from (values {PROFILE_ROWS}) as t(
            customer_id, paid_order_count, paid_amount_cny, city, nickname, is_member,
            last_order_date, staff_tags
        )
        """
    )
    yield connection
    connection.close()


def matching(connection: duckdb.DuckDBPyConnection, sql: str) -> list[int]:
    return [
        row[0]
        for row in connection.execute(
            f"select customer_id from profile where {sql} order by 1"
        ).fetchall()
    ]


# ---------------------------------------------------------------------------------------------
# Rendering: exact SQL for each construct


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("paid_order_count > 5", "(paid_order_count > 5)"),
        ("paid_order_count<=5", "(paid_order_count <= 5)"),
        ("paid_order_count != 3", "(paid_order_count <> 3)"),
        ("paid_order_count <> 3", "(paid_order_count <> 3)"),
        # and binds tighter than or; keywords are case-insensitive.
        (
            "paid_order_count >= 2 AND paid_amount_cny > 5000 Or is_member",
            "(((paid_order_count >= 2) and (paid_amount_cny > 5000)) or is_member)",
        ),
        (
            "is_member or paid_order_count >= 2 and paid_amount_cny > 5000",
            "(is_member or ((paid_order_count >= 2) and (paid_amount_cny > 5000)))",
        ),
        # not binds tighter than and, and looser than a comparison.
        (
            "not is_member and city = '上海'",
            "((not is_member) and (city = '上海'))",
        ),
        ("not paid_order_count > 5", "(not (paid_order_count > 5))"),
        (
            "not (is_member or city = '上海')",
            "(not (is_member or (city = '上海')))",
        ),
        ("city in ('上海', '北京')", "(city in ('上海', '北京'))"),
        ("paid_order_count not in (1, 2, 3)", "(paid_order_count not in (1, 2, 3))"),
        (
            "paid_amount_cny between 100 and 5000.50",
            "(paid_amount_cny between 100 and 5000.5)",
        ),
        (
            "last_order_date not between date '2026-01-01' and date '2026-01-31'",
            "(last_order_date not between cast('2026-01-01' as date) "
            "and cast('2026-01-31' as date))",
        ),
        ("nickname is null", "(nickname is null)"),
        ("nickname IS NOT NULL", "(nickname is not null)"),
        ("COALESCE(paid_order_count, 0) >= 3", "(coalesce(paid_order_count, 0) >= 3)"),
        ("length(lower(nickname)) <= 4", "(length(lower(nickname)) <= 4)"),
        (
            "greatest(paid_order_count, paid_amount_cny) > 1",
            "(greatest(paid_order_count, paid_amount_cny) > 1)",
        ),
        (
            "last_order_date >= date '2026-01-01'",
            "(last_order_date >= cast('2026-01-01' as date))",
        ),
        ("nickname = 'O''Brien 小明'", "(nickname = 'O''Brien 小明')"),
        ("is_member", "(is_member)"),
        ("is_member = false", "(is_member = false)"),
        ("(is_member)", "(is_member)"),
        # Numbers are normalised: no leading or trailing zeros, no negative zero.
        (
            "paid_amount_cny in (007.50, -0.0, -05, 12)",
            "(paid_amount_cny in (7.5, 0.0, -5, 12))",
        ),
        ("paid_order_count\n  > 5\n  and is_member", "((paid_order_count > 5) and is_member)"),
        (
            "has_tag(staff_tags, '宝妈')",
            "((instr('|' || staff_tags || '|', '|' || '宝妈' || '|') > 0))",
        ),
    ],
)
def test_compile_rule_renders_each_construct(rule: str, expected: str) -> None:
    assert compile_rule(rule, COLUMNS) == f"coalesce({expected}, false)"


# ---------------------------------------------------------------------------------------------
# Semantics: what the SQL selects in DuckDB


@pytest.mark.parametrize(
    ("rule", "expected_ids"),
    [
        ("paid_order_count > 5 and paid_amount_cny > 5000", [1]),
        ("paid_order_count > 5 or paid_amount_cny > 5000", [1, 5]),
        # Customer 3's unknowns make both a rule and its negation false, never null.
        ("paid_order_count > 5", [1, 5]),
        ("not paid_order_count > 5", [2, 4]),
        ("not is_member", [2, 5]),
        ("is_member", [1, 4]),
        ("is_member = false", [2, 5]),
        ("paid_order_count <> 7", [2, 4, 5]),
        ("is_member or paid_order_count = 2 and city = '上海'", [1, 4]),
        ("(is_member or paid_order_count = 2) and city = '上海'", [1]),
        ("city in ('上海', '北京')", [1, 2, 5]),
        ("city not in ('上海')", [2, 4]),
        ("paid_amount_cny between 100.5 and 5000", [2, 5]),
        ("paid_amount_cny not between 100.5 and 5000", [1, 4]),
        ("nickname is null", [3, 5]),
        ("nickname is not null", [1, 2, 4]),
        ("nickname = 'O''Brien'", [1]),
        ("coalesce(paid_order_count, 0) = 0", [3, 4]),
        ("length(nickname) = 2", [2]),  # 小明: two characters
        ("lower(city) = 'shanghai'", [4]),
        ("upper(nickname) = 'AMY'", [4]),
        ("abs(paid_order_count) > 5", [1, 5]),
        # greatest and least skip nulls (in DuckDB and Spark alike): customer 3 gets 3 here.
        ("greatest(paid_order_count, 3) = 3", [2, 3, 4]),
        ("least(paid_amount_cny, 1000) < 500", [2, 4]),
        ("last_order_date >= date '2026-01-01'", [1, 4]),
        ("last_order_date between date '2026-01-01' and date '2026-01-31'", [1]),
        ("last_order_date not between date '2026-01-01' and date '2026-01-31'", [2, 4]),
        # An item of the list, whole: 宝妈 is not 新手宝妈; a null list holds nothing.
        ("has_tag(staff_tags, '宝妈')", [1, 5]),
        ("has_tag(staff_tags, '护肤') and not has_tag(staff_tags, '宝妈')", [4]),
        ("not has_tag(staff_tags, '宝妈')", [2, 4]),
    ],
)
def test_compiled_rule_selects_the_expected_customers(
    profile: duckdb.DuckDBPyConnection, rule: str, expected_ids: list[int]
) -> None:
    sql = compile_rule(rule, COLUMNS)
    assert matching(profile, sql) == expected_ids
    nulls, types = profile.execute(
        f"select count(*) filter (where ({sql}) is null), list(distinct typeof({sql})) from profile"
    ).fetchone()
    assert nulls == 0
    assert types == ["BOOLEAN"]


# ---------------------------------------------------------------------------------------------
# Errors


def write_rules(directory: Path, text: str) -> Path:
    path = directory / "tag_rules.yml"
    path.write_text(text, encoding="utf-8")
    return path


def one_rule(rule: str = "paid_order_count > 5", **fields: str) -> str:
    values = {
        "name": "bad_rule",
        "display_name": "测试标签",
        "category": "lifecycle",
        "description": "A rule under test.",
        "owner": "crm-ops",
        "rule": rule,
    } | fields
    return yaml.safe_dump({"rules": [values]}, allow_unicode=True, sort_keys=False)


def expect_error(tmp_path: Path, text: str, *words: str, rule: str = "'bad_rule'") -> str:
    with pytest.raises(RuleError) as caught:
        compile_rules(write_rules(tmp_path, text), COLUMNS)
    message = str(caught.value)
    assert message.startswith("tag_rules.yml: ")
    assert f"rule {rule}: " in message
    for word in words:
        assert word in message
    return message


def test_error_message_names_file_rule_and_suggestion(tmp_path: Path) -> None:
    message = expect_error(tmp_path, one_rule("paid_ordr_count > 5"))
    assert message == (
        "tag_rules.yml: rule 'bad_rule': unknown column 'paid_ordr_count' "
        "(did you mean 'paid_order_count'?)"
    )


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        # Syntax, with the column of the problem.
        ("paid_order_count > ", ["syntax error at column 19", "end of rule"]),
        ("paid_order_count > 5 and", ["syntax error at column 25", "end of rule"]),
        ("paid_order_count between 1", ["syntax error", "expected 'and'"]),
        ("(paid_order_count > 1", ["syntax error", "expected ')'"]),
        ("paid_order_count = null", ["syntax error at column 20", "is null"]),
        ("paid_order_count in ()", ["syntax error at column 22"]),
        ("paid_order_count * 2 > 5", ["syntax error at column 18", "'*' is not allowed"]),
        ("paid_order_count + 2 > 5", ["syntax error at column 18", "arithmetic"]),
        ("paid_order_count > 5.", ["syntax error at column 21"]),
        ("city = 'unterminated", ["syntax error at column 8", "unterminated string"]),
        ('city = "上海"', ["syntax error at column 8", "quoted identifiers"]),
        # SQL smuggling: syntax errors or "not allowed".
        ("paid_order_count > 5; drop table x", ["syntax error at column 21", "';'"]),
        ("paid_order_count > (select 1)", ["'select' is not allowed"]),
        ("paid_order_count > 5 union select 1", ["'union' is not allowed"]),
        ("exists(paid_order_count)", ["'exists' is not allowed"]),
        ("paid_order_count > 5 -- and drop", ["syntax error at column 22", "comments"]),
        ("paid_order_count > 5 /* x */", ["syntax error at column 22", "comments"]),
        ('"paid_order_count" > 5', ["syntax error at column 1", "quoted identifiers"]),
        ("`paid_order_count` > 5", ["syntax error at column 1", "quoted identifiers"]),
        ("profile.city = 'x'", ["syntax error at column 8"]),
        ("city = '{{ run_query(\"drop table x\") }}'", ["'{{' is not allowed", "Jinja"]),
        ("city = '{% do x %}'", ["'{%' is not allowed", "Jinja"]),
        ("city = 'a\\' or true", ["backslashes are not allowed"]),
        # Names.
        ("Paid_Order_Count > 5", ["lower case", "'paid_order_count'"]),
        ("current_date > date '2026-01-01'", ["unknown column 'current_date'"]),
        ("date '2026-01-01' < date", ["syntax error"]),
        ("sum(paid_order_count) > 5", ["function 'sum' is not allowed", "coalesce"]),
        ("now() > date '2026-01-01'", ["function 'now' is not allowed"]),
        ("read_csv('x') = 'y'", ["function 'read_csv' is not allowed"]),
        # Types.
        ("city > 5", ["cannot compare city (text) with 5 (integer)"]),
        ("last_order_date > '2026-01-01'", ["cannot compare", "(date)", "(text)"]),
        ("is_member = 1", ["cannot compare is_member (boolean) with 1 (integer)"]),
        ("is_member < true", ["booleans can only be compared with = or <>"]),
        ("paid_order_count in (1, 'two')", ["'two' (text) does not match", "(integer)"]),
        ("city not in ('上海', 2)", ["2 (integer) does not match city (text)"]),
        ("paid_amount_cny between 1 and '9'", ["bound '9' (text) does not match"]),
        ("last_order_date between date '2026-01-01' and 5", ["bound 5 (integer)"]),
        ("is_member between false and true", ["'between' needs ordered values"]),
        ("abs(city) > 1", ["abs needs a number", "city (text)"]),
        ("length(paid_order_count) > 1", ["length needs text"]),
        ("lower(city, nickname) = 'a'", ["lower takes exactly one argument"]),
        ("coalesce(city) = 'a'", ["coalesce needs at least two arguments"]),
        ("coalesce(city, 0) = 'a'", ["arguments of coalesce must have one type"]),
        ("least(is_member, true)", ["least needs ordered values"]),
        ("has_tag(paid_order_count, '1')", ["has_tag needs text", "(integer)"]),
        ("has_tag(staff_tags)", ["has_tag takes a list tag and a tag name"]),
        ("has_tag(staff_tags, '宝妈|护肤')", ["has_tag looks for one tag", "separates tags"]),
        ("last_order_date > date '2026-02-30'", ["invalid date '2026-02-30'"]),
        ("last_order_date > date '2026-1-5'", ["invalid date '2026-1-5'"]),
        ("paid_order_count > 99999999999999999999", ["too large"]),
        # Past Python's 4,300-digit int conversion limit: still this file's rule error, and
        # the message gives the length instead of repeating 5,000 digits.
        ("paid_order_count > " + "9" * 5000, ["the number 99999999999999999999... (5000 digits)"]),
        (
            "paid_amount_cny > 0." + "1" * 5000,
            ["the number 0." + "1" * 18 + "... (5001 digits) has too many"],
        ),
        # The whole rule, and the operands of and/or/not, must be true or false.
        ("paid_order_count", ["must be a condition", "paid_order_count (integer)"]),
        ("coalesce(city, 'x')", ["must be a condition", "(text)"]),
        ("paid_order_count and is_member", ["'and' needs conditions", "(integer)"]),
        ("is_member or city", ["'or' needs conditions", "city (text)"]),
        ("not city", ["'not' needs a condition", "city (text)"]),
    ],
)
def test_rule_errors(tmp_path: Path, rule: str, words: list[str]) -> None:
    expect_error(tmp_path, one_rule(rule), *words)


def test_compile_rule_alone_raises_without_a_location() -> None:
    with pytest.raises(RuleError, match=r"^syntax error at column 21") as caught:
        compile_rule("paid_order_count > 5; drop table x", COLUMNS)
    assert caught.value.rule is None
    assert caught.value.source is None
    with pytest.raises(RuleError, match="the rule is empty"):
        compile_rule("  ", COLUMNS)


def test_syntax_error_in_a_multi_line_rule_gives_line_and_caret() -> None:
    with pytest.raises(RuleError) as caught:
        compile_rule("is_member\n  and city = '上海';", COLUMNS)
    assert str(caught.value) == (
        "syntax error at line 2, column 18: unexpected character ';'; "
        "a rule is a single condition; ';' is not allowed\n"
        "      and city = '上海';\n"
        "    " + " " * 17 + "^"
    )


def test_absurd_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(RuleError, match="nested too deeply"):
        compile_rule("not " * 5000 + "is_member", COLUMNS)


def test_profile_columns_are_checked_as_code() -> None:
    # The types are dbt's var tag_value_types, which macros/tags.sql checks declarations by.
    assert tag_value_types() == {"boolean", "integer", "number", "text", "date"}
    expected = "type 'timestamp'; expected one of boolean, date, integer, number, text"
    with pytest.raises(ValueError, match=expected):
        compile_rule("x is null", {"x": "timestamp"})


@pytest.mark.parametrize(
    ("text", "words", "rule"),
    [
        ("rules: [\n", ["not valid YAML at line 2"], None),
        ("", ["found nothing"], None),
        ("- name: x\n", ["expected a mapping with a 'rules:' list", "found a list"], None),
        ("rule:\n  - name: x\n", ["unknown top-level key 'rule'", "did you mean 'rules'"], None),
        ("{}\n", ["expected a mapping with a 'rules:' list"], None),
        ("rules:\n  name: x\n", ["'rules:' must be a list", "found a mapping"], None),
        ("rules:\n  - high_value\n", ["expected a mapping with the keys", "found text"], "#1"),
        (
            one_rule().replace("  rule: paid_order_count > 5\n", "  rule: a\n  rule: b\n"),
            ["not valid YAML", "'rule' is written twice"],
            None,
        ),
    ],
)
def test_file_structure_errors(
    tmp_path: Path, text: str, words: list[str], rule: str | None
) -> None:
    with pytest.raises(RuleError) as caught:
        load_rules(write_rules(tmp_path, text))
    message = str(caught.value)
    assert message.startswith("tag_rules.yml: ")
    if rule is not None:
        assert f"rule {rule}: " in message
    for word in words:
        assert word in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=r"tag_rules\.yml: the rules file does not exist"):
        load_rules(tmp_path / "tag_rules.yml")


def rule_fields(**changes: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "name": "bad_rule",
        "display_name": "测试标签",
        "category": "lifecycle",
        "description": "A rule under test.",
        "owner": "crm-ops",
        "rule": "paid_order_count > 5",
    }
    fields.update(changes)
    return {key: value for key, value in fields.items() if value is not None}


@pytest.mark.parametrize(
    ("fields", "words", "rule"),
    [
        (rule_fields(owner=None), ["missing key owner"], "'bad_rule'"),
        (
            rule_fields(owner=None, description=None),
            ["missing keys description, owner"],
            "'bad_rule'",
        ),
        (rule_fields(name=None), ["missing key name"], "#1"),
        (
            rule_fields(dispaly_name="x"),
            ["unknown key 'dispaly_name'", "did you mean 'display_name'"],
            "'bad_rule'",
        ),
        (rule_fields(sql="select 1"), ["unknown key 'sql'"], "'bad_rule'"),
        (rule_fields(owner=42), ["'owner' must be non-empty text", "found a number"], "'bad_rule'"),
        (rule_fields(rule="  "), ["'rule' must be non-empty text", "empty text"], "'bad_rule'"),
        (rule_fields(rule=True), ["'rule' must be non-empty text", "a boolean"], "'bad_rule'"),
        (rule_fields(name="High-Value"), ["lower-case identifier"], "'High-Value'"),
        (rule_fields(name="1st_buyer"), ["lower-case identifier"], "'1st_buyer'"),
        # A tag is a bare column name in the profile's and tag_catalog's SQL.
        *(
            (rule_fields(name=word), ["reserved word in SQL"], f"'{word}'")
            for word in ("select", "from", "order", "group", "end")
        ),
        # DuckDB reads a column named true as the literal; Spark reserves user in ANSI mode.
        (rule_fields(name="true"), ["reserved word in SQL"], "'true'"),
        (rule_fields(name="user"), ["reserved word in SQL"], "'user'"),
        (
            rule_fields(category="lifestyle"),
            ["unknown category 'lifestyle'", "did you mean 'lifecycle'", "basic_attributes"],
            "'bad_rule'",
        ),
        (rule_fields(display_name="{{ x }}"), ["'display_name'", "Jinja"], "'bad_rule'"),
        (rule_fields(display_name_en="{{ x }}"), ["'display_name_en'", "Jinja"], "'bad_rule'"),
        (
            rule_fields(display_name_en=""),
            ["'display_name_en' must be non-empty text", "empty text"],
            "'bad_rule'",
        ),
        (rule_fields(description="a {% if %}"), ["'description'", "Jinja"], "'bad_rule'"),
        (rule_fields(description_zh="{# x #}"), ["'description_zh'", "Jinja"], "'bad_rule'"),
    ],
)
def test_rule_entry_errors(
    tmp_path: Path, fields: dict[str, object], words: list[str], rule: str | None
) -> None:
    text = yaml.safe_dump({"rules": [fields]}, allow_unicode=True, sort_keys=False)
    message = expect_error(tmp_path, text, *words, rule=rule or "#1")
    assert "tag_rules.yml" in message


def test_rule_names_must_not_collide(tmp_path: Path) -> None:
    first = rule_fields(name="high_value")
    second = rule_fields(name="high_value", rule="is_member")
    text = yaml.safe_dump({"rules": [first, second]}, allow_unicode=True)
    expect_error(tmp_path, text, "used by another rule", rule="'high_value'")
    for column in ("city", "customer_id"):
        text = yaml.safe_dump({"rules": [rule_fields(name=column)]}, allow_unicode=True)
        expect_error(tmp_path, text, "already a column of the customer profile", rule=f"'{column}'")


# ---------------------------------------------------------------------------------------------
# Loading, rendering and writing the model

RULES_FILE = """\
# Operators' rules.
rules:
  - name: high_value
    display_name: 高价值客户
    display_name_en: High-value customer
    category: lifecycle
    description: Paid more than five orders and more than 5,000 CNY.
    description_zh: 付款订单超过 5 笔且累计实付超过 5000 元。
    owner: crm-ops
    rule: paid_order_count > 5 and paid_amount_cny > 5000
  - name: obrien_fan
    display_name: "O'Brien 的朋友"
    category: social
    description: >
      Nickname O'Brien or 小明.
    owner: crm-ops
    rule: nickname in ('O''Brien', '小明')
"""

EXPECTED_SQL = """\
-- Generated from tag_rules.yml by orchestration/tag_rules.py. Do not edit: change the rules file
-- and regenerate.
-- A rule over a null value is false, never null: every tag is coalesce(rule, false).
-- noqa: disable=layout.long_lines
select
    customer_id,
    coalesce(((paid_order_count > 5) and (paid_amount_cny > 5000)), false) as high_value,
    coalesce((nickname in ('O''Brien', '小明')), false) as obrien_fan
from {{ ref('customer_profile') }}
"""


def test_load_rules(tmp_path: Path) -> None:
    path = write_rules(tmp_path, RULES_FILE)
    assert load_rules(path) == [
        RuleDefinition(
            name="high_value",
            display_name="高价值客户",
            category="lifecycle",
            description="Paid more than five orders and more than 5,000 CNY.",
            owner="crm-ops",
            rule="paid_order_count > 5 and paid_amount_cny > 5000",
            source=path,
            display_name_en="High-value customer",
            description_zh="付款订单超过 5 笔且累计实付超过 5000 元。",
        ),
        RuleDefinition(
            name="obrien_fan",
            display_name="O'Brien 的朋友",
            category="social",
            description="Nickname O'Brien or 小明.",
            owner="crm-ops",
            rule="nickname in ('O''Brien', '小明')",
            source=path,
        ),
    ]
    assert load_rules(write_rules(tmp_path, "rules:\n")) == []


def test_categories_are_the_dbt_var_tag_categories(tmp_path: Path) -> None:
    # The project's list, in display order, as macros/tags.sql tag_categories() returns it.
    assert tag_categories() == (
        "basic_attributes",
        "lifecycle",
        "consumption",
        "preference",
        "social",
    )
    # Another project's var is the whole list: a rule's category is checked against it.
    project = tmp_path / "project"
    project.mkdir()
    (project / "dbt_project.yml").write_text("vars:\n  tag_categories: [vip, social]\n")
    assert tag_categories(project) == ("vip", "social")
    path = write_rules(tmp_path, one_rule(category="vip"))
    assert [rule.category for rule in load_rules(path, tag_categories(project))] == ["vip"]
    with pytest.raises(RuleError, match=r"unknown category 'vip'.*expected one of basic_attr"):
        load_rules(path)


def test_render_rule_model(tmp_path: Path, profile: duckdb.DuckDBPyConnection) -> None:
    compiled = compile_rules(write_rules(tmp_path, RULES_FILE), COLUMNS)
    assert all(isinstance(rule, CompiledRule) for rule in compiled)
    sql, properties = render_rule_model(compiled, "customer_profile")
    assert sql == EXPECTED_SQL
    rows = profile.execute(
        sql.replace("{{ ref('customer_profile') }}", "profile") + "order by customer_id"
    ).fetchall()
    assert rows == [
        (1, True, True),
        (2, False, True),
        (3, False, False),
        (4, False, False),
        (5, False, False),
    ]

    assert properties.startswith("# Generated from tag_rules.yml")
    document = yaml.safe_load(properties)
    assert document["version"] == 2
    (model,) = document["models"]
    assert model["name"] == "tag_rules"
    assert "customer_profile" in model["description"]
    key, high_value, obrien_fan = model["columns"]
    assert key == {
        "name": "customer_id",
        "description": "The customer, one row per customer of customer_profile.",
        "data_tests": ["unique", "not_null"],
    }
    assert high_value == {
        "name": "high_value",
        "description": "Paid more than five orders and more than 5,000 CNY.",
        "data_type": "boolean",
        "config": {
            "meta": {
                "tag": {
                    "category": "lifecycle",
                    "display_name": "高价值客户",
                    "display_name_en": "High-value customer",
                    "description_zh": "付款订单超过 5 笔且累计实付超过 5000 元。",
                    "value_type": "boolean",
                    "owner": "crm-ops",
                    "allowed_values": [True, False],
                    "rule": "paid_order_count > 5 and paid_amount_cny > 5000",
                }
            }
        },
        "data_tests": ["not_null"],
    }
    assert obrien_fan["config"]["meta"]["tag"]["display_name"] == "O'Brien 的朋友"
    # display_name_en and description_zh may be left out: the report then shows the code name
    # in English, the English description in Chinese.
    assert "display_name_en" not in obrien_fan["config"]["meta"]["tag"]
    assert "description_zh" not in obrien_fan["config"]["meta"]["tag"]
    assert obrien_fan["config"]["meta"]["tag"]["rule"] == "nickname in ('O''Brien', '小明')"
    assert "data_tests: [not_null]" in properties
    assert "高价值客户" in properties  # written as text, not escaped


def test_render_without_rules() -> None:
    sql, properties = render_rule_model([], "customer_profile")
    assert sql.endswith("select\n    customer_id\nfrom {{ ref('customer_profile') }}\n")
    (model,) = yaml.safe_load(properties)["models"]
    assert [column["name"] for column in model["columns"]] == ["customer_id"]


def test_render_refuses_an_odd_source_model() -> None:
    with pytest.raises(ValueError, match="source model"):
        render_rule_model([], "x') }}{{ run_query('drop table y")


def test_write_rule_model_rewrites_only_changed_files(tmp_path: Path) -> None:
    rules_path = write_rules(tmp_path, RULES_FILE)
    out_dir = tmp_path / "models" / "tags"
    sql_path, yml_path = out_dir / "tag_rules.sql", out_dir / "_tag_rules.yml"

    assert write_rule_model(rules_path, COLUMNS, out_dir, "customer_profile") == [
        sql_path,
        yml_path,
    ]
    expected_sql, expected_yml = render_rule_model(
        compile_rules(rules_path, COLUMNS), "customer_profile"
    )
    assert sql_path.read_text(encoding="utf-8") == expected_sql
    assert yml_path.read_text(encoding="utf-8") == expected_yml
    assert sorted(path.name for path in out_dir.iterdir()) == ["_tag_rules.yml", "tag_rules.sql"]

    # Back-date both files so that any rewrite would show in the mtime.
    old = 1_700_000_000_000_000_000
    for path in (sql_path, yml_path):
        os.utime(path, ns=(old, old))
    assert write_rule_model(rules_path, COLUMNS, out_dir, "customer_profile") == []
    assert sql_path.stat().st_mtime_ns == old
    assert yml_path.stat().st_mtime_ns == old

    # A new description changes only the properties file.
    write_rules(tmp_path, RULES_FILE.replace("Nickname O'Brien", "Called O'Brien"))
    assert write_rule_model(rules_path, COLUMNS, out_dir, "customer_profile") == [yml_path]
    assert sql_path.stat().st_mtime_ns == old
    assert "Called O'Brien" in yml_path.read_text(encoding="utf-8")


def test_write_rule_model_writes_nothing_on_error(tmp_path: Path) -> None:
    rules_path = write_rules(tmp_path, one_rule("paid_order_count > 5; drop table x"))
    out_dir = tmp_path / "out"
    with pytest.raises(RuleError, match="syntax error"):
        write_rule_model(rules_path, COLUMNS, out_dir, "customer_profile")
    assert not out_dir.exists()


def test_sql_tag_columns_must_not_be_reserved_words() -> None:
    """A tag model's column is a tag too: the profile selects it bare, like a rule's."""
    from orchestration.tag_registry import PrepareError, profile_columns

    models = {"tag_orders": {"order_count": "integer", "order": "text"}}
    with pytest.raises(PrepareError) as caught:
        profile_columns(models)
    assert str(caught.value) == (
        "tag column 'order' of tag_orders is a reserved word in SQL (DuckDB or Spark) and "
        "would break the SQL that selects the tag; rename the column"
    )
    assert profile_columns({"tag_orders": {"order_count": "integer"}}) == {"order_count": "integer"}
