"""The exported segments, read from dbt's manifest: a segment is declared once, in its YAML."""

import json
from pathlib import Path
from typing import Any

from orchestration.publishing.exports import SegmentExport


def segment_declaration(node: dict[str, Any]) -> dict[str, Any] | None:
    """A manifest node's segment block: models under models/segments/ with config.meta.segment."""
    fqn = node.get("fqn", [])
    if node.get("resource_type") != "model" or len(fqn) < 3 or fqn[1] != "segments":
        return None
    return ((node.get("config") or {}).get("meta") or {}).get("segment")


def segment_exports(manifest: dict[str, Any]) -> list[SegmentExport]:
    """Every segment model, as an export."""
    exports = []
    for node in manifest["nodes"].values():
        meta = segment_declaration(node)
        if not meta:
            continue
        exports.append(
            SegmentExport(
                name=node["name"],
                relation=f"{node['schema']}.{node.get('alias') or node['name']}",
                columns=tuple(node["columns"]),
                display_name=str(meta.get("display_name", node["name"])),
                description=" ".join(str(node.get("description", "")).split()),
                owner=str(meta.get("owner", "")),
                wecom_tag=meta.get("wecom_tag"),
                sql_hash=node["checksum"]["checksum"],
            )
        )
    return sorted(exports, key=lambda export: export.name)


def load_manifest(manifest_path: Path) -> dict[str, Any]:
    return json.loads(manifest_path.read_text(encoding="utf-8"))


NEXT_BEST_ACTION_COLUMNS = ("customer_id", "priority", "segment_name", "reason")


def next_best_action_exports(manifest: dict[str, Any], actions: list[str]) -> list[SegmentExport]:
    """One export per action of marts.next_best_action: nba_<action>, its customers only."""
    node = manifest["nodes"]["model.scrm.next_best_action"]
    relation = f"{node['schema']}.{node.get('alias') or node['name']}"
    return [
        SegmentExport(
            name=f"nba_{action}",
            relation=relation,
            columns=NEXT_BEST_ACTION_COLUMNS,
            display_name=action,
            description=f"Customers whose next best action tonight is {action}.",
            owner="crm-ops",
            wecom_tag=None,
            sql_hash=node["checksum"]["checksum"],
            rows_where=("action", action),
        )
        for action in actions
    ]
