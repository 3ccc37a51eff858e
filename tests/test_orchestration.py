"""The Dagster code location: its pure helpers and a snapshot of what it defines."""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
from dagster_dbt import DbtCliResource
from dbt.cli.main import dbtRunner
from dbt.version import __version__ as dbt_core_version
from packaging import version

from orchestration.dagster_home import (
    RUN_HISTORY_VARIABLE,
    RunHistorySettingError,
    dagster_home,
    night_instance,
)
from orchestration.defs.dbt.assets import group_for_fqn, with_column_types
from orchestration.defs.resources import NightlyDbtCliResource
from orchestration.project import (
    DBT_RUNS_DIR,
    DBT_RUNS_KEPT,
    dbt_project,
    dbt_run_dir,
    night_environment,
)
from tests.conftest import TINY_AS_OF, TINY_RAW


def test_a_new_night_reuses_the_parse_and_builds_as_of_its_date(tmp_path, monkeypatch):
    """The night reaches dbt through the environment, read when the SQL is executed: a
    build for another night than the parse's parses nothing again (with --vars, or with the
    environment read while parsing, it would), and its SQL is as of that night, with the
    pinned "now"."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("SCRM_HOME", str(home))
    project = ["--project-dir", str(dbt_project.project_dir)]
    project += ["--profiles-dir", str(dbt_project.profiles_dir)]
    project += ["--target-path", str(tmp_path / "target")]
    for name, value in night_environment("2026-03-30").items():
        monkeypatch.setenv(name, value)
    assert dbtRunner().invoke(["parse", *project]).success
    for name, value in night_environment("2026-03-31", "2026-04-30 12:00:00").items():
        monkeypatch.setenv(name, value)
    events: list[str] = []
    shown = dbtRunner(callbacks=[lambda event: events.append(event.info.name)]).invoke(
        ["show", "--inline", NIGHT_SQL, *project]
    )
    assert shown.success, shown.exception
    assert "PartialParsingSkipParsing" in events  # no file, var or env var changed
    (row,) = shown.result.results[0].agate_table.rows
    assert [str(value) for value in row] == [
        "2026-03-31",
        "2026-04-01 00:00:00",
        "2026-04-30 12:00:00",
    ]


NIGHT_SQL = "select {{ as_of_date() }}, {{ as_of_end() }}, {{ run_started_at_local() }}"


def test_a_nights_dbt_builds_reuse_its_parse(tiny_night):
    """The night's parse (scrm prepare) serves both builds: neither parses the project in
    full again."""
    result, warehouse = tiny_night
    logs = sorted(warehouse.parent.glob(f"{DBT_RUNS_DIR}/*-{result.run_id[:7]}-*/dbt.log"))
    assert [log.parent.name.split("-")[0] for log in logs] == [
        "scrm_dbt_models",
        "scrm_dbt_models_after_predictions",
    ]
    for log in logs:
        # dbt rolls its log over at 10 MB (dbt.log.1 holds the start of a long build).
        text = "".join(part.read_text(encoding="utf-8") for part in log.parent.glob("dbt.log*"))
        # dbt says "enabled" when it re-reads the files whose env_var values differ, and
        # "Nothing changed" when none does: either way, the kept parse.
        assert "Partial parsing enabled" in text or "Nothing changed, skipping partial" in text
        assert "Unable to do partial parsing" not in text
    # The builds wrote their artifacts in the home, none in the project's target/.
    assert not list(dbt_project.project_dir.glob(f"target/*-{result.run_id[:7]}-*"))


def test_run_history_is_kept_in_the_home_unless_it_is_off(tmp_path, monkeypatch):
    """SCRM_RUN_HISTORY: on (the default) records a night in the home's instance, the one
    `make dev` opens; off runs it in memory and leaves the home without one; anything else
    stops the command, naming the variable."""
    # The home's instance sets DAGSTER_HOME; monkeypatch puts it back afterwards.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv(RUN_HISTORY_VARIABLE, "off")
    with night_instance(tmp_path / "scratch") as instance:
        assert instance.is_ephemeral
    assert not (tmp_path / "scratch" / "dagster").exists()
    monkeypatch.delenv(RUN_HISTORY_VARIABLE)
    with night_instance(tmp_path / "home") as instance:
        assert not instance.is_ephemeral
        assert instance.root_directory == str((tmp_path / "home" / "dagster").resolve())
    monkeypatch.setenv(RUN_HISTORY_VARIABLE, "maybe")
    with pytest.raises(RunHistorySettingError, match=r"SCRM_RUN_HISTORY.*maybe"):
        night_instance(tmp_path / "home")


def test_a_step_keeps_its_newest_dbt_run_folders(tmp_path):
    """Each build gets a new folder; a step's older folders beyond the newest DBT_RUNS_KEPT
    are removed first (the new one counts), by age, and another step's folders are left."""
    runs = tmp_path / DBT_RUNS_DIR
    for number in range(DBT_RUNS_KEPT + 2):
        for step in ("scrm_dbt_models", "scrm_dbt_models_after_predictions"):
            folder = runs / f"{step}-run{number:04d}-abcdefg"
            folder.mkdir(parents=True)
            (folder / "dbt.log").write_text("log")
            # Ages in reverse of the names: the pruning goes by age, not by name.
            os.utime(folder, (1_000_000 - number, 1_000_000 - number))
    new = dbt_run_dir(tmp_path, "scrm_dbt_models", "0123456789abcdef")
    assert new.parent == runs and new.name.startswith("scrm_dbt_models-0123456-")
    assert not new.exists()
    kept = sorted(path.name for path in runs.glob("scrm_dbt_models-*"))
    assert kept == [
        f"scrm_dbt_models-run{number:04d}-abcdefg" for number in range(DBT_RUNS_KEPT - 1)
    ]
    assert len(list(runs.glob("scrm_dbt_models_after_predictions-*"))) == DBT_RUNS_KEPT + 2


def test_the_dbt_resource_starts_without_asking_dbt_its_version_or_opening_an_adapter(
    monkeypatch,
):
    """dagster-dbt would run `dbt --version` in a subprocess and open an in-process adapter
    for every build; the nightly resource takes the installed dbt-core's version instead, and
    has no adapter to open (the builds fetch no row counts or column metadata)."""

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"ran {args}")

    monkeypatch.setattr("dagster_dbt.core.resource.check_output", no_subprocess)
    # The stock resource asks dbt: the subprocess is what the nightly one avoids.
    with pytest.raises(AssertionError, match="--version"):
        _ = DbtCliResource(project_dir=dbt_project)._cli_version
    resource = NightlyDbtCliResource(project_dir=dbt_project)
    assert resource._cli_version == version.parse(dbt_core_version)
    assert resource._initialize_dbt_core_adapter(["build"]) is None


def test_a_dbt_builds_materializations_get_the_built_column_types(tmp_path):
    """The built table's columns in its order, typed, with the YAML's descriptions, as its
    post-hook recorded them; other events pass as they are, in order, and a failed build's
    events come before its error."""
    (tmp_path / "warehouse.marts.orders.csv").write_text(
        'column_name,data_type\norder_id,VARCHAR\npaid_cny,"DECIMAL(18,2)"\npaid_on,DATE\n',
        encoding="utf-8",
    )
    key = dg.AssetKey(["marts", "orders"])
    declared = dg.TableSchema(
        columns=[
            dg.TableColumn("paid_cny", "?", description="Paid, in CNY."),
            dg.TableColumn("order_id", "?", description="The order."),
        ]
    )
    spec = dg.AssetSpec(
        key,
        metadata={
            "dagster/table_name": "warehouse.marts.orders",
            "dagster/column_schema": declared,
        },
    )
    unrecorded_key = dg.AssetKey(["marts", "unrecorded"])
    unrecorded = dg.AssetSpec(
        unrecorded_key,
        metadata={"dagster/table_name": "warehouse.marts.unrecorded"},
    )
    outputs = {"marts_orders": key, "marts_unrecorded": unrecorded_key}
    context = SimpleNamespace(
        asset_key_for_output=outputs.__getitem__,
        assets_def=SimpleNamespace(specs_by_key={key: spec, unrecorded_key: unrecorded}),
    )
    check = dg.AssetCheckResult(asset_key=key, check_name="unique_order_id", passed=True)

    def build():
        yield dg.Output(None, output_name="marts_orders", metadata={"unique_id": "model.x"})
        yield check
        yield dg.Output(None, output_name="marts_unrecorded")
        raise RuntimeError("dbt build failed")

    events = []
    with pytest.raises(RuntimeError, match="dbt build failed"):
        for event in with_column_types(build(), tmp_path, context):
            events.append(event)
    output, passed, without_record = events
    schema = output.metadata["dagster/column_schema"].schema
    assert [(column.name, column.type, column.description) for column in schema.columns] == [
        ("order_id", "VARCHAR", "The order."),
        ("paid_cny", "DECIMAL(18,2)", "Paid, in CNY."),
        ("paid_on", "DATE", None),
    ]
    assert output.metadata["unique_id"].text == "model.x"
    assert passed is check
    assert "dagster/column_schema" not in without_record.metadata


def test_group_for_fqn():
    assert group_for_fqn(["scrm", "staging", "raw", "stg_raw__orders"]) == "staging_raw"
    assert group_for_fqn(["scrm", "marts", "core", "fct_orders"]) == "marts_core"
    assert group_for_fqn(["scrm", "intermediate", "int_orders_validated"]) == "intermediate"


def test_definitions_snapshot():
    """An accidental rename of an asset, job or schedule shows up here as a diff."""
    from orchestration.definitions import defs

    definitions = defs()
    keys = sorted(
        k.to_user_string() for k in definitions.resolve_asset_graph().get_all_asset_keys()
    )
    assert keys == [
        "audit/customer_lifecycle_inputs",
        "audit/customer_product_repurchase_inputs",
        "audit/int_known_customers",
        "audit/int_known_orders",
        "audit/int_known_products",
        "exports/segment_exports",
        "intermediate/int_customer_first_activity",
        "intermediate/int_days",
        "intermediate/int_friend_events_validated",
        "intermediate/int_group_members_validated",
        "intermediate/int_identity_ids",
        "intermediate/int_identity_links_as_of",
        "intermediate/int_identity_links_from_sources",
        "intermediate/int_identity_links_validated",
        "intermediate/int_identity_persons",
        "intermediate/int_identity_persons_night_before",
        "intermediate/int_interactions_validated",
        "intermediate/int_order_items_validated",
        "intermediate/int_orders_validated",
        "intermediate/int_staff_tags_validated",
        "marts/campaign_lift",
        "marts/campaign_lift_pooled",
        "marts/cross_sell_candidates",
        "marts/customer_erasures",
        "marts/customer_lifecycle",
        "marts/customer_lifecycle_history",
        "marts/customer_product_repurchase",
        "marts/customer_profile",
        "marts/customer_profile_history",
        "marts/customer_repurchase",
        "marts/customer_rfm",
        "marts/customer_staff_tags",
        "marts/customer_stage_reasons",
        "marts/customer_tags",
        "marts/customer_tags_history",
        "marts/customer_timeline",
        "marts/customer_topic_viewing",
        "marts/dim_channels",
        "marts/dim_customer_history",
        "marts/dim_customers",
        "marts/dim_groups",
        "marts/dim_product_history",
        "marts/dim_products",
        "marts/dim_staff",
        "marts/dim_tag_library",
        "marts/fct_friend_events",
        "marts/fct_group_member_events",
        "marts/fct_interactions",
        "marts/fct_order_items",
        "marts/fct_orders",
        "marts/fct_purchase_days",
        "marts/fct_staff_tag_events",
        "marts/friend_metrics_daily",
        "marts/group_memberships",
        "marts/group_metrics_daily",
        "marts/identity_blocked_ids",
        "marts/identity_large_persons",
        "marts/identity_link_status",
        "marts/lifecycle_flow",
        "marts/next_best_action",
        "marts/person_ids",
        "marts/person_merges",
        "marts/quarantine_customers",
        "marts/quarantine_friend_events",
        "marts/quarantine_group_members",
        "marts/quarantine_groups",
        "marts/quarantine_identity_links",
        "marts/quarantine_interactions",
        "marts/quarantine_order_items",
        "marts/quarantine_orders",
        "marts/quarantine_products",
        "marts/quarantine_staff_tags",
        "marts/quarantine_tag_library",
        "marts/raw_row_accounting",
        "marts/segment_catalog",
        "marts/segment_membership",
        "marts/staff_deletion_alerts",
        "marts/staff_first_responses",
        "marts/staff_metrics_daily",
        "marts/staff_metrics_window",
        "marts/staff_tag_conflicts",
        "marts/tag_catalog",
        "marts/tag_changes",
        "marts/tag_unseen_values",
        "marts/wecom_customer_remarks",
        "marts/wecom_friendship_tags",
        "predictive/btyd_model_fits",
        "predictive/customer_predictions",
        "predictive/model_backtest",
        "published/warehouse",
        "raw/customers",
        "raw/friend_events",
        "raw/group_members",
        "raw/groups",
        "raw/identity_links",
        "raw/interactions",
        "raw/order_items",
        "raw/orders",
        "raw/products",
        "raw/staff_tags",
        "raw/tag_library",
        "reference/category_affinity",
        "reference/city_tiers",
        "reference/next_best_actions",
        "reference/staff_tag_contradictions",
        "reference/topic_categories",
        "reports/nightly_report",
        "row_accounting_report",
        "segments/seg_about_to_go_silent",
        "segments/seg_buyers_not_friends",
        "segments/seg_car_seat_cross_sell",
        "segments/seg_churned",
        "segments/seg_high_value",
        "segments/seg_identity_baoma",
        "segments/seg_identity_office_worker",
        "segments/seg_identity_student",
        "segments/seg_left_group_this_week",
        "segments/seg_mask_repurchase_due",
        "segments/seg_membership_invite",
        "segments/seg_never_bought",
        "staging/stg_predictive__btyd_model_fits",
        "staging/stg_predictive__customer_predictions",
        "staging/stg_raw__customers",
        "staging/stg_raw__friend_events",
        "staging/stg_raw__group_members",
        "staging/stg_raw__groups",
        "staging/stg_raw__identity_links",
        "staging/stg_raw__interactions",
        "staging/stg_raw__order_items",
        "staging/stg_raw__orders",
        "staging/stg_raw__products",
        "staging/stg_raw__staff_tags",
        "staging/stg_raw__tag_library",
        "tags/tag_acquisition",
        "tags/tag_category_preference",
        "tags/tag_channel_preference",
        "tags/tag_churn_risk",
        "tags/tag_content_viewing",
        "tags/tag_demographics",
        "tags/tag_groups",
        "tags/tag_interaction",
        "tags/tag_lifecycle",
        "tags/tag_orders",
        "tags/tag_price_sensitivity",
        "tags/tag_profile_base",
        "tags/tag_purchase_intent",
        "tags/tag_rules",
        "tags/tag_staff_tags",
    ]
    assert [job.name for job in definitions.jobs] == ["nightly"]
    (schedule,) = definitions.schedules
    resolved = definitions.resolve_schedule_def(schedule.name)
    assert (resolved.name, resolved.cron_schedule, resolved.execution_timezone) == (
        "nightly_at_0200_shanghai",
        "0 2 * * *",
        "Asia/Shanghai",
    )


def test_dbt_tests_become_asset_checks():
    from orchestration.definitions import defs

    checks = {key.to_user_string() for key in defs().resolve_asset_graph().asset_check_keys}
    assert "marts/raw_row_accounting:accepted_values_raw_row_accounting_is_balanced__True" in checks
    # The churn guard reports as a check on the exports (docs/segments.md).
    assert "exports/segment_exports:export_guard" in checks
    # Source tests check the raw assets (not observations, each with a warning).
    assert "raw/orders:source_not_null_raw_orders__raw_row_number" in checks


def test_every_asset_is_in_a_named_group_and_described_in_plain_text():
    """The Dagster UI's asset list: no `default` group; a description is Markdown, where
    `<as-of date>` would be swallowed as an HTML tag."""
    from orchestration.definitions import defs

    graph = defs().resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert "default" not in groups.values()
    assert {key: group for key, group in groups.items() if key.startswith("reference/")} == {
        "reference/category_affinity": "reference",
        "reference/city_tiers": "reference",
        "reference/next_best_actions": "reference",
        "reference/staff_tag_contradictions": "reference",
        "reference/topic_categories": "reference",
    }
    outside_code = {
        key.to_user_string(): re.sub(r"```.*?```", "", graph.get(key).description or "", flags=re.S)
        for key in graph.get_all_asset_keys()
    }
    assert [key for key, text in outside_code.items() if re.search(r"<[a-z]", text)] == []


def test_the_dagster_ui_shows_a_night_the_cli_ran(tiny_night, tmp_path):
    """`make dev` opens the home's own Dagster instance: the UI, in headless chromium, shows
    the CLI's night as a materialized partition, with its run and the report's metadata."""
    from tests.test_nightly_report import chromium_or_skip

    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    result, warehouse = tiny_night
    home = warehouse.parent
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home(home)),
        "SCRM_HOME": str(home),
        "SCRM_RAW_DIR": str(TINY_RAW),
    }
    # From the repository's root, the code location its pyproject names, as `dagster dev` loads
    # it (under pytest-xdist the dbt project is a copy elsewhere, SCRM_DBT_PROJECT_DIR).
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster_webserver",
            "--read-only",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=Path(__file__).resolve().parent.parent,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=(log := (tmp_path / "webserver.log").open("w")),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{base}/server_info", server, tmp_path / "webserver.log")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium)
            page = browser.new_page()

            def text_of(path: str, expected: str) -> str:
                page.goto(base + path)
                page.get_by_text(expected).first.wait_for(timeout=60_000)
                return page.inner_text("body")

            partitions = "/assets/marts/customer_rfm?view=partitions"
            assert "Materialized (1)" in text_of(partitions, "Materialized (1)")
            night = f"/assets/reports/nightly_report?view=partitions&partition={TINY_AS_OF}"
            # The page draws "None" until the partition's materialization has loaded.
            report = text_of(night, result.run_id[:8])
            assert "Latest materialization" in report
            assert str(home / "reports" / f"{TINY_AS_OF}.html") in report
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def wait_until_serving(url: str, server: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"dagster-webserver exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"dagster-webserver did not serve {url} within {seconds} s")
