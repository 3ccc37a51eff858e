"""Rule tags: operator-written threshold rules, compiled into safe, portable SQL.

Operators define boolean customer tags in a YAML file without writing SQL:

    rules:
      - name: high_value
        display_name: 高价值客户
        category: lifecycle
        description: Paid more than five orders and more than 5,000 CNY.
        owner: crm-ops
        rule: paid_order_count > 5 and paid_amount_cny > 5000

A rule is a small boolean language over the columns of the customer profile: comparisons,
`in`, `between`, `is [not] null`, `and`/`or`/`not` and a few whitelisted functions. It is
parsed with a fixed grammar, type-checked against the profile's columns and rendered back to
SQL from the parse tree, so nothing the operator writes is ever pasted into the warehouse's SQL.
The rendered forms are chosen to mean the same in DuckDB and in Spark SQL.

The compiled rules become one generated dbt model (`tag_rules.sql` plus its properties file),
one boolean column per rule.
"""

from __future__ import annotations

import difflib
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from orchestration import duckdb_settings
from orchestration.project import DBT_PROJECT_DIR, project_vars

RULE_KEYS = ("name", "display_name", "category", "description", "owner", "rule")
# The tag's name in English (SCRM_LANG=en), where the report would otherwise show its code name;
# its description in Chinese (the default language), where it would otherwise show the English.
OPTIONAL_RULE_KEYS = ("display_name_en", "description_zh")
ALLOWED_FUNCTIONS = (
    "abs",
    "coalesce",
    "greatest",
    "least",
    "length",
    "lower",
    "upper",
    "has_tag",
)
# has_tag(list, 'name'): a list tag holds the name as one of its items. List tags (the staff
# tags' groups, docs/staff-tags.md) join their items by this separator, as the WeCom sync files.
LIST_SEPARATOR = "|"
MODEL_NAME = "tag_rules"
KEY_COLUMN = "customer_id"

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_MODEL_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# dbt renders model SQL, and most of a properties file, through Jinja: operator text must not
# be able to open a Jinja block there.
_JINJA_OPENERS = ("{{", "{%", "{#")
_NUMERIC = frozenset({"integer", "number"})
_BIGINT_MAX = 2**63 - 1
_MAX_DECIMAL_DIGITS = 38  # the widest decimal both DuckDB and Spark accept

# SQL words an operator might try; none has a meaning in a rule, so name them in the error
# instead of reporting a confusing "unexpected token" further on.
_SQL_WORDS_TEXT = """
    all alter any as attach call case cast copy create delete drop else end except exec execute
    exists from grant group having ilike insert intersect interval into join like limit load merge
    offset order over pragma regexp rlike select set similar some table then truncate union update
    using values when where window with
"""
_SQL_WORDS = frozenset(_SQL_WORDS_TEXT.split())

# A tag name is written bare as a column in the profile's SQL and in tag_catalog's, on DuckDB
# and on Spark, so it must not be a word either engine reserves. Spark's are the keywords it
# reserves in ANSI mode (docs/sql-ref-ansi-compliance.md, column "Spark SQL ANSI Mode"); the
# whole SQL:2016 list is not used, as it also reserves ordinary names (value, position,
# member) that neither engine refuses.
_SPARK_ANSI_RESERVED_TEXT = """
    all and any as authorization both case cast check collate column constraint create cross
    current_date current_time current_timestamp current_user distinct else end escape except
    false fetch filter for foreign from full grant group having in inner intersect into is join
    lateral leading left natural not null on only or order outer overlaps primary references
    right select session_user some table then time to trailing union unique unknown user using
    when where with
"""


def tag_categories(project_dir: Path = DBT_PROJECT_DIR) -> tuple[str, ...]:
    """The tag categories in display order, as dbt reads them: var tag_categories."""
    return tuple(project_vars(project_dir)["tag_categories"])


def tag_value_types(project_dir: Path = DBT_PROJECT_DIR) -> frozenset[str]:
    """The value types a tag may declare, as dbt reads them: var tag_value_types."""
    return frozenset(project_vars(project_dir)["tag_value_types"])


@cache
def reserved_sql_words() -> frozenset[str]:
    """Words a tag may not be named: DuckDB's own list, from the engine we run, and Spark's.

    DuckDB refuses its `reserved` and `type_function` keywords as a bare column name (and
    reads true, false and null as literals); `unreserved` and `column_name` ones work.
    """
    with duckdb_settings.connect() as connection:
        rows = connection.execute(
            "select keyword_name from duckdb_keywords() "
            "where keyword_category in ('reserved', 'type_function')"
        ).fetchall()
    return frozenset(word for (word,) in rows) | frozenset(_SPARK_ANSI_RESERVED_TEXT.split())


# LALR(1), so every rule has exactly one parse and the parser runs in linear time. Keywords are
# case-insensitive; lark types a NAME as a keyword when its whole text is one. There is no
# arithmetic (division by zero differs between DuckDB and Spark). `;`, `*`, comment markers
# and quoted identifiers cannot even be tokenised; `select` and friends are rejected by name.
GRAMMAR = r"""
?start: or_expr

?or_expr: and_expr
        | or_expr _OR and_expr                                -> or_op
?and_expr: not_expr
         | and_expr _AND not_expr                             -> and_op
?not_expr: predicate
         | _NOT not_expr                                      -> not_op
?predicate: operand
          | operand COMPARATOR operand                        -> comparison
          | operand _IN "(" literal ("," literal)* ")"        -> in_list
          | operand _NOT _IN "(" literal ("," literal)* ")"   -> not_in_list
          | operand _BETWEEN operand _AND operand             -> between
          | operand _NOT _BETWEEN operand _AND operand        -> not_between
          | operand _IS _NULL                                 -> is_null
          | operand _IS _NOT _NULL                            -> is_not_null
?operand: NAME                                                -> column
        | NAME "(" [operand ("," operand)*] ")"               -> call
        | literal
        | "(" or_expr ")"
?literal: NUMBER                                              -> number
        | STRING                                              -> string
        | TRUE                                                -> boolean
        | FALSE                                               -> boolean
        | DATE STRING                                         -> date

_OR: "or"i
_AND: "and"i
_NOT: "not"i
_IN: "in"i
_BETWEEN: "between"i
_IS: "is"i
_NULL: "null"i
TRUE: "true"i
FALSE: "false"i
DATE: "date"i
COMPARATOR: "<>" | "<=" | ">=" | "!=" | "=" | "<" | ">"
NAME: /[a-z_][a-z0-9_]*/i
NUMBER: /-?[0-9]+(\.[0-9]+)?/
STRING: /'(?:[^']|'')*'/
%ignore /\s+/
"""

_TERMINAL_NAMES = {
    "$END": "end of rule",
    "NAME": "a column or function",
    "NUMBER": "a number",
    "STRING": "a string",
    "TRUE": "'true'",
    "FALSE": "'false'",
    "DATE": "a date",
    "COMPARATOR": "a comparison",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "_OR": "'or'",
    "_AND": "'and'",
    "_NOT": "'not'",
    "_IN": "'in'",
    "_BETWEEN": "'between'",
    "_IS": "'is'",
    "_NULL": "'null'",
}


class RuleError(Exception):
    """A rules file or rule is wrong; the message names the file and the rule for the operator."""

    def __init__(
        self,
        problem: str,
        *,
        rule: str | None = None,
        source: str | None = None,
        number: int | None = None,
    ):
        self.problem = problem
        self.rule = rule
        self.source = source
        self.number = number
        prefix = f"{source}: " if source else ""
        if rule is not None:
            prefix += f"rule {rule!r}: "
        elif number is not None:
            prefix += f"rule #{number}: "
        super().__init__(prefix + problem)

    def within(self, *, rule: str, source: str) -> RuleError:
        """The same problem, located in a rule and file (compile_rule knows neither)."""
        return RuleError(self.problem, rule=rule, source=source)


@dataclass(frozen=True)
class RuleDefinition:
    """One rule as the operator wrote it; `source` is the rules file it came from."""

    name: str
    display_name: str
    category: str
    description: str
    owner: str
    rule: str
    source: Path
    display_name_en: str | None = field(default=None, kw_only=True)
    description_zh: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class CompiledRule(RuleDefinition):
    """A rule with its SQL: a boolean expression that is never null."""

    sql: str


# ---------------------------------------------------------------------------------------------
# Compiling one expression


@dataclass(frozen=True)
class _Expr:
    """A checked sub-expression: its SQL, value type, and the operator's text for messages."""

    sql: str
    type: str
    text: str
    atomic: bool = False  # a column, literal or call: needs no parentheses around it

    def embedded(self) -> str:
        return self.sql if self.atomic else f"({self.sql})"

    def described(self) -> str:
        return f"{self.text} ({self.type})"


@cache
def _parser() -> Lark:
    return Lark(
        GRAMMAR,
        parser="lalr",
        lexer="basic",
        propagate_positions=True,
        maybe_placeholders=False,
    )


def compile_rule(expression_text: str, columns: Mapping[str, str]) -> str:
    """Compile one rule to a SQL boolean expression over the given profile columns.

    `columns` maps each profile column to its value type (one of tag_value_types()). The result is
    rendered from the parse tree: identifiers double-quoted, literals re-quoted, every
    sub-expression parenthesised. SQL's three-valued logic makes a comparison with a null
    column null, so the result is wrapped as `coalesce((<expr>), false)`: a tag is always true
    or false, and a customer whose value is unknown does not get it.

    Raises RuleError (without a rule or file name; compile_rules adds them).
    """
    _check_columns(columns)
    if not expression_text.strip():
        raise RuleError("the rule is empty")
    parser = _parser()
    try:
        tokens = list(parser.lex(expression_text))
    except UnexpectedCharacters as error:
        raise RuleError(_character_error(expression_text, error)) from None
    for token in tokens:
        if token.type == "NAME" and token.lower() in _SQL_WORDS and token not in columns:
            raise RuleError(
                f"{str(token)!r} is not allowed in a rule (column {token.column}): a rule is one "
                "condition built from columns, literals, comparisons, in, between, is null, "
                f"and/or/not and the functions {', '.join(ALLOWED_FUNCTIONS)}"
            )
    try:
        tree = parser.parse(expression_text)
    except UnexpectedInput as error:
        raise RuleError(_token_error(expression_text, error)) from None
    try:
        expression = _Checker(expression_text, columns).visit(tree)
    except RecursionError:
        raise RuleError("the rule is nested too deeply") from None
    if expression.type != "boolean":
        raise RuleError(
            f"a rule must be a condition (true or false), but {expression.described()} is not "
            "boolean; compare it with something"
        )
    return f"coalesce(({expression.sql}), false)"


def _check_columns(columns: Mapping[str, str]) -> None:
    """The profile's column list is code, not operator input: a bad one is a programming error."""
    value_types = tag_value_types()
    for name, value_type in columns.items():
        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"profile column {name!r} is not a lower-case identifier")
        if value_type not in value_types:
            raise ValueError(
                f"profile column {name!r} has type {value_type!r}; "
                f"expected one of {', '.join(sorted(value_types))}"
            )


def _position(text: str, line: int, column: int) -> tuple[str, str]:
    """Where a syntax error is ("column 7", or with the line in a multi-line rule), and the
    offending line with a caret under the spot, for the message."""
    lines = text.splitlines() or [""]
    where = f"column {column}" if len(lines) == 1 else f"line {line}, column {column}"
    return where, f"    {lines[line - 1]}\n    {' ' * (column - 1)}^"


def _character_error(text: str, error: UnexpectedCharacters) -> str:
    position = error.pos_in_stream
    assert position is not None  # lark sets it on every UnexpectedCharacters
    char = text[position]
    following = text[position : position + 2]
    hints = {
        ";": "a rule is a single condition; ';' is not allowed",
        '"': "quoted identifiers are not allowed; write column names bare, in lower case",
        "`": "quoted identifiers are not allowed; write column names bare, in lower case",
        "'": "unterminated string (write '' for a quote inside a string)",
        "*": "'*' is not allowed (there is no arithmetic and no select)",
    }
    if following in ("--", "/*"):
        hint = "comments are not allowed"
    elif char in hints:
        hint = hints[char]
    elif char in "+-/%|":
        hint = "arithmetic and other operators are not supported"
    elif char == ".":
        hint = "qualified names are not allowed, and decimals need digits after '.'"
    else:
        hint = ""
    where, context = _position(text, error.line, error.column)
    return (
        f"syntax error at {where}: unexpected character {char!r}"
        + (f"; {hint}" if hint else "")
        + f"\n{context}"
    )


def _token_error(text: str, error: UnexpectedInput) -> str:
    if isinstance(error, UnexpectedToken):
        token: Token = error.token
        expected = sorted(_TERMINAL_NAMES.get(name, name) for name in error.expected)
    elif isinstance(error, UnexpectedEOF):
        token = Token("$END", "")
        expected = sorted(_TERMINAL_NAMES.get(name, name) for name in error.expected)
    else:  # pragma: no cover - lark's LALR parser raises only the two above
        raise error
    if token.type == "$END":
        lines = text.rstrip().splitlines()
        line, column = len(lines), len(lines[-1]) + 1
        unexpected = "end of rule"
    else:
        line, column = token.line or 1, token.column or 1
        unexpected = repr(str(token))
    hint = ""
    if token.type == "_NULL":
        hint = "; null may only appear in 'is null' or 'is not null'"
    elif 0 < len(expected) <= 3:
        hint = f"; expected {' or '.join(expected)}"
    where, context = _position(text, line, column)
    return f"syntax error at {where}: unexpected {unexpected}{hint}\n{context}"


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _common_type(left: str, right: str) -> str | None:
    """integer and number mix (to number); any other pair must match exactly."""
    if left == right:
        return left
    if left in _NUMERIC and right in _NUMERIC:
        return "number"
    return None


class _Checker:
    """Walks the parse tree bottom-up, checking types and rendering SQL from the tree alone."""

    def __init__(self, text: str, columns: Mapping[str, str]):
        self.text = text
        self.columns = columns
        self.handlers: dict[str, Callable[[Tree], _Expr]] = {
            "or_op": self._or_op,
            "and_op": self._and_op,
            "not_op": self._not_op,
            "comparison": self._comparison,
            "in_list": self._in_list,
            "not_in_list": self._in_list,
            "between": self._between,
            "not_between": self._between,
            "is_null": self._is_null,
            "is_not_null": self._is_null,
            "column": self._column,
            "call": self._call,
            "number": self._number,
            "string": self._string,
            "boolean": self._boolean,
            "date": self._date,
        }

    def visit(self, node: Tree) -> _Expr:
        return self.handlers[str(node.data)](node)

    @staticmethod
    def _only_token(node: Tree) -> Token:
        """The one token an operand's node holds (a column, a number, a string, a boolean)."""
        (token,) = node.children
        if not isinstance(token, Token):
            raise TypeError(f"{node.data} holds a tree where a token was expected")
        return token

    def _text(self, node: Tree | Token) -> str:
        if isinstance(node, Token):
            start, end = node.start_pos, node.end_pos
        else:
            start, end = node.meta.start_pos, node.meta.end_pos
        fragment = " ".join(self.text[start:end].split())
        return fragment if len(fragment) <= 60 else fragment[:57] + "..."

    # boolean connectives

    def _boolean_operand(self, operator: str, node: Tree) -> _Expr:
        operand = self.visit(node)
        if operand.type != "boolean":
            needs = "a condition" if operator == "not" else "conditions on both sides"
            raise RuleError(
                f"'{operator}' needs {needs} (true or false), "
                f"but {operand.described()} is not boolean"
            )
        return operand

    def _or_op(self, node: Tree) -> _Expr:
        left, right = (self._boolean_operand("or", child) for child in node.children)
        return _Expr(f"{left.embedded()} or {right.embedded()}", "boolean", self._text(node))

    def _and_op(self, node: Tree) -> _Expr:
        left, right = (self._boolean_operand("and", child) for child in node.children)
        return _Expr(f"{left.embedded()} and {right.embedded()}", "boolean", self._text(node))

    def _not_op(self, node: Tree) -> _Expr:
        (operand,) = (self._boolean_operand("not", child) for child in node.children)
        return _Expr(f"not {operand.embedded()}", "boolean", self._text(node))

    # predicates

    def _comparison(self, node: Tree) -> _Expr:
        left_node, operator_token, right_node = node.children
        left, right = self.visit(left_node), self.visit(right_node)
        operator = "<>" if operator_token in ("!=", "<>") else str(operator_token)
        if _common_type(left.type, right.type) is None:
            raise RuleError(f"cannot compare {left.described()} with {right.described()}")
        if left.type == "boolean" and operator not in ("=", "<>"):
            raise RuleError(
                f"booleans can only be compared with = or <>, not {str(operator_token)!r}: "
                f"{self._text(node)}"
            )
        sql = f"{left.embedded()} {operator} {right.embedded()}"
        return _Expr(sql, "boolean", self._text(node))

    def _in_list(self, node: Tree) -> _Expr:
        subject_node, *item_nodes = node.children
        subject = self.visit(subject_node)
        items = [self.visit(item) for item in item_nodes]
        for item in items:
            if _common_type(subject.type, item.type) is None:
                raise RuleError(
                    f"the list value {item.described()} does not match {subject.described()}"
                )
        keyword = "not in" if node.data == "not_in_list" else "in"
        listed = ", ".join(item.sql for item in items)
        return _Expr(f"{subject.embedded()} {keyword} ({listed})", "boolean", self._text(node))

    def _between(self, node: Tree) -> _Expr:
        subject, low, high = (self.visit(child) for child in node.children)
        for bound in (low, high):
            if _common_type(subject.type, bound.type) is None:
                raise RuleError(
                    f"the bound {bound.described()} does not match {subject.described()}"
                )
        if subject.type == "boolean":
            raise RuleError(f"'between' needs ordered values, not {subject.described()}")
        keyword = "not between" if node.data == "not_between" else "between"
        sql = f"{subject.embedded()} {keyword} {low.embedded()} and {high.embedded()}"
        return _Expr(sql, "boolean", self._text(node))

    def _is_null(self, node: Tree) -> _Expr:
        (subject,) = (self.visit(child) for child in node.children)
        keyword = "is not null" if node.data == "is_not_null" else "is null"
        return _Expr(f"{subject.embedded()} {keyword}", "boolean", self._text(node))

    # operands

    def _column(self, node: Tree) -> _Expr:
        token = self._only_token(node)
        name = str(token)
        if name not in self.columns:
            if name.lower() in self.columns:
                raise RuleError(f"column names are lower case: write {name.lower()!r}")
            raise RuleError(f"unknown column {name!r}" + _did_you_mean(name, self.columns))
        return _Expr(_quote_identifier(name), self.columns[name], name, atomic=True)

    def _call(self, node: Tree) -> _Expr:
        name_token, *argument_nodes = node.children
        name = str(name_token).lower()
        if name not in ALLOWED_FUNCTIONS:
            raise RuleError(
                f"function {str(name_token)!r} is not allowed "
                f"(allowed: {', '.join(ALLOWED_FUNCTIONS)})"
            )
        arguments = [self.visit(child) for child in argument_nodes]
        call_text = self._text(node)
        if name == "has_tag":
            return self._has_tag(arguments, call_text)
        variadic = name in ("coalesce", "least", "greatest")
        if variadic and len(arguments) < 2:
            raise RuleError(f"{name} needs at least two arguments: {call_text}")
        if not variadic and len(arguments) != 1:
            raise RuleError(f"{name} takes exactly one argument: {call_text}")
        if variadic:
            result_type = arguments[0].type
            for argument in arguments[1:]:
                common = _common_type(result_type, argument.type)
                if common is None:
                    raise RuleError(
                        f"the arguments of {name} must have one type, but "
                        f"{arguments[0].described()} and {argument.described()} differ"
                    )
                result_type = common
            if name != "coalesce" and result_type == "boolean":
                raise RuleError(f"{name} needs ordered values, not booleans: {call_text}")
        else:
            (argument,) = arguments
            wanted = _NUMERIC if name == "abs" else {"text"}
            if argument.type not in wanted:
                kind = "a number" if name == "abs" else "text"
                raise RuleError(f"{name} needs {kind}, but {argument.described()} is not")
            result_type = {"abs": argument.type, "length": "integer"}.get(name, "text")
        sql = f"{name}({', '.join(argument.sql for argument in arguments)})"
        return _Expr(sql, result_type, call_text, atomic=True)

    def _has_tag(self, arguments: list[_Expr], call_text: str) -> _Expr:
        """An item of a '|'-joined list equals the text: the list and the text are both
        wrapped in separators, so 宝妈 is not found in 新手宝妈. instr and || mean the same in
        DuckDB and Spark; a null list gives null, which the rule's coalesce makes false."""
        if len(arguments) != 2:
            raise RuleError(f"has_tag takes a list tag and a tag name: {call_text}")
        for argument in arguments:
            if argument.type != "text":
                raise RuleError(f"has_tag needs text, but {argument.described()} is not")
        if arguments[1].text.startswith("'") and LIST_SEPARATOR in arguments[1].text:
            raise RuleError(
                f"has_tag looks for one tag, and {LIST_SEPARATOR!r} separates tags: {call_text}"
            )
        items, item = (argument.embedded() for argument in arguments)
        separator = f"'{LIST_SEPARATOR}'"
        sql = (
            f"(instr({separator} || {items} || {separator}, "
            f"{separator} || {item} || {separator}) > 0)"
        )
        return _Expr(sql, "boolean", call_text, atomic=True)

    def _number(self, node: Tree) -> _Expr:
        token = self._only_token(node)
        text = str(token)
        negative = text.startswith("-")
        whole, _, fraction = text.lstrip("-").partition(".")
        whole = whole.lstrip("0") or "0"
        if "." not in text:
            # Compared as digits first: Python will not convert a text of over 4,300 digits.
            if len(whole) > len(str(_BIGINT_MAX)) or int(text) > _BIGINT_MAX:
                raise RuleError(f"the number {_abridged(text)} is too large")
            return _Expr(str(int(text)), "integer", text, atomic=True)
        fraction = fraction.rstrip("0") or "0"
        if len(whole.lstrip("0")) + len(fraction) > _MAX_DECIMAL_DIGITS:
            raise RuleError(f"the number {_abridged(text)} has too many digits")
        sign = "-" if negative and (whole, fraction) != ("0", "0") else ""
        return _Expr(f"{sign}{whole}.{fraction}", "number", text, atomic=True)

    def _string(self, node: Tree) -> _Expr:
        token = self._only_token(node)
        return _Expr(self._string_sql(token), "text", self._text(token), atomic=True)

    def _string_sql(self, token: Token) -> str:
        value = str(token)[1:-1].replace("''", "'")
        for opener in _JINJA_OPENERS:
            if opener in value:
                raise RuleError(
                    f"{opener!r} is not allowed in a string: dbt would read it as Jinja "
                    f"({self._text(token)})"
                )
        if "\\" in value:
            raise RuleError(
                "backslashes are not allowed in strings: Spark reads them as escapes and "
                f"DuckDB does not ({self._text(token)})"
            )
        return "'" + value.replace("'", "''") + "'"

    def _boolean(self, node: Tree) -> _Expr:
        token = self._only_token(node)
        value = "true" if token.type == "TRUE" else "false"
        return _Expr(value, "boolean", str(token), atomic=True)

    def _date(self, node: Tree) -> _Expr:
        _, token = node.children
        value = str(token)[1:-1]
        try:
            if not _ISO_DATE.fullmatch(value):
                raise ValueError
            date.fromisoformat(value)
        except ValueError:
            raise RuleError(
                f"invalid date {value!r}: write date 'YYYY-MM-DD', a day that exists"
            ) from None
        return _Expr(f"cast('{value}' as date)", "date", self._text(node), atomic=True)


def _abridged(number_text: str, shown: int = 20) -> str:
    """A long number as its first digits and its length, for a message a person can read."""
    if len(number_text) <= shown:
        return number_text
    digits = sum(character.isdigit() for character in number_text)
    return f"{number_text[:shown]}... ({digits} digits)"


def _quote_identifier(name: str) -> str:
    """Bare: names are known profile columns or rule names matching [a-z_][a-z0-9_]*, and
    double quotes would be string literals on Spark by default."""
    return name


# ---------------------------------------------------------------------------------------------
# The rules file


class _StrictLoader(yaml.SafeLoader):
    """safe_load, except that a key written twice is an error instead of silently the last."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key; the base constructor reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is written twice", key_node.start_mark
            )
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _kind(value: object) -> str:
    kinds = {dict: "a mapping", list: "a list", str: "text", type(None): "nothing"}
    kinds |= {bool: "a boolean", int: "a number", float: "a number"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def load_rules(path: Path, categories: Sequence[str] | None = None) -> list[RuleDefinition]:
    """Read and validate the rules file's structure (rule expressions are checked by compile).

    The file is a mapping with one key, `rules:`, holding a list (empty or absent is no rules).
    Each rule has exactly the keys in RULE_KEYS, and may have those in OPTIONAL_RULE_KEYS, all
    non-empty text; the name is a lower-case identifier, unique in the file; the category is
    one of `categories` (by default the project's, tag_categories()).
    """
    categories = tuple(categories or tag_categories())
    source = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuleError("the rules file does not exist", source=str(path)) from None
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RuleError(f"not valid YAML{where}: {problem}", source=source) from None

    if not isinstance(document, dict):
        raise RuleError(
            f"expected a mapping with a 'rules:' list at the top, found {_kind(document)}",
            source=source,
        )
    for key in document:
        if key != "rules":
            raise RuleError(
                f"unknown top-level key {key!r}" + _did_you_mean(str(key), ["rules"]),
                source=source,
            )
    if "rules" not in document:
        raise RuleError("expected a mapping with a 'rules:' list at the top", source=source)
    entries = [] if document["rules"] is None else document["rules"]
    if not isinstance(entries, list):
        raise RuleError(
            f"'rules:' must be a list of rules (each starting with '- name:'), "
            f"found {_kind(entries)}",
            source=source,
        )

    rules: list[RuleDefinition] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        rule = _load_rule(entry, number, path, categories)
        if rule.name in seen:
            raise RuleError("the name is used by another rule", rule=rule.name, source=source)
        seen.add(rule.name)
        rules.append(rule)
    return rules


def _load_rule(entry: object, number: int, path: Path, categories: Sequence[str]) -> RuleDefinition:
    source = path.name
    name = entry.get("name") if isinstance(entry, dict) else None
    label = name if isinstance(name, str) and name.strip() else None

    def fail(problem: str) -> RuleError:
        return RuleError(problem, rule=label, source=source, number=number)

    if not isinstance(entry, dict):
        raise fail(f"expected a mapping with the keys {', '.join(RULE_KEYS)}, found {_kind(entry)}")
    for key in entry:
        if key not in RULE_KEYS + OPTIONAL_RULE_KEYS:
            known = RULE_KEYS + OPTIONAL_RULE_KEYS
            raise fail(f"unknown key {key!r}" + _did_you_mean(str(key), known))
    missing = [key for key in RULE_KEYS if key not in entry]
    if missing:
        raise fail(f"missing key{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    values: dict[str, str] = {}
    for key in RULE_KEYS + tuple(key for key in OPTIONAL_RULE_KEYS if key in entry):
        value = entry[key]
        if not isinstance(value, str) or not value.strip():
            found = "empty text" if isinstance(value, str) else _kind(value)
            raise fail(f"{key!r} must be non-empty text (quote it if needed), found {found}")
        values[key] = value.strip()
    if not _IDENTIFIER.fullmatch(values["name"]):
        raise fail(
            "the name must be a lower-case identifier (letters a-z, digits and '_', "
            "not starting with a digit)"
        )
    if values["name"] in reserved_sql_words():
        raise fail(
            "the name is a reserved word in SQL (DuckDB or Spark) and would break the SQL "
            f"that selects the tag; choose another, e.g. {values['name'] + '_tag'!r}"
        )
    if values["category"] not in categories:
        raise fail(
            f"unknown category {values['category']!r}"
            + _did_you_mean(values["category"], categories)
            + f"; expected one of {', '.join(categories)}"
        )
    for key in ("display_name", "display_name_en", "description", "description_zh", "owner"):
        for opener in _JINJA_OPENERS:
            if opener in values.get(key, ""):
                raise fail(f"{key!r} must not contain {opener!r}: dbt would read it as Jinja")
    return RuleDefinition(
        name=values["name"],
        display_name=values["display_name"],
        category=values["category"],
        description=values["description"],
        owner=values["owner"],
        rule=values["rule"],
        source=path,
        display_name_en=values.get("display_name_en"),
        description_zh=values.get("description_zh"),
    )


def compile_rules(
    path: Path, columns: Mapping[str, str], categories: Sequence[str] | None = None
) -> list[CompiledRule]:
    """Load, check and compile every rule of the file; the first problem raises RuleError."""
    compiled: list[CompiledRule] = []
    for rule in load_rules(path, categories):
        if rule.name in columns or rule.name == KEY_COLUMN:
            raise RuleError(
                "the name is already a column of the customer profile; choose another",
                rule=rule.name,
                source=path.name,
            )
        try:
            sql = compile_rule(rule.rule, columns)
        except RuleError as error:
            raise error.within(rule=rule.name, source=path.name) from None
        compiled.append(
            CompiledRule(
                name=rule.name,
                display_name=rule.display_name,
                category=rule.category,
                description=rule.description,
                owner=rule.owner,
                rule=rule.rule,
                source=rule.source,
                sql=sql,
                display_name_en=rule.display_name_en,
                description_zh=rule.description_zh,
            )
        )
    return compiled


# ---------------------------------------------------------------------------------------------
# The generated dbt model


class _IndentedDumper(yaml.SafeDumper):
    """Indents lists under their key, as the project's hand-written YAML does."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


class _Inline(list[Any]):
    """A short list written inline, `[unique, not_null]`, like the project's YAML."""


_IndentedDumper.add_representer(
    _Inline,
    lambda dumper, data: dumper.represent_sequence(
        "tag:yaml.org,2002:seq", list(data), flow_style=True
    ),
)


def render_rule_model(compiled: list[CompiledRule], source_model: str) -> tuple[str, str]:
    """The text of the generated model `tag_rules.sql` and of its properties file.

    One row per customer of `source_model`, one never-null boolean column per rule.
    Column-level `meta` lives under `config:` (its dbt 1.11 place; the top-level form is
    deprecated there) and carries the tag's catalogue entry for downstream tools.
    """
    if not _MODEL_IDENTIFIER.fullmatch(source_model):
        raise ValueError(f"source model {source_model!r} is not a plain dbt model name")
    names = [rule.name for rule in compiled]
    if len(set(names)) != len(names):
        raise ValueError("rule names must be unique")
    sources = sorted({rule.source.name for rule in compiled})
    origin = ", ".join(sources) if sources else "the tag rules file"
    header = (
        f"Generated from {origin} by orchestration/tag_rules.py. Do not edit: change the "
        "rules file and regenerate."
    )
    selected = [KEY_COLUMN] + [f"{rule.sql} as {_quote_identifier(rule.name)}" for rule in compiled]
    sql = "\n".join(
        [
            *(f"-- {line}" for line in textwrap.wrap(header, 96)),
            "-- A rule over a null value is false, never null: every tag is coalesce(rule, false).",
            # Generated SQL quotes every identifier and keeps a rule on one line, on purpose.
            "-- noqa: disable=layout.long_lines",
            "select",
            ",\n".join(f"    {column}" for column in selected),
            f"from {{{{ ref('{source_model}') }}}}",
            "",
        ]
    )

    columns: list[dict[str, Any]] = [
        {
            "name": KEY_COLUMN,
            "description": f"The customer, one row per customer of {source_model}.",
            "data_tests": _Inline(["unique", "not_null"]),
        }
    ]
    for rule in compiled:
        columns.append(
            {
                "name": rule.name,
                "description": rule.description,
                "data_type": "boolean",
                "config": {
                    "meta": {
                        "tag": {
                            "category": rule.category,
                            "display_name": rule.display_name,
                            **(
                                {"display_name_en": rule.display_name_en}
                                if rule.display_name_en
                                else {}
                            ),
                            **(
                                {"description_zh": rule.description_zh}
                                if rule.description_zh
                                else {}
                            ),
                            "value_type": "boolean",
                            "owner": rule.owner,
                            "allowed_values": _Inline([True, False]),
                            "rule": rule.rule,
                        }
                    }
                },
                "data_tests": _Inline(["not_null"]),
            }
        )
    properties = {
        "version": 2,
        "models": [
            {
                "name": MODEL_NAME,
                "description": (
                    f"Rule tags, one row per customer of {source_model} and one boolean column per "
                    f"rule in {origin}. A rule over a null value is false, so no tag is null."
                ),
                "columns": columns,
            }
        ],
    }
    body = yaml.dump(
        properties,
        Dumper=_IndentedDumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=100,
    )
    properties_text = "".join(f"# {line}\n" for line in textwrap.wrap(header, 96)) + body
    return sql, properties_text


def write_rule_model(
    rules_path: Path,
    columns: Mapping[str, str],
    out_dir: Path,
    source_model: str,
    categories: Sequence[str] | None = None,
) -> list[Path]:
    """Compile the rules and write `tag_rules.sql` and `_tag_rules.yml` into `out_dir`.

    A file is rewritten only when its content changes, so an unchanged rules file leaves the
    files' mtimes alone and dbt's partial parse stays valid. Returns the files it rewrote.
    """
    compiled = compile_rules(rules_path, columns, categories)
    sql, properties = render_rule_model(compiled, source_model)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, content in ((f"{MODEL_NAME}.sql", sql), (f"_{MODEL_NAME}.yml", properties)):
        target = out_dir / name
        if target.is_file() and target.read_text(encoding="utf-8") == content:
            continue
        # Write beside the target and rename, so dbt never reads a half-written file.
        temporary = out_dir / f".{name}.tmp"
        temporary.write_text(content, encoding="utf-8", newline="\n")
        temporary.replace(target)
        written.append(target)
    return written
