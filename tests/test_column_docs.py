"""Every column BI users read is described: in dbt docs (the manifest) and in Dagster."""

from __future__ import annotations

import json

import duckdb
import sqlalchemy as sa
import yaml

from orchestration.project import dbt_project
from orchestration.tag_registry import render_tag_column_properties
from tests.conftest import connect_warehouse

# The marts BI users query in the published copy (docs/bi.md): the profile and its tags, the
# customer-value marts, the segment marts, the staff marts, the catalogs and the data-quality
# tables, and the tag and segment models of schemas `tags` and `segments`.
CONSUMER_MARTS = {
    # tags
    "customer_profile",
    "customer_profile_history",
    "customer_tags",
    "customer_tags_history",
    "tag_catalog",
    "tag_changes",
    "tag_unseen_values",
    "customer_topic_viewing",
    "staff_tag_conflicts",
    # customer value: RFM, lifecycle, repurchase
    "customer_rfm",
    "customer_lifecycle",
    "customer_lifecycle_history",
    "lifecycle_flow",
    "customer_repurchase",
    "customer_product_repurchase",
    "cross_sell_candidates",
    # segments and activation
    "segment_catalog",
    "segment_membership",
    "campaign_lift",
    "campaign_lift_pooled",
    "next_best_action",
    "wecom_customer_remarks",
    "wecom_friendship_tags",
    # staff performance
    "staff_metrics_daily",
    "staff_metrics_window",
    "staff_first_responses",
    "staff_deletion_alerts",
    # data quality
    "raw_row_accounting",
    "customer_erasures",
    "quarantine_customers",
    "quarantine_products",
    "quarantine_orders",
    "quarantine_order_items",
    "quarantine_friend_events",
    "quarantine_interactions",
    "quarantine_groups",
    "quarantine_group_members",
    "quarantine_staff_tags",
    "quarantine_tag_library",
}
# Schemas whose every model BI users see: the tag models, the segment models.
CONSUMER_SCHEMAS = {"tags", "segments"}
# Folders whose every model is described too: the facts and dimensions every mart is built
# from (also in the published copy), and staging, where a raw column becomes a typed one.
DESCRIBED_FOLDERS = {("marts", "core"), ("staging", "raw")}
# What those folders hold, so that a model moved out of them shows here.
CORE_AND_STAGING = {
    "fct_orders",
    "fct_order_items",
    "fct_friend_events",
    "fct_interactions",
    "fct_purchase_days",
    "dim_customers",
    "dim_products",
    "dim_customer_history",
    "dim_product_history",
    "dim_channels",
    "dim_staff",
    "customer_timeline",
    "friend_metrics_daily",
    "dim_groups",
    "fct_group_member_events",
    "group_memberships",
    "group_metrics_daily",
    "dim_tag_library",
    "fct_staff_tag_events",
    "customer_staff_tags",
    "stg_raw__customers",
    "stg_raw__products",
    "stg_raw__orders",
    "stg_raw__order_items",
    "stg_raw__friend_events",
    "stg_raw__interactions",
    "stg_raw__identity_links",
    "stg_raw__groups",
    "stg_raw__group_members",
    "stg_raw__staff_tags",
    "stg_raw__tag_library",
}


def manifest_models() -> dict[str, dict]:
    manifest = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }


def in_described_folder(node: dict) -> bool:
    return tuple(node["fqn"][1:3]) in DESCRIBED_FOLDERS


def described_models(models: dict[str, dict]) -> dict[str, dict]:
    """The models every column of which must be described."""
    return {
        name: node
        for name, node in models.items()
        if name in CONSUMER_MARTS or node["schema"] in CONSUMER_SCHEMAS or in_described_folder(node)
    }


def test_the_described_folders_are_core_and_staging():
    models = manifest_models()
    assert {name for name, node in models.items() if in_described_folder(node)} == (
        CORE_AND_STAGING
    )


def test_every_declared_column_of_a_described_model_is_described():
    models = manifest_models()
    assert not CONSUMER_MARTS - set(models)
    undescribed = sorted(
        f"{name}.{column}"
        for name, node in described_models(models).items()
        for column, properties in node["columns"].items()
        if not (properties.get("description") or "").strip()
    )
    assert undescribed == []


# The intermediate models: staging's rows with the reference checks, and what the checks find
# per id (int_known_*). They pass staging's columns on as they are (described there) and list in
# YAML those they test or add: those are described.
INTERMEDIATE = {
    "int_customer_first_activity",
    "int_days",
    "int_known_customers",
    "int_known_orders",
    "int_known_products",
    "int_orders_validated",
    "int_order_items_validated",
    "int_friend_events_validated",
    "int_interactions_validated",
    "int_identity_links_validated",
    "int_identity_links_as_of",
    "int_identity_ids",
    "int_identity_persons",
    "int_identity_persons_night_before",
    "int_identity_links_from_sources",
    "int_group_members_validated",
    "int_staff_tags_validated",
}


def test_every_declared_column_of_an_intermediate_model_is_described():
    models = manifest_models()
    intermediate = {name: node for name, node in models.items() if node["fqn"][1] == "intermediate"}
    assert set(intermediate) == INTERMEDIATE
    undescribed = sorted(
        f"{name}.{column}"
        for name, node in intermediate.items()
        for column, properties in node["columns"].items()
        if not (properties.get("description") or "").strip()
    )
    assert undescribed == []
    # The same words as staging's, from the same doc blocks.
    staging = models["stg_raw__orders"]["columns"]["_raw_row_number"]["description"]
    assert intermediate["int_orders_validated"]["columns"]["_raw_row_number"]["description"] == (
        staging
    )


def test_every_column_in_the_warehouse_is_described(tiny_warehouse):
    """The manifest knows only the columns YAML lists: compare with the built tables (staging's
    in the pipeline's file, attached)."""
    models = described_models(manifest_models())
    with connect_warehouse(tiny_warehouse, read_only=True) as connection:
        rows = connection.execute(
            "select schema_name, table_name, column_name from duckdb_columns()"
        ).fetchall()
    built = {}
    for schema, table, column in rows:
        built.setdefault((schema, table), []).append(column)
    undescribed = []
    for name, node in models.items():
        columns = built.get((node["schema"], node["alias"]))
        assert columns, f"{name} is not in the warehouse"
        undescribed += [
            f"{name}.{column}"
            for column in columns
            if not (node["columns"].get(column, {}).get("description") or "").strip()
        ]
    assert sorted(undescribed) == []


def test_a_column_that_means_the_same_everywhere_is_described_once():
    """Doc blocks (models/_columns__docs.md): the same words in every model that has it."""
    models = manifest_models()

    def described(name: str, column: str) -> str:
        return models[name]["columns"][column]["description"].strip()

    gender = "M, F or U (unknown), from raw `customers.gender`; null when absent or not one of"
    for name in ("dim_customers", "dim_customer_history", "stg_raw__customers"):
        assert described(name, "gender").startswith(gender), name
    staff = "The staff member, by their WeCom user id as the brand's exports give it"
    for name in ("dim_staff", "fct_friend_events", "friend_metrics_daily"):
        assert described(name, "staff_id").startswith(staff), name
    # A column narrower in one model says how, then the shared words.
    assert described("fct_interactions", "staff_id").startswith(
        "The staff member involved; null for an interaction without staff. " + staff
    )
    assert described("fct_orders", "is_net_paid") == described("fct_order_items", "is_net_paid")
    assert described("stg_raw__orders", "raw_paid_ts") == (
        "The raw value as it came, text, before typing: kept for the quarantine."
    )


def test_the_profile_carries_each_tags_declaration():
    models = manifest_models()
    declared = models["tag_orders"]["columns"]["paid_order_count"]
    for name in ("customer_profile", "customer_profile_history", "tag_profile_base"):
        column = models[name]["columns"]["paid_order_count"]
        assert declared["description"] in column["description"]
        assert column["description"].startswith("支付订单数 (consumption tag). ")
        assert column["config"]["meta"]["display_name"] == "支付订单数"
    rule = models["customer_profile"]["columns"]["high_value"]["description"]
    assert "Rule tag (tag_rules.yml): paid_order_count > 5 and paid_amount_cny > 5000" in rule
    # tag_profile_base holds the SQL tags only: rule tags are computed from it.
    assert "high_value" not in models["tag_profile_base"]["columns"]


def test_dagster_shows_the_profiles_column_descriptions():
    import dagster as dg

    from orchestration.definitions import defs

    graph = defs().resolve_asset_graph()
    node = graph.get(dg.AssetKey(["marts", "customer_profile"]))
    schema = node.metadata["dagster/column_schema"]
    columns = {column.name: column for column in schema.columns}
    assert columns["paid_order_count"].description.startswith("支付订单数 (consumption tag). ")
    assert all(column.description for column in schema.columns)


def test_dagster_shows_each_columns_type_as_built(tiny_night):
    """A night's materializations carry the built tables' column types, with the YAML's
    descriptions: Dagster's column panel shows "?" for a type dbt's YAML does not declare."""
    result, _ = tiny_night
    builds = {
        node: {
            materialization.asset_key.to_user_string(): materialization.metadata[
                "dagster/column_schema"
            ].schema
            for materialization in result.asset_materializations_for_node(node)
        }
        for node in ("scrm_dbt_models", "scrm_dbt_models_after_predictions")
    }
    schemas = {**builds["scrm_dbt_models"], **builds["scrm_dbt_models_after_predictions"]}
    rfm = {column.name: column for column in schemas["marts/customer_rfm"].columns}
    assert rfm["customer_id"].type == "VARCHAR"
    assert rfm["recency_days"].type == "BIGINT"
    assert rfm["monetary_cny"].type == "DECIMAL(38,2)"
    assert rfm["last_purchase_on"].type == "DATE"
    assert rfm["customer_id"].description.startswith("The customer (text). From the facts on")
    # The built table's columns, in its order.
    assert list(rfm) == [
        "customer_id",
        "first_purchase_on",
        "last_purchase_on",
        "recency_days",
        "frequency_orders",
        "monetary_cny",
        "r_score",
        "f_score",
        "m_score",
        "rfm_cell",
        "rfm_class",
        "rfm_segment",
        "btyd_frequency",
        "btyd_recency",
        "btyd_t",
        "btyd_monetary",
        "as_of_date",
    ]
    # Staging, in the pipeline's file; a model of the second build, after the predictions.
    orders = {column.name: column.type for column in schemas["staging/stg_raw__orders"].columns}
    assert orders["order_id"] == "VARCHAR"
    assert orders["ordered_at"] == "TIMESTAMP"
    membership = builds["scrm_dbt_models_after_predictions"]["marts/segment_membership"]
    assert {column.name: column.type for column in membership.columns}["as_of_date"] == "DATE"
    untyped = sorted(
        f"{key}.{column.name}"
        for key, schema in schemas.items()
        for column in schema.columns
        if column.type in ("", "?")
    )
    assert untyped == []


def test_bi_tools_read_the_descriptions_as_comments(tiny_warehouse):
    """persist_docs: in the copy BI tools open, every described model's table and columns
    carry its YAML descriptions as their comments (what Metabase and DBeaver show)."""
    models = described_models(manifest_models())
    published = tiny_warehouse.parent / "published" / "warehouse.duckdb"
    with duckdb.connect(str(published), read_only=True) as connection:
        tables = {
            (schema, table): comment
            for schema, table, comment in connection.execute(
                "select schema_name, table_name, comment from duckdb_tables()"
            ).fetchall()
        }
        columns = {
            (schema, table, column): comment
            for schema, table, column, comment in connection.execute(
                "select schema_name, table_name, column_name, comment from duckdb_columns()"
            ).fetchall()
        }
    # What a SQLAlchemy BI tool reflects (Superset's dataset editor).
    engine = sa.create_engine(f"duckdb:///{published}", connect_args={"read_only": True})
    try:
        inspector = sa.inspect(engine)
        reflected_table = inspector.get_table_comment("customer_rfm", schema="marts")["text"]
        reflected = {
            column["name"]: column["comment"]
            for column in inspector.get_columns("customer_rfm", schema="marts")
        }
    finally:
        engine.dispose()
    rfm = models["customer_rfm"]
    assert reflected_table == rfm["description"]
    assert reflected["customer_id"] == rfm["columns"]["customer_id"]["description"]
    assert tables[("marts", "customer_rfm")] == rfm["description"]
    assert tables[("marts", "customer_rfm")].startswith("One row per customer")
    comment = columns[("marts", "customer_rfm", "customer_id")]
    assert comment == rfm["columns"]["customer_id"]["description"]
    assert comment.startswith("The customer (text). From the facts on it is the person")
    assert columns[("marts", "customer_profile", "paid_order_count")].startswith(
        "支付订单数 (consumption tag). "
    )
    published_models = {
        name: node for name, node in models.items() if (node["schema"], node["alias"]) in tables
    }
    assert {"customer_profile", "segment_membership", "tag_catalog"} <= set(published_models)
    uncommented = sorted(
        f"{name}.{column}"
        for name, node in published_models.items()
        for (schema, table, column), comment in columns.items()
        if (schema, table) == (node["schema"], node["alias"]) and not comment
    )
    assert uncommented == []


MANIFEST = {
    "nodes": {
        "model.scrm.tag_orders": {
            "resource_type": "model",
            "name": "tag_orders",
            "fqn": ["scrm", "tags", "consumption", "tag_orders"],
            "columns": {
                "customer_id": {"description": "The customer."},
                "refund_rate": {
                    "description": "Refunded / paid orders; null without a paid order",
                    "config": {
                        "meta": {
                            "tag": {
                                "category": "consumption",
                                "display_name": "退款率",
                                "value_type": "number",
                                "min_value": 0,
                                "max_value": 1,
                                "owner": "crm-analytics",
                            }
                        }
                    },
                },
            },
        },
        "model.scrm.tag_demographics": {
            "resource_type": "model",
            "name": "tag_demographics",
            "fqn": ["scrm", "tags", "basic_attributes", "tag_demographics"],
            "columns": {
                "gender": {
                    "description": "M, F or {{ unknown }}.",
                    "meta": {
                        "tag": {
                            "category": "basic_attributes",
                            "display_name": "性别",
                            "value_type": "text",
                            "allowed_values": ["M", "F", "U"],
                            "owner": "crm-analytics",
                        }
                    },
                },
            },
        },
        "model.scrm.tag_rules": {
            "resource_type": "model",
            "name": "tag_rules",
            "fqn": ["scrm", "tags", "rules", "tag_rules"],
            "columns": {
                "big_spender": {
                    "description": "Paid more than 5,000 CNY.",
                    "config": {
                        "meta": {
                            "tag": {
                                "category": "lifecycle",
                                "display_name": "大客户",
                                "value_type": "boolean",
                                "allowed_values": [True, False],
                                "rule": "paid_amount_cny > 5000",
                                "owner": "crm-ops",
                            }
                        }
                    },
                },
            },
        },
    }
}

TEMPLATE = """
version: 2
models:
  - name: profile
    config: {meta: {tag_columns: all}}
    columns:
      - name: customer_id
        description: The customer.
      - name: as_of_date
        description: The night.
  - name: base
    config: {meta: {tag_columns: sql}}
  - name: other
    columns:
      - name: customer_id
"""


def test_render_tag_column_properties():
    rendered = render_tag_column_properties(TEMPLATE, MANIFEST)
    assert rendered.startswith("# Generated by `scrm prepare`")
    profile, base, other = yaml.safe_load(rendered)["models"]
    # Category order (basic_attributes, lifecycle, consumption), after the key column.
    assert [column["name"] for column in profile["columns"]] == [
        "customer_id",
        "gender",
        "big_spender",
        "refund_rate",
        "as_of_date",
    ]
    gender, big_spender, refund_rate = profile["columns"][1:4]
    assert gender["description"] == (
        "{% raw %}性别 (basic_attributes tag). M, F or {{ unknown }}. Tag computed in "
        "tag_demographics. Values: M, F, U. Owner: crm-analytics.{% endraw %}"
    )
    assert big_spender["description"] == (
        "大客户 (lifecycle tag). Paid more than 5,000 CNY. Rule tag (tag_rules.yml): "
        "paid_amount_cny > 5000. Values: true, false. Owner: crm-ops."
    )
    assert refund_rate["description"] == (
        "退款率 (consumption tag). Refunded / paid orders; null without a paid order. Tag "
        "computed in tag_orders. Number at least 0 and at most 1. Owner: crm-analytics."
    )
    assert refund_rate["config"] == {
        "meta": {"display_name": "退款率", "tag_category": "consumption", "tag_model": "tag_orders"}
    }
    # No key column: the tags come first. Rule tags only where asked for.
    assert [column["name"] for column in base["columns"]] == ["gender", "refund_rate"]
    assert other["columns"] == [{"name": "customer_id"}]


def test_a_quarantine_column_is_described_from_the_raw_contract():
    manifest = {
        "nodes": {},
        "sources": {
            "source.scrm.raw.products": {
                "source_name": "raw",
                "name": "products",
                "columns": {"price": {"description": "List price in CNY."}},
            }
        },
    }
    template = """
models:
  - name: quarantine_products
    config: {meta: {raw_source: products}}
    columns:
      - {name: price}
      - {name: _source_file, description: The file.}
"""
    (model,) = yaml.safe_load(render_tag_column_properties(template, manifest))["models"]
    assert model["columns"] == [
        {
            "name": "price",
            "description": "As it came in raw products.price, text before any typing or "
            "check: List price in CNY.",
        },
        {"name": "_source_file", "description": "The file."},
    ]
