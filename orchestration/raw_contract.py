"""The raw data contract, read from the dbt sources YAML so that it is written down once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
SOURCES_YAML = DBT_PROJECT_DIR / "models" / "staging" / "raw" / "_raw__sources.yml"

# Columns the loader adds; they are declared in the YAML but never expected in a raw file.
LOADER_COLUMNS = ("_raw_row_number", "_source_file", "_loaded_at", "_delivered_on")


@dataclass(frozen=True)
class SourceContract:
    name: str
    columns: tuple[str, ...]
    required: frozenset[str]
    # A source a brand may not have at all (meta.optional): when neither its file nor its
    # folder is there, the night takes it in as empty.
    is_optional: bool = False


@cache
def load_contract(sources_yaml: Path = SOURCES_YAML) -> dict[str, SourceContract]:
    """Return the contract of every raw source, keyed by source name, in file order."""
    document = yaml.safe_load(sources_yaml.read_text(encoding="utf-8"))
    (raw,) = (source for source in document["sources"] if source["name"] == "raw")
    contracts: dict[str, SourceContract] = {}
    for table in raw["tables"]:
        columns = [c for c in table["columns"] if c["name"] not in LOADER_COLUMNS]
        contracts[table["name"]] = SourceContract(
            name=table["name"],
            columns=tuple(c["name"] for c in columns),
            required=frozenset(
                c["name"] for c in columns if (c.get("meta") or {}).get("required") is True
            ),
            is_optional=(table.get("meta") or {}).get("optional") is True,
        )
    return contracts
