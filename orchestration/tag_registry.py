"""Prepare the dbt project: parse it, register its tag and segment models, compile rule tags,
and document the tag columns of the models that repeat them (the profile).

dbt must know a model's refs when it parses, before its graph exists, so the models that
assemble the profile (or every night's segment membership) cannot discover the tag (segment)
models and ref them in one pass. `prepare` does it in two: parse, read those models from
dbt's graph (target/manifest.json), write `registered_tag_models()` and
`registered_segment_models()` and the rule-tag model generated from `tag_rules.yml`, and
parse again when anything changed. The generated files are derived, never edited, and not
committed.

A tag is described once, on its tag model's column. dbt documents a column only where a
properties file lists it, and lets a model have one properties file, so the models that repeat
every tag as a column (customer_profile, its history, tag_profile_base) keep their hand-written
properties in a `*.template.yml` beside them, which dbt ignores (.dbtignore). `prepare` writes
the `*.generated.yml` dbt reads: the template with a column per tag, carrying its display name,
description and declaration from dbt's graph, so dbt docs and Dagster's column panel show them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from orchestration import tag_rules
from orchestration.language import CHINESE, configured_language
from orchestration.project import AS_OF_DATE_VARIABLE, RUN_STARTED_AT_VARIABLE
from orchestration.segment_declarations import (
    SegmentDeclarationError,
    SegmentSettings,
    check_wecom_mapping,
    segment_declaration,
    segment_settings,
)
from orchestration.wecom_tags import WecomLimits

RULES_FILE = "tag_rules.yml"
REGISTRY_MACRO = Path("macros") / "generated" / "registered_models.sql"
RULES_MODEL_DIR = Path("models") / "tags" / "rules"
RULES_SOURCE_MODEL = "tag_profile_base"
# Written into the registry; a registry from an older format is replaced before parsing,
# because the models call macros it may lack.
REGISTRY_FORMAT = "registry format 2"
# Hand-written properties completed with a column per tag: `<name>.template.yml` (ignored by
# dbt, .dbtignore) becomes `<name>.generated.yml` beside it.
TEMPLATE_SUFFIX = ".template.yml"
GENERATED_SUFFIX = ".generated.yml"
# A model in a template that lists `config.meta.tag_columns`: `all` (SQL and rule tags, as
# customer_profile selects them) or `sql` (the SQL tag models only, as tag_profile_base).
TAG_COLUMN_KINDS = ("all", "sql")


# What the last prepare was made from, beside the manifest it left (target/): a prepare whose
# inputs are unchanged skips dbt's parse, most of its cost (every night prepares first).
PREPARED_RECORD = Path("target") / "scrm_prepared.json"
# Folders and files of the project that dbt writes itself, not inputs of a parse.
WRITTEN_BY_DBT = {"target", "logs", ".user.yml"}
# The environment of a parse: the profile's variables and any a model reads while parsing;
# not the night's settings, which the models read only when executing (macros/as_of.sql).
PARSE_ENVIRONMENT_PREFIXES = ("SCRM_", "DBT_")
NIGHT_VARIABLES = {AS_OF_DATE_VARIABLE, RUN_STARTED_AT_VARIABLE}
PACKAGE_DIR = Path(__file__).resolve().parent


class PrepareError(Exception):
    """The project could not be parsed or its tags could not be registered."""


def tag_declaration(column: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A manifest column's tag block (config.meta.tag, or meta.tag), as the macros read it."""
    config_meta = (column.get("config") or {}).get("meta") or {}
    return config_meta.get("tag") or (column.get("meta") or {}).get("tag")


def tag_description(column: Mapping[str, Any], language: str | None = None) -> str:
    """What a tag is, for people, in ``language`` (default: the configured one): its
    meta.tag.description_zh in Chinese, the column's YAML description in English (and in
    Chinese where none is declared; tests/test_language.py requires one)."""
    declaration = tag_declaration(column) or {}
    text = column.get("description") or ""
    if configured_language(language) == CHINESE:
        text = declaration.get("description_zh") or text
    return " ".join(str(text).split())


def tag_descriptions(manifest: Mapping[str, Any], language: str | None = None) -> dict[str, str]:
    """Each tag's description in ``language``, by tag name: the tag models' columns, rule tags
    included (not the profile's, which repeat them)."""
    return {
        name: text
        for node in _tag_nodes(manifest, include_rules=True)
        for name, column in node["columns"].items()
        if tag_declaration(column) and (text := tag_description(column, language))
    }


def sql_tag_models(manifest: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Tag models under models/tags/ (rule tags excluded): name → {tag column: value type}."""
    models: dict[str, dict[str, str]] = {}
    for node in manifest["nodes"].values():
        fqn = node.get("fqn", [])
        if node.get("resource_type") != "model" or len(fqn) < 3 or fqn[1] != "tags":
            continue
        if fqn[2] == "rules":
            continue
        tags = {
            name: str(declaration.get("value_type"))
            for name, column in node.get("columns", {}).items()
            if (declaration := tag_declaration(column))
        }
        if tags:
            models[node["name"]] = tags
    return dict(sorted(models.items()))


def segment_models(manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Segment models (under models/segments/ with config.meta.segment): name → declaration."""
    declarations = {
        node["name"]: declaration
        for node in manifest["nodes"].values()
        if (declaration := segment_declaration(node))
    }
    return dict(sorted(declarations.items()))


def profile_columns(models: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Every SQL tag column with its value type; a name used twice is an error."""
    columns: dict[str, str] = {}
    owners: dict[str, str] = {}
    for model, tags in models.items():
        for name, value_type in tags.items():
            if name in tag_rules.reserved_sql_words():
                raise PrepareError(
                    f"tag column {name!r} of {model} is a reserved word in SQL (DuckDB or "
                    "Spark) and would break the SQL that selects the tag; rename the column"
                )
            if name in columns:
                raise PrepareError(
                    f"tag column {name!r} is declared by both {owners[name]} and {model}; "
                    "tag names must be unique across tag models"
                )
            columns[name] = value_type
            owners[name] = model
    return columns


def _tag_nodes(manifest: Mapping[str, Any], include_rules: bool) -> list[Mapping[str, Any]]:
    """The tag models of the graph ordered by fqn, as macros/tags.sql graph_tag_models()."""
    nodes = [
        node
        for node in manifest["nodes"].values()
        if node.get("resource_type") == "model"
        and len(node.get("fqn", [])) >= 3
        and node["fqn"][1] == "tags"
        and (include_rules or node["fqn"][2] != "rules")
        and any(tag_declaration(column) for column in node.get("columns", {}).values())
    ]
    return sorted(nodes, key=lambda node: node["fqn"])


def tag_column_properties(
    manifest: Mapping[str, Any],
    include_rules: bool = True,
    categories: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """A properties entry per tag column, in the profile's order (macros/tags.sql tag_columns):
    by category in the order of `categories` (by default the project's var tag_categories).

    The description is the tag's own, led by its display name and followed by where it comes
    from and what values it takes, so a reader of the profile needs nothing else.
    """
    entries: list[dict[str, Any]] = []
    nodes = _tag_nodes(manifest, include_rules)
    for category in categories or tag_rules.tag_categories():
        for node in nodes:
            for name, column in node["columns"].items():
                tag = tag_declaration(column)
                if not tag or tag.get("category") != category:
                    continue
                entries.append(
                    {
                        "name": name,
                        "description": _jinja_safe(_tag_description(node, column, tag)),
                        "config": {
                            "meta": {
                                "display_name": tag.get("display_name"),
                                "tag_category": category,
                                "tag_model": node["name"],
                            }
                        },
                    }
                )
    return entries


def _tag_description(node: Mapping[str, Any], column: Mapping[str, Any], tag: Mapping) -> str:
    own = " ".join(str(column.get("description") or "").split())
    if own and own[-1] not in ".!?。":
        own += "."
    values = _tag_values(tag)
    if tag.get("rule"):
        origin = f"Rule tag ({RULES_FILE}): {tag['rule']}."
    elif tag.get("source") == "staff":
        origin = f"Tag entered by staff in WeCom, listed in {node['name']}."
    else:
        origin = f"Tag computed in {node['name']}."
    return (
        f"{tag.get('display_name')} ({tag.get('category')} tag). {own} {origin} "
        f"{values} Owner: {tag.get('owner')}."
    )


def _tag_values(tag: Mapping[str, Any]) -> str:
    value_type = tag.get("value_type")
    if "allowed_values" in tag:
        listed = ", ".join(_value_text(value) for value in tag["allowed_values"])
        return f"Values: {listed}."
    if "known_values" in tag:
        listed = ", ".join(_value_text(value) for value in tag["known_values"])
        return (
            f"Text, the brand's own words; known values: {listed} (others are kept and "
            "listed in tag_unseen_values)."
        )
    bounds = [
        text
        for key, word in (("min_value", "at least"), ("max_value", "at most"))
        if (text := f"{word} {tag[key]}" if key in tag else "")
    ]
    return f"{str(value_type).capitalize()}{' ' + ' and '.join(bounds) if bounds else ''}."


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _jinja_safe(text: str) -> str:
    """dbt renders descriptions through Jinja: keep a tag's text as it reads."""
    if any(opener in text for opener in ("{{", "{%", "{#")):
        return "{% raw %}" + text + "{% endraw %}"
    return text


def render_tag_column_properties(
    template: str, manifest: Mapping[str, Any], categories: Sequence[str] | None = None
) -> str:
    """A template's properties, completed from dbt's graph where its models ask.

    `meta.tag_columns` adds the tag columns after customer_id; `meta.raw_source` describes
    the listed columns left undescribed from the raw contract's column of that name (a
    quarantine table keeps the raw values as they came).
    """
    properties = yaml.safe_load(template) or {}
    properties.pop("anchors", None)  # the template's shorthand, already expanded
    columns_of = {
        "all": tag_column_properties(manifest, include_rules=True, categories=categories),
        "sql": tag_column_properties(manifest, include_rules=False, categories=categories),
    }
    for model in properties.get("models") or []:
        meta = (model.get("config") or {}).get("meta") or {}
        if "raw_source" in meta:
            model["columns"] = _raw_described(model, manifest, meta["raw_source"])
        kind = meta.get("tag_columns")
        if kind is None:
            continue
        if kind not in TAG_COLUMN_KINDS:
            raise PrepareError(
                f"{model.get('name')}: meta.tag_columns is {kind!r}, not one of "
                + ", ".join(TAG_COLUMN_KINDS)
            )
        hand_written = list(model.get("columns") or [])
        names = [column.get("name") for column in hand_written]
        key = names.index("customer_id") + 1 if "customer_id" in names else 0
        model["columns"] = [
            *hand_written[:key],
            *(copy.deepcopy(c) for c in columns_of[kind] if c["name"] not in names),
            *hand_written[key:],
        ]
    return (
        "# Generated by `scrm prepare` (orchestration/tag_registry.py) from the template beside\n"
        "# it and dbt's graph. Do not edit: change the template, the tag or the raw contract.\n"
        + yaml.safe_dump(properties, allow_unicode=True, sort_keys=False, width=100)
    )


def _raw_described(
    model: Mapping[str, Any], manifest: Mapping[str, Any], source: str
) -> list[dict[str, Any]]:
    contract = next(
        (
            node["columns"]
            for node in manifest.get("sources", {}).values()
            if node.get("source_name") == "raw" and node.get("name") == source
        ),
        None,
    )
    if contract is None:
        raise PrepareError(f"{model.get('name')}: meta.raw_source {source!r} is no raw source")
    columns = []
    for column in copy.deepcopy(list(model.get("columns") or [])):
        declared = contract.get(column.get("name")) or {}
        if not column.get("description") and declared.get("description"):
            text = " ".join(declared["description"].split())
            column["description"] = _jinja_safe(
                f"As it came in raw {source}.{column['name']}, text before any typing or "
                f"check: {text}"
            )
        columns.append(column)
    return columns


def write_tag_column_properties(project_dir: Path, manifest: Mapping[str, Any]) -> bool:
    """Write every template's generated properties, remove orphans; True if any changed."""
    models_dir = project_dir / "models"
    changed = False
    templates = sorted(models_dir.rglob(f"*{TEMPLATE_SUFFIX}"))
    wanted = {_generated_path(template) for template in templates}
    categories = tag_rules.tag_categories(project_dir)
    for template in templates:
        template_text = template.read_text(encoding="utf-8")
        text = render_tag_column_properties(template_text, manifest, categories)
        changed |= _write_if_changed(_generated_path(template), text)
    for orphan in _files(models_dir.rglob(f"*{GENERATED_SUFFIX}")):
        if orphan not in wanted:
            orphan.unlink()
            changed = True
    return changed


def _generated_path(template: Path) -> Path:
    return template.with_name(template.name.removesuffix(TEMPLATE_SUFFIX) + GENERATED_SUFFIX)


def _files(paths: Iterable[Path]) -> list[Path]:
    return sorted(path for path in paths if path.is_file())


def render_registry(
    tag_models: list[str],
    segments: Mapping[str, Mapping[str, Any]] | None = None,
    wecom_limits: WecomLimits | None = None,
) -> str:
    """The registry macros; segments maps each segment to its meta.segment declaration.

    A segment declaration WeCom or segment_membership could not use stops here, naming it.
    """
    segments = segments or {}
    try:
        settings = {name: segment_settings(name, dict(meta)) for name, meta in segments.items()}
        check_wecom_mapping(
            {k: dict(v) for k, v in segments.items()}, wecom_limits or WecomLimits.from_project()
        )
    except SegmentDeclarationError as error:
        raise PrepareError(str(error)) from error
    return (
        f"{{#- {REGISTRY_FORMAT}. Generated by `scrm prepare` from dbt's graph: the tag\n"
        "    models under models/tags/ and the segment models under models/segments/.\n"
        "    Do not edit; it is rewritten whenever they change. -#}\n"
        "{% macro registered_tag_models() -%}\n"
        f"    {{{{ return({_jinja_literal(list(tag_models))}) }}}}\n"
        "{%- endmacro %}\n"
        "\n"
        "{% macro registered_segment_models() -%}\n"
        f"    {{{{ return({_jinja_literal(list(segments))}) }}}}\n"
        "{%- endmacro %}\n"
        "\n"
        "{#- Each segment's meta.segment as declared, to tell when the registry is stale. -#}\n"
        "{% macro registered_segment_declarations() -%}\n"
        f"    {{{{ return({_jinja_literal({k: dict(v) for k, v in segments.items()})}) }}}}\n"
        "{%- endmacro %}\n"
        "\n"
        "{#- Each segment's settings, checked (orchestration/segment_declarations.py). -#}\n"
        "{% macro registered_segment_settings() -%}\n"
        f"    {{{{ return({_jinja_literal(_settings_literal(settings))}) }}}}\n"
        "{%- endmacro %}\n"
    )


def _settings_literal(settings: Mapping[str, SegmentSettings]) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "priority": setting.priority,
            "exclusive": setting.exclusive,
            "holdout_share": setting.holdout_share,
        }
        for name, setting in settings.items()
    }


def _jinja_literal(value: Any) -> str:
    """A Jinja expression for a YAML-like value (JSON text, but Jinja's none/true/false)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        items = ", ".join(
            f"{_jinja_literal(str(k))}: {_jinja_literal(v)}" for k, v in value.items()
        )
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_jinja_literal(item) for item in value) + "]"
    raise PrepareError(f"cannot write {value!r} into the registry macro")


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def _parse(project_dir: Path, profiles_dir: Path) -> dict[str, Any]:
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(
        [
            "parse",
            "--quiet",
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(profiles_dir),
        ]
    )
    if not result.success:
        raise PrepareError(f"dbt parse failed: {result.exception}")
    manifest_path = project_dir / "target" / "manifest.json"
    return json.loads(manifest_path.read_text(encoding="utf-8"))


def prepare_inputs(project_dir: Path, profiles_dir: Path) -> str:
    """A digest of everything a prepare reads: the project's files (the generated ones too),
    the profile, this package's code, the parse's environment and dbt's version."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    files = [
        path
        for path in sorted(project_dir.rglob("*"))
        if path.is_file() and path.relative_to(project_dir).parts[0] not in WRITTEN_BY_DBT
    ]
    files += [profiles_dir / "profiles.yml", *sorted(PACKAGE_DIR.rglob("*.py"))]
    for path in files:
        digest.update(f"{path}\0".encode())
        digest.update(path.read_bytes() if path.is_file() else b"(none)")
    for name in sorted(os.environ):
        if name.startswith(PARSE_ENVIRONMENT_PREFIXES) and name not in NIGHT_VARIABLES:
            digest.update(f"{name}={os.environ[name]}\0".encode())
    for package in ("dbt-core", "dbt-duckdb"):
        digest.update(f"{package}=={version(package)}\0".encode())
    return digest.hexdigest()


def manifest_stamp(project_dir: Path) -> str:
    """The manifest's size and modification time: another parse since rewrote it."""
    manifest = project_dir / "target" / "manifest.json"
    if not manifest.is_file():
        return ""
    stat = manifest.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def prepared_models(project_dir: Path, inputs: str) -> list[str] | None:
    """The tag model names of the last prepare, when it was made from `inputs` and its
    manifest is still dbt's latest; else None."""
    record_path = project_dir / PREPARED_RECORD
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("inputs") != inputs or record.get("manifest") != manifest_stamp(project_dir):
        return None
    return list(record["tag_models"])


def prepare(project_dir: Path, profiles_dir: Path | None = None) -> list[str]:
    """Parse, register tag models and compile rule tags; returns the tag model names.

    Skipped when nothing it reads changed since the last prepare (PREPARED_RECORD).
    Raises tag_rules.RuleError for a bad rule, PrepareError for anything else.
    """
    profiles_dir = profiles_dir or project_dir
    unchanged = prepared_models(project_dir, prepare_inputs(project_dir, profiles_dir))
    if unchanged is not None:
        return unchanged
    models = _prepare(project_dir, profiles_dir)
    record = {
        "inputs": prepare_inputs(project_dir, profiles_dir),
        "manifest": manifest_stamp(project_dir),
        "tag_models": models,
    }
    _write_if_changed(project_dir / PREPARED_RECORD, json.dumps(record, indent=2) + "\n")
    return models


def _prepare(project_dir: Path, profiles_dir: Path) -> list[str]:
    registry_path = project_dir / REGISTRY_MACRO
    rules_dir = project_dir / RULES_MODEL_DIR
    # A fresh checkout has neither generated file: start from empty ones so the first parse
    # succeeds; the tag models are then read from its graph.
    if not registry_path.exists() or REGISTRY_FORMAT not in registry_path.read_text("utf-8"):
        _write_if_changed(registry_path, render_registry([]))
    if not (rules_dir / f"{tag_rules.MODEL_NAME}.sql").exists():
        sql, properties = tag_rules.render_rule_model([], RULES_SOURCE_MODEL)
        _write_if_changed(rules_dir / f"{tag_rules.MODEL_NAME}.sql", sql)
        _write_if_changed(rules_dir / f"_{tag_rules.MODEL_NAME}.yml", properties)

    manifest = _parse(project_dir, profiles_dir)
    models = sql_tag_models(manifest)
    columns = profile_columns(models)
    try:
        limits = WecomLimits.from_project(project_dir)
    except ValueError as error:
        raise PrepareError(str(error)) from error
    changed = _write_if_changed(
        registry_path, render_registry(list(models), segment_models(manifest), limits)
    )
    written = tag_rules.write_rule_model(
        project_dir / RULES_FILE,
        columns,
        rules_dir,
        RULES_SOURCE_MODEL,
        tag_rules.tag_categories(project_dir),
    )
    if changed or written:
        manifest = _parse(project_dir, profiles_dir)
    # After the rule tags are in the graph: the profile documents them too.
    if write_tag_column_properties(project_dir, manifest):
        _parse(project_dir, profiles_dir)
    return list(models)
