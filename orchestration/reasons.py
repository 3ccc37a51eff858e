"""Why a customer is in a segment, or in their lifecycle stage and value tier, in words.

A segment's SQL states its criteria once and every member carries them with the member's
values as a machine reason (macros/segments.sql, segment_reason), e.g.
``days_since_last_purchase=125 >= 30; last_purchase_on=2026-06-28``, and as fields beside it
(segment_reason_fields, a JSON array of column, value, op and rule). Programs keep both.
Files people open get it in words, in the operator's language, from the fields: in Chinese
"距上次购买 125 天 (≥30 天); 上次购买 2026-06-28", with full-width punctuation. Where only the
text travels (marts.segment_membership, next_best_action's membership_reason), it is read back
(parse_reason).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import pyarrow as pa

from orchestration.language import N_, _, speaking

logger = logging.getLogger(__name__)

# How a criterion reads, by its column: the customer's value, and a threshold (None: the
# column is never compared with a number). A column not listed reads "column: value".
_SAYS: Final[Mapping[str, tuple[str, str | None]]] = {
    "days_since_last_purchase": (N_("{value} days since the last purchase"), N_("{value} days")),
    "last_purchase_on": (N_("last purchase {value}"), None),
    "days_since_first_purchase": (
        N_("{value} days since the first purchase"),
        N_("{value} days"),
    ),
    "days_between_last_purchases": (
        N_("{value} days between the last two purchases"),
        N_("{value} days"),
    ),
    "days_as_friend": (N_("friends for {value} days"), N_("{value} days")),
    "paid_order_count": (N_("{value} purchases"), N_("{value} times")),
    "paid_amount_cny": (N_("{value} CNY paid"), N_("{value} CNY")),
    "expected_run_out_on": (N_("expected to run out on {value}"), None),
    "identity": (N_("identity: {value}"), None),
    "member_level": (N_("member level: {value}"), None),
    "category": (N_("category: {value}"), None),
    "source_category": (N_("bought a {value}"), None),
    "target_category": (N_("category to offer: {value}"), None),
    "customer_value_tier": (N_("value tier: {value}"), None),
    "friend_status": (N_("friend status: {value}"), None),
    "content_preference": (N_("favourite content topic: {value}"), None),
}
# Yes-or-no columns read as a sentence each way.
_FLAGS: Final[Mapping[str, tuple[str, str]]] = {
    "is_active_30d": (
        N_("interacted in the last 30 days"),
        N_("no interaction in the last 30 days"),
    ),
    "is_active_15d": (
        N_("interacted in the last 15 days"),
        N_("no interaction in the last 15 days"),
    ),
    "is_repurchase_due": (N_("due to buy again"), N_("not due to buy again")),
}
# Codes that appear as values, in words.
_VALUES: Final[Mapping[str, str]] = {
    "current_friend": N_("current friend"),
    "never_friend": N_("never a friend"),
    "deleted_by_customer": N_("deleted by the customer"),
    "deleted_by_staff": N_("deleted by staff"),
    "vip": N_("VIP"),
    "high": N_("high"),
    "medium": N_("medium"),
    "low": N_("low"),
    "true": N_("yes"),
    "false": N_("no"),
    # segment_reason shows a missing value as null; the value tier of a customer without a
    # purchase is none.
    "null": N_("none"),
    "none": N_("none"),
}
_SYMBOLS: Final = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "!=": "≠"}
# Lifecycle stages in words; in English the code names read as words already.
STAGE_NAMES: Final[Mapping[str, str]] = {
    "prospect": N_("prospect"),
    "new": N_("new"),
    "active": N_("active"),
    "reactivated": N_("reactivated"),
    "silent": N_("silent"),
    "churned": N_("churned"),
    "lost_friend": N_("lost_friend"),
}

# One criterion of the machine reason: "column=value", then " op rule" unless op is "=" or
# absent; "in" lists its rule in parentheses. Parts are joined by "; ".
_PART_SEPARATOR: Final = re.compile(r"; (?=[a-z_][a-z0-9_]*=)")
_PART: Final = re.compile(r"(?P<column>[a-z_][a-z0-9_]*)=(?P<rest>.*)", re.DOTALL)
_COMPARED: Final = re.compile(r"(?P<value>.*) (?P<op>>=|<=|!=|>|<) (?P<rule>[^ ]+)", re.DOTALL)
_LISTED: Final = re.compile(r"(?P<value>.*) in \((?P<rule>.*)\)", re.DOTALL)


@dataclass(frozen=True)
class Criterion:
    """A criterion with the customer's value: op and rule are None when it is only shown, or
    when the value is the rule (op "=")."""

    column: str
    value: str
    op: str | None = None
    rule: str | tuple[str, ...] | None = None


def parse_reason(reason: str) -> list[Criterion]:
    """The criteria of a machine reason, in order; text in no known shape is one criterion
    with an empty column, shown as it is."""
    criteria = []
    for part in _PART_SEPARATOR.split(reason):
        match = _PART.fullmatch(part)
        if match is None:
            criteria.append(Criterion("", part))
            continue
        column, rest = match["column"], match["rest"]
        if listed := _LISTED.fullmatch(rest):
            rule = tuple(value.strip() for value in listed["rule"].split(","))
            criteria.append(Criterion(column, listed["value"], "in", rule))
        elif compared := _COMPARED.fullmatch(rest):
            criteria.append(Criterion(column, compared["value"], compared["op"], compared["rule"]))
        else:
            criteria.append(Criterion(column, rest))
    return criteria


def readable_reason(reason: str | None) -> str | None:
    """A machine reason in words, in the current language (orchestration.language)."""
    if reason is None:
        return None
    return _("; ").join(_criterion_text(criterion) for criterion in parse_reason(reason))


def reason_from_fields(fields: str | None) -> str | None:
    """A segment member's reason in words, in the current language, from the criteria as the
    SQL gives them (macro segment_reason_fields: a JSON array of column, value, op, rule)."""
    if fields is None:
        return None
    criteria = [_criterion_from_fields(item) for item in json.loads(fields)]
    return _("; ").join(_criterion_text(criterion) for criterion in criteria)


def _criterion_from_fields(item: Mapping[str, Any]) -> Criterion:
    column = str(item["column"])
    # A missing value reads as the machine reason shows it.
    value = "null" if item.get("value") is None else str(item["value"])
    op = item.get("op")
    rule = [str(text) for text in item.get("rule") or ()]
    if op == "in":
        return Criterion(column, value, "in", tuple(rule))
    if op is None or op == "=" or not rule:
        # After "=" the value is the rule; without op it is only shown.
        return Criterion(column, value)
    return Criterion(column, value, str(op), rule[0])


def segment_reasons_for_people(language: str | None = None) -> Callable[[pa.Table], pa.Table]:
    """For a segment's files for people: the reason in words, in ``language`` (default: the
    configured one), from reason_fields, which is then left out; a segment without
    reason_fields has its reason text worded."""

    def render(table: pa.Table) -> pa.Table:
        if "reason_fields" not in table.column_names:
            return readable_columns({"reason": readable_reason}, language)(table)
        with speaking(language):
            reasons = [reason_from_fields(f) for f in table.column("reason_fields").to_pylist()]
        index = table.schema.get_field_index("reason")
        if index >= 0:
            table = table.set_column(index, "reason", pa.array(reasons, type=pa.string()))
        return table.drop_columns(["reason_fields"])

    return render


def _criterion_text(criterion: Criterion) -> str:
    if not criterion.column:
        return criterion.value
    if criterion.column in _FLAGS and criterion.value in ("true", "false"):
        when_true, when_false = _FLAGS[criterion.column]
        sentence = when_true if criterion.value == "true" else when_false
        return _(sentence)
    says, unit = _SAYS.get(criterion.column, (None, None))
    value = _value_text(criterion.value)
    if says is None:
        # A criterion added to a segment without words here still reads, as its column.
        logger.warning("no words for the segment criterion %s: shown by its name", criterion.column)
        text = _("{label}: {value}").format(label=criterion.column, value=value)
    else:
        text = _(says).format(value=value)
    if criterion.op is None:
        return text
    if criterion.op == "in":
        values = _(", ").join(_value_text(value) for value in criterion.rule or ())
        rule = _("one of {values}").format(values=values)
    else:
        threshold = _(unit).format(value=criterion.rule) if unit else str(criterion.rule)
        rule = _SYMBOLS[criterion.op] + threshold
    return _("{criterion} ({rule})").format(criterion=text, rule=rule)


def _value_text(value: str) -> str:
    return _(_VALUES[value]) if value in _VALUES else value


def readable_columns(
    renderers: Mapping[str, Callable[[str | None], str | None]], language: str | None = None
) -> Callable[[pa.Table], pa.Table]:
    """For an export's files for people: the table with each named column's text rendered,
    in ``language`` (default: the configured one); other columns, and absent ones, unchanged."""

    def render(table: pa.Table) -> pa.Table:
        with speaking(language):
            for column, renderer in renderers.items():
                index = table.schema.get_field_index(column)
                if index < 0:
                    continue
                values = [renderer(value) for value in table.column(index).to_pylist()]
                table = table.set_column(index, column, pa.array(values, type=pa.string()))
        return table

    return render


# The lifecycle stage rules (macro lifecycle_stage, docs/customer_value.md), as the criteria
# each stage met tonight: the column of customer_lifecycle, the comparison and the var it is
# compared with. Stages whose rule compares no number read as a sentence or a status.
_STAGE_CRITERIA: Final[Mapping[str, tuple[tuple[str, str | None, str | None], ...]]] = {
    "lost_friend": (("friend_status", None, None),),
    "new": (("days_since_first_purchase", "<", "lifecycle_new_days"),),
    "reactivated": (
        ("days_since_last_purchase", "<", "lifecycle_churn_days"),
        ("days_between_last_purchases", ">", "lifecycle_churn_days"),
    ),
    "active": (("days_since_last_purchase", "<", "lifecycle_churn_days"),),
    "silent": (
        ("days_since_last_purchase", ">=", "lifecycle_churn_days"),
        ("friend_status", None, None),
    ),
    "churned": (
        ("days_since_last_purchase", ">=", "lifecycle_churn_days"),
        ("friend_status", None, None),
    ),
}
# customer_value_tier from the RFM monetary score (tag_lifecycle): the score each tier needs.
_TIER_SCORES: Final[Mapping[str, str]] = {
    "vip": "5",
    "high": "4",
    "medium": "3",
    "low": "1-2",
}


def lifecycle_reason(fields: Mapping[str, object], rule_vars: Mapping[str, object]) -> str:
    """Why a customer is in their lifecycle stage, in words, from the structured fields of
    marts.customer_lifecycle (lifecycle_stage, days_since_first_purchase,
    days_since_last_purchase, days_between_last_purchases, friend_status) and the vars the
    rules compare them with (lifecycle_new_days, lifecycle_churn_days)."""
    stage = str(fields["lifecycle_stage"])
    if stage == "prospect":
        return _("no purchase yet")
    criteria = [
        Criterion(
            column,
            _field_text(fields.get(column)),
            op,
            None if var is None else str(rule_vars[var]),
        )
        for column, op, var in _STAGE_CRITERIA.get(stage, ())
    ]
    if not criteria:
        # A stage added to the rules without words here still reads, as its name.
        return _("{label}: {value}").format(label="lifecycle_stage", value=stage)
    return _("; ").join(_criterion_text(criterion) for criterion in criteria)


def value_tier_reason(fields: Mapping[str, object], rfm_window_days: int) -> str:
    """Why a customer is in their value tier, in words: their spend in the RFM window and its
    monetary score (customer_rfm.monetary_cny and m_score), and the score the tier needs."""
    tier = str(fields["customer_value_tier"])
    if fields.get("m_score") is None:
        return _("no purchase yet")
    spend = _("{value} CNY paid in the last {days} days").format(
        value=_field_text(fields.get("monetary_cny")), days=rfm_window_days
    )
    score = _("spend score (M) {value}").format(value=_field_text(fields["m_score"]))
    if tier in _TIER_SCORES:
        score = _("{criterion} ({rule})").format(
            criterion=score,
            rule=_("value tier {tier}: a score of {scores}").format(
                tier=_value_text(tier), scores=_TIER_SCORES[tier]
            ),
        )
    return _("; ").join((spend, score))


def _field_text(value: object) -> str:
    """A structured field as the reason shows it: money with two decimals, null as "null"."""
    if value is None:
        return "null"
    if isinstance(value, Decimal | float):
        return f"{value:.2f}"
    return str(value)


def stage_text(stage: str) -> str:
    """A lifecycle stage in words, in the current language; a stage without words as it is."""
    return _(STAGE_NAMES[stage]) if stage in STAGE_NAMES else stage


# The file people open of every customer's stage and tier (export customer_reasons): the
# stage and tier in words, each beside why.
CUSTOMER_REASON_COLUMNS: Final = (
    "customer_id",
    "lifecycle_stage",
    "lifecycle_reason",
    "customer_value_tier",
    "value_tier_reason",
)


def customer_reasons_for_people(
    rule_vars: Mapping[str, object], language: str | None = None
) -> Callable[[pa.Table], pa.Table]:
    """For the customer_reasons export: from the fields of marts.customer_stage_reasons, the
    table people read (CUSTOMER_REASON_COLUMNS), in ``language`` (default: the configured
    one). ``rule_vars`` are the dbt vars the rules compare with (lifecycle_new_days,
    lifecycle_churn_days, rfm_window_days)."""
    window = int(str(rule_vars["rfm_window_days"]))

    def render(table: pa.Table) -> pa.Table:
        rows = table.to_pylist()
        text = pa.string()
        with speaking(language):
            stages, stage_reasons, tiers, tier_reasons = [], [], [], []
            for row in rows:
                stage, tier = row["lifecycle_stage"], row["customer_value_tier"]
                stages.append(None if stage is None else stage_text(stage))
                stage_reasons.append(None if stage is None else lifecycle_reason(row, rule_vars))
                tiers.append(None if tier is None else _value_text(tier))
                tier_reasons.append(value_tier_reason(row, window))
        return pa.table(
            {
                "customer_id": table.column("customer_id"),
                "lifecycle_stage": pa.array(stages, type=text),
                "lifecycle_reason": pa.array(stage_reasons, type=text),
                "customer_value_tier": pa.array(tiers, type=text),
                "value_tier_reason": pa.array(tier_reasons, type=text),
            }
        )

    return render
