"""The exported segments, read from dbt's manifest: a segment is declared once, in its YAML."""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestration.language import CHINESE, _, configured_language, speaking
from orchestration.publishing.segment_files import CustomerTable, SegmentExport
from orchestration.reasons import (
    CUSTOMER_REASON_COLUMNS,
    customer_reasons_for_people,
    readable_columns,
    readable_reason,
    segment_reasons_for_people,
)
from orchestration.segment_declarations import segment_declaration

# A segment's reason as fields (macro segment_reason_fields): in its Parquet, for programs;
# worded into the reason in the files people open, and left out of them.
REASON_FIELDS = "reason_fields"

# Decides who of a segment's members is exported tonight (holdout, priority, cool-down).
MEMBERS_RELATION = "marts.segment_membership"


def column_headers(
    node: dict[str, Any], columns: tuple[str, ...], language: str | None = None
) -> tuple[str, ...]:
    """The header people read for each column, in ``language`` (default: the configured one):
    its config.meta.display_name in the model's YAML, display_name_en in English, or the column
    name where none is declared."""
    key = "display_name" if configured_language(language) == CHINESE else "display_name_en"
    declared = node.get("columns") or {}
    headers = []
    for column in columns:
        entry = declared.get(column) or {}
        meta = (entry.get("config") or {}).get("meta") or entry.get("meta") or {}
        headers.append(str(meta.get(key) or column))
    return tuple(headers)


def segment_description(node: dict[str, Any], language: str | None = None) -> str:
    """What a segment is, for people, in ``language`` (default: the configured one): its
    meta.segment.description_zh in Chinese, the model's YAML description in English (and in
    Chinese where none is declared; tests/test_segments.py requires one)."""
    declaration = segment_declaration(node) or {}
    if configured_language(language) == CHINESE:
        text = declaration.get("description_zh") or node.get("description") or ""
    else:
        text = node.get("description") or ""
    return " ".join(str(text).split())


def segment_exports(manifest: dict[str, Any], language: str | None = None) -> list[SegmentExport]:
    """Every segment model, as an export; the files people open in ``language`` (default: the
    configured one): the .xlsx sheet is named for the segment's display name, in English its
    display_name_en (or code name), like the report; the description (the exports manifest's)
    is in that language too."""
    language = configured_language(language)
    exports = []
    for node in manifest["nodes"].values():
        meta = segment_declaration(node)
        if not meta:
            continue
        display_name = str(meta.get("display_name", node["name"]))
        columns = tuple(node["columns"])
        people_columns = tuple(column for column in columns if column != REASON_FIELDS)
        exports.append(
            SegmentExport(
                name=node["name"],
                relation=f"{node['schema']}.{node.get('alias') or node['name']}",
                columns=columns,
                display_name=display_name,
                sheet_name=display_name
                if language == CHINESE
                else str(meta.get("display_name_en") or node["name"]),
                description=segment_description(node, language),
                owner=str(meta.get("owner", "")),
                wecom_tag=meta.get("wecom_tag"),
                sql_hash=node["checksum"]["checksum"],
                members_relation=MEMBERS_RELATION,
                headers=column_headers(node, people_columns, language),
                people_columns=people_columns,
                for_people=segment_reasons_for_people(language),
            )
        )
    return sorted(exports, key=lambda export: export.name)


def load_manifest(manifest_path: Path) -> dict[str, Any]:
    return json.loads(manifest_path.read_text(encoding="utf-8"))


NEXT_BEST_ACTION_COLUMNS = (
    "customer_id",
    "priority",
    "segment_name",
    "reason",
    "action_detail",
    "membership_reason",
)


def action_reason_text(reason: str | None) -> str | None:
    """The seed's reason for an action, in the operator's language (the catalog holds every
    reason of seeds/next_best_actions.csv; babel.cfg)."""
    return _(reason) if reason else reason


def next_best_action_export_name(action: str) -> str:
    """The export of one next best action's customers: nba_<action>."""
    return f"nba_{action}"


def action_display_name(action: str, display_name: str | None) -> str:
    """An action's name for people: the seed's display_name in the current language (the
    catalog holds every one; babel.cfg), or the action's code where the seed has none."""
    return _(display_name) if display_name else action


def action_export_description(action_display_name: str) -> str:
    """What an action's export holds, in the current language (the exports manifest and the
    report show it)."""
    return _('Customers whose next best action tonight is "{action}".').format(
        action=action_display_name
    )


def next_best_action_exports(
    manifest: dict[str, Any], actions: Mapping[str, str], language: str | None = None
) -> list[SegmentExport]:
    """One export per action of marts.next_best_action: nba_<action>, its customers only.

    ``actions`` maps each action of seed next_best_actions to its display_name (English, in
    the catalog), which names the .xlsx sheet and the export's description in ``language``
    (default: the configured one).
    """
    language = configured_language(language)
    node = manifest["nodes"]["model.scrm.next_best_action"]
    relation = f"{node['schema']}.{node.get('alias') or node['name']}"
    with speaking(language):
        sheet_names = {
            action: action_display_name(action, name) for action, name in actions.items()
        }
        descriptions = {
            action: action_export_description(sheet_names[action]) for action in actions
        }
    return [
        SegmentExport(
            name=next_best_action_export_name(action),
            relation=relation,
            columns=NEXT_BEST_ACTION_COLUMNS,
            display_name=action,
            sheet_name=sheet_names[action],
            description=descriptions[action],
            owner="crm-ops",
            wecom_tag=None,
            sql_hash=node["checksum"]["checksum"],
            rows_where=("action", action),
            headers=column_headers(node, NEXT_BEST_ACTION_COLUMNS, language),
            for_people=readable_columns(
                {"reason": action_reason_text, "membership_reason": readable_reason}, language
            ),
        )
        for action in sorted(actions)
    ]


# Every customer's lifecycle stage and value tier, and why: the model, and the export's name.
CUSTOMER_REASONS_MODEL = "customer_stage_reasons"
CUSTOMER_REASONS = "customer_reasons"


def customer_reasons_export(
    manifest: dict[str, Any], rule_vars: dict[str, Any], language: str | None = None
) -> CustomerTable:
    """The customer_reasons export: marts.customer_stage_reasons' fields in its Parquet, and
    for people, in ``language`` (default: the configured one), each customer's stage and value
    tier with the reasons in words (orchestration.reasons)."""
    language = configured_language(language)
    node = manifest["nodes"][f"model.scrm.{CUSTOMER_REASONS_MODEL}"]
    with speaking(language):
        headers = (
            _("Customer ID"),
            _("Lifecycle stage"),
            _("Why in this stage"),
            _("Value tier"),
            _("Why in this value tier"),
        )
        sheet_name = _("Stages and value tiers")
    return CustomerTable(
        name=CUSTOMER_REASONS,
        relation=f"{node['schema']}.{node.get('alias') or node['name']}",
        columns=tuple(column for column in node["columns"] if column != "as_of_date"),
        people_columns=CUSTOMER_REASON_COLUMNS,
        headers=headers,
        sheet_name=sheet_name,
        for_people=customer_reasons_for_people(rule_vars, language),
    )
