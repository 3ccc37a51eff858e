"""Operating the nightly job: a run killed mid-way, a re-run, and a backfill of past nights;
what the CLI prints and checks, and what the home's Dagster instance keeps of a night.

The nights continue the customer-story home of conftest (nights 2026-06-29 and 2026-06-30
published) in a copy, so the fixture's own home is left as it is.
"""

import csv
import hashlib
import importlib.metadata
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner

from orchestration.cli import main
from orchestration.dagster_home import RUN_HISTORY_VARIABLE
from orchestration.publishing.warehouse import PUBLISHED_NAME, published_night
from tests.conftest import (
    CUSTOMER_MARTS_RAW,
    CUSTOMER_MARTS_RUN_STARTED_AT,
    TINY_AS_OF,
    TINY_RAW,
    query,
)

NEXT_NIGHT = "2026-07-01"
BACKFILLED = ("2026-06-29", "2026-06-30")


def scrm(home: Path, *arguments: str) -> list[str]:
    return [
        sys.executable, "-m", "orchestration.cli", *arguments,
        "--raw", str(CUSTOMER_MARTS_RAW), "--home", str(home),
        "--run-started-at", CUSTOMER_MARTS_RUN_STARTED_AT,
    ]  # fmt: skip


def environment(home: Path) -> dict[str, str]:
    """The CLI's environment: the home, the default language (Chinese) whatever this
    process's SCRM_LANG, and the runs kept in the home's Dagster instance, as by default."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name not in {"SCRM_LANG", RUN_HISTORY_VARIABLE}
    }
    return {**inherited, "SCRM_HOME": str(home)}


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under root (symlinks followed), by relative path."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.startswith(".publish")
    }


def data_files(night_dir: Path) -> dict[str, str]:
    """The night's exported files, without the manifest (its run id and time differ)."""
    return {
        name: digest for name, digest in tree_digest(night_dir).items() if name != "manifest.json"
    }


@pytest.fixture(scope="module")
def later_home(customer_marts_warehouse, tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("operations") / "home"
    shutil.copytree(customer_marts_warehouse.parent, home, symlinks=True)
    return home


def test_a_run_killed_mid_build_leaves_the_published_night_and_a_rerun_succeeds(later_home):
    published = later_home / "published"
    before = {
        "published": tree_digest(published),
        "exports": tree_digest(later_home / "exports"),
    }
    assert published_night(published) == date.fromisoformat(BACKFILLED[-1])
    run = subprocess.Popen(
        scrm(later_home, "run", "--as-of", NEXT_NIGHT, "--verbose"),
        env=environment(later_home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # dbt runs as a child process: kill the whole group
    )
    seen = []
    deadline = time.monotonic() + 300
    for line in run.stdout:
        seen.append(line)
        if "Running dbt command" in line or time.monotonic() > deadline:
            break
    time.sleep(3)  # well inside the dbt build
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    assert any("Running dbt command" in line for line in seen), "".join(seen[-20:])
    assert run.returncode == -signal.SIGKILL

    assert tree_digest(published) == before["published"]
    assert tree_digest(later_home / "exports") == before["exports"]
    assert not (later_home / "exports" / NEXT_NIGHT).exists()

    rerun = subprocess.run(
        scrm(later_home, "run", "--as-of", NEXT_NIGHT),
        env=environment(later_home),
        capture_output=True,
        text=True,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert published_night(published) == date.fromisoformat(NEXT_NIGHT)
    assert (later_home / "exports" / NEXT_NIGHT / "manifest.json").is_file()

    # Without --verbose: a line per step and the summary; Dagster's events and dbt's output
    # went to the night's log.
    lines = rerun.stdout.splitlines()
    assert rerun.stderr == ""
    assert not [line for line in lines if " - DEBUG - " in line or "Running with dbt" in line]
    steps = [line.split()[1] for line in lines if line.startswith("  [")]
    assert steps == [
        "raw_sources",
        "scrm_dbt_models",
        "btyd_predictions",
        "row_accounting_report",
        "scrm_dbt_models_after_predictions",
        "exports__segment_exports",
        "published__warehouse",
        "reports__nightly_report",
    ], rerun.stdout
    # In Chinese, the default (the English lines: the stubbed nights' tests below).
    assert lines[0] == (
        f"{NEXT_NIGHT} 这一晚：原始数据 {CUSTOMER_MARTS_RAW.resolve()}\uff0c主目录 "
        f"{later_home.resolve()}"
    )
    assert lines[1].startswith("  启动（dbt 解析、加载定义）  ")
    assert lines[-7].startswith(f"{NEXT_NIGHT} 这一晚已构建\uff0c用时 ")
    summary = {name: value.strip() for name, value in (line.split("：", 1) for line in lines[-6:])}
    home = later_home.resolve()
    assert summary["  数仓"].startswith(f"{home / 'warehouse.duckdb'}（暂存层：")
    assert summary["  报告"] == f"{home / 'reports' / NEXT_NIGHT}.html"
    assert summary["  导出"] == f"{home / 'exports' / NEXT_NIGHT}/"
    assert summary["  BI 副本"].startswith(
        f"{home / 'published' / PUBLISHED_NAME}（{NEXT_NIGHT} 这一晚）\uff0c"
    )
    (log,) = (later_home / "logs").glob(f"night-{NEXT_NIGHT}-*.log")
    assert "Running with dbt" in log.read_text(encoding="utf-8")


def test_a_cli_night_is_in_the_homes_dagster_instance(later_home, monkeypatch):
    """What `make dev` shows: the run, the partition materialized, the report's metadata."""
    import dagster as dg

    monkeypatch.setenv("DAGSTER_HOME", str(later_home / "dagster"))
    report = dg.AssetKey(["reports", "nightly_report"])
    with dg.DagsterInstance.get() as instance:
        # The fixture's two nights (run in-process), the killed run and its rerun.
        runs = instance.get_runs(dg.RunsFilter(job_name="nightly"))
        partitions = sorted(run.tags["dagster/partition"] for run in runs)
        assert partitions == [*BACKFILLED, NEXT_NIGHT, NEXT_NIGHT]
        assert instance.get_materialized_partitions(report) == {*BACKFILLED, NEXT_NIGHT}
        assert instance.get_materialized_partitions(dg.AssetKey(["marts", "customer_profile"])) == {
            *BACKFILLED,
            NEXT_NIGHT,
        }
        event = instance.get_latest_materialization_event(report)
    materialization = event.asset_materialization
    assert materialization.partition == NEXT_NIGHT
    assert materialization.metadata["report"] == dg.MetadataValue.path(
        str(later_home.resolve() / "reports" / f"{NEXT_NIGHT}.html")
    )
    assert materialization.metadata["held"] == dg.MetadataValue.bool(False)


def test_scrm_sql_reads_the_warehouse_read_only(later_home):
    warehouse = CliRunner().invoke(
        main,
        ["sql", "--home", str(later_home), "select max(as_of_date) from marts.customer_profile"],
    )
    assert warehouse.exit_code == 0, warehouse.output
    assert NEXT_NIGHT in warehouse.output
    # Staging lives in the pipeline file beside it, attached read-only too.
    staging = CliRunner().invoke(
        main, ["sql", "--home", str(later_home), "select count(*) from stg_raw__orders"]
    )
    assert staging.exit_code == 0, staging.output
    refused = CliRunner().invoke(
        main,
        ["sql", "--home", str(later_home), "--published", "create table x (y int)"],
        env={"SCRM_LANG": None},
    )
    assert refused.exit_code == 1
    # The CLI's words in Chinese; DuckDB's error as DuckDB writes it.
    assert refused.output.startswith("错误：") and "read-only" in refused.output


def test_a_backfill_republishes_what_the_nights_published(customer_marts_warehouse, later_home):
    original = customer_marts_warehouse.parent
    nights_sql = ", ".join(f"'{night}'" for night in BACKFILLED)
    membership = (
        "select as_of_date, segment_name, customer_id from marts.segment_membership "
        f"where as_of_date in ({nights_sql}) order by all"
    )
    assert published_night(later_home / "published") == date.fromisoformat(NEXT_NIGHT)

    backfill = subprocess.run(
        scrm(later_home, "backfill", "--from", BACKFILLED[0], "--to", BACKFILLED[-1]),
        env=environment(later_home),
        capture_output=True,
        text=True,
        check=False,
    )
    assert backfill.returncode == 0, backfill.stdout[-3000:] + backfill.stderr[-3000:]
    assert "已补跑 2 晚：2026-06-29 至 2026-06-30" in backfill.stdout.splitlines()

    for night in BACKFILLED:
        republished = later_home / "exports" / night
        assert data_files(republished) == data_files(original / "exports" / night), night
        manifest = (republished / "manifest.json").read_text(encoding="utf-8")
        assert manifest != (original / "exports" / night / "manifest.json").read_text("utf-8")
    assert query(later_home / "warehouse.duckdb", membership) == query(
        customer_marts_warehouse, membership
    )
    # BI tools keep the newest night: the backfill did not put an older one in their place.
    assert published_night(later_home / "published") == date.fromisoformat(NEXT_NIGHT)
    assert query(
        later_home / "published" / PUBLISHED_NAME,
        "select distinct as_of_date from marts.customer_profile",
    ) == [(date.fromisoformat(NEXT_NIGHT),)]


@pytest.mark.night
def test_a_failed_night_ends_with_its_cause(tmp_path):
    """The raw loader's error is the last line, after the step that failed; no traceback."""
    raw = tmp_path / "raw"
    shutil.copytree(TINY_RAW, raw)
    with (raw / "orders.csv").open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        del row["customer_id"]
    with (raw / "orders.csv").open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    home = tmp_path / "home"
    arguments = ["--raw", str(raw), "--home", str(home), "--as-of", TINY_AS_OF]
    failed = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run", *arguments],
        env=environment(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    assert failed.returncode == 1
    lines = failed.stdout.splitlines()
    # In the operator's language (Chinese, the default); the step, path and columns as they are.
    assert lines[-1].startswith(
        f"错误：raw_sources: {raw / 'orders.csv'}：缺少必需的列：customer_id"
        "（文件中的列：order_id, order_ts, "
    ), failed.stdout
    assert lines[-3].split()[:3] == ["[1/8]", "raw_sources", "失败\uff0c用时"], failed.stdout
    assert "Traceback" not in failed.stdout
    (log,) = (home / "logs").glob("night-*.log")
    assert lines[-2].startswith(f"{TINY_AS_OF} 这一晚失败\uff0c用时 ")
    assert lines[-2].endswith(f" 秒；完整日志：{log}")
    assert "raise RawDataError(" in log.read_text(encoding="utf-8")  # the stack trace


def test_options_are_checked_before_any_work(tmp_path):
    home = tmp_path / "home"
    nonexistent = ["run", "--raw", str(tmp_path / "nonexistent"), "--home", str(home)]
    missing = CliRunner().invoke(main, nonexistent, env={"SCRM_LANG": "en"})
    assert missing.exit_code == 2
    assert missing.output.splitlines()[-1] == (
        "Error: Invalid value for '--raw' (env var: 'SCRM_RAW_DIR'): "
        f"Directory '{tmp_path / 'nonexistent'}' does not exist."
    )
    # click's own words in Chinese; the option's hint and the type's name are click's English.
    missing = CliRunner().invoke(main, nonexistent, env={"SCRM_LANG": None})
    assert missing.output.splitlines()[-1] == (
        "错误：'--raw' (env var: 'SCRM_RAW_DIR') 的值无效："
        f"Directory '{tmp_path / 'nonexistent'}' 不存在。"
    )
    impossible = ["run", "--raw", str(TINY_RAW), "--home", str(home), "--as-of", "2026-02-30"]
    bad_date = CliRunner().invoke(main, impossible, env={"SCRM_LANG": "en"})
    assert bad_date.exit_code == 2
    assert "'2026-02-30' does not match the format '%Y-%m-%d'" in bad_date.output
    bad_date = CliRunner().invoke(main, impossible, prog_name="scrm", env={"SCRM_LANG": None})
    assert bad_date.output.splitlines()[1:] == [
        "用 'scrm run --help' 查看帮助。",
        "",
        "错误：'--as-of' 的值无效：'2026-02-30' 不符合格式 '%Y-%m-%d'。",
    ]
    # A backfill whose last night has not ended stops before its first night runs.
    nights = ["--from", TINY_AS_OF, "--to", "2999-01-01"]
    backfill = ["backfill", "--raw", str(TINY_RAW), "--home", str(home), *nights]
    future = CliRunner().invoke(main, backfill, env={"SCRM_LANG": None})
    assert future.exit_code == 1
    assert future.output.splitlines()[-1].startswith(
        "错误：2999-01-01 这一晚在 Asia/Shanghai 时区还没有结束（最晚可以跑的是 "
    )
    future = CliRunner().invoke(main, backfill, env={"SCRM_LANG": "en"})
    assert future.output.splitlines()[-1].startswith(
        "Error: the night of 2999-01-01 has not ended yet in Asia/Shanghai (the latest night "
    )
    # Before the first night: what to change, in the operator's language.
    early = ["run", "--raw", str(TINY_RAW), "--home", str(home), "--as-of", "2019-12-31"]
    before = CliRunner().invoke(main, early, env={"SCRM_LANG": None})
    assert before.output.splitlines()[-1] == (
        "错误：2019-12-31 这一晚早于首晚 2020-01-01。请把首晚设为数据的第一天：--first-night "
        "2019-12-31（或更早）\uff0c或在环境变量中设置 SCRM_FIRST_NIGHT=2019-12-31（dagster dev "
        "也读取它）"
    )
    assert not home.exists()


def test_every_option_has_help_and_the_cli_has_a_version():
    for name, command in main.commands.items():
        for parameter in command.params:
            if isinstance(parameter, click.Option):
                assert parameter.help, f"scrm {name} {parameter.opts[0]}"
    short = CliRunner().invoke(main, ["run", "-h"], prog_name="scrm", env={"SCRM_LANG": "en"})
    assert short.exit_code == 0 and short.output.startswith("Usage: scrm run [OPTIONS]")
    assert "--verbose" in short.output
    assert "The night to compute, YYYY-MM-DD (default: yesterday in Asia/Shanghai)." in " ".join(
        short.output.split()
    )
    # The help, click's words and ours, in the operator's language by default.
    chinese = CliRunner().invoke(main, ["run", "-h"], prog_name="scrm", env={"SCRM_LANG": None})
    assert chinese.output.splitlines()[:5] == [
        "用法: scrm run [OPTIONS]",
        "",
        "  在本进程内为一个截止日期运行夜间任务。",
        "",
        "选项:",
    ]
    assert "要计算的一晚\uff0cYYYY-MM-DD（默认：Asia/Shanghai 时区的昨天）。" in chinese.output
    assert chinese.output.splitlines()[-1].split() == ["-h,", "--help", "显示本帮助后退出。"]
    listing = CliRunner().invoke(main, ["-h"], prog_name="scrm", env={"SCRM_LANG": None})
    assert "  run       在本进程内为一个截止日期运行夜间任务。" in listing.output.splitlines()
    version = CliRunner().invoke(main, ["--version"])
    assert version.exit_code == 0
    assert version.output == f"scrm, version {importlib.metadata.version('scrm-warehouse')}\n"


def test_a_dbt_builds_failure_is_told_by_its_failed_tests():
    """dagster-dbt's error, as it wraps dbt's error-level messages: the tests that failed."""
    from dagster._utils.error import SerializableErrorInfo

    from orchestration.console import error_cause

    dbt_error = SerializableErrorInfo(
        message="dagster_dbt.errors.DagsterDbtCliRuntimeError: The dbt CLI process with command"
        "\n\n`dbt build`\n\nfailed with exit code `1`. Check the stdout in the Dagster compute "
        "logs for the full information about the error.\n\nErrors parsed from dbt logs:\n\n"
        "\x1b[31mFailure in test unique_fct_orders_order_id (models/marts/core/fct_orders.yml)"
        "\x1b[0m\n  Got 2 results, configured to fail if != 0\n\n"
        "  compiled code at target/compiled/scrm/unique_fct_orders_order_id.sql\n",
        stack=[],
        cls_name="DagsterDbtCliRuntimeError",
    )
    wrapped = SerializableErrorInfo(
        message="dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred while "
        'executing op "scrm_dbt_models":\n',
        stack=[],
        cls_name="DagsterExecutionStepExecutionError",
        cause=dbt_error,
    )
    assert error_cause(wrapped, "scrm_dbt_models") == (
        "scrm_dbt_models: dbt: Failure in test unique_fct_orders_order_id "
        "(models/marts/core/fct_orders.yml) Got 2 results, configured to fail if != 0"
    )


# What `scrm run` and `scrm backfill` print around their nights, in both languages: the nights
# themselves are stubbed (the tests above run real ones), so each line is known exactly.
STUBBED_NIGHT = "2026-06-30"


@pytest.fixture
def stubbed_home(tmp_path, monkeypatch) -> Path:
    """A home whose BI copy holds the night of 2026-06-30 and whose exports hold it too; every
    night 'runs' in 42 s without building anything."""
    import duckdb

    from orchestration import cli

    home = tmp_path / "home"
    (home / "exports" / STUBBED_NIGHT).mkdir(parents=True)
    (home / "published").mkdir()
    with duckdb.connect(str(home / "published" / PUBLISHED_NAME)) as connection:
        connection.execute("create schema published")
        connection.execute(
            f"create table published.night as select date '{STUBBED_NIGHT}' as as_of_date"
        )
    clock = iter(float(second) for second in range(0, 1000, 42))
    monkeypatch.setattr(cli, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    monkeypatch.setattr(cli, "run_checked_night", lambda *arguments: SimpleNamespace(success=True))
    return home


def stubbed(home: Path, *arguments: str, language: str | None) -> list[str]:
    result = CliRunner().invoke(
        main,
        [*arguments, "--raw", str(TINY_RAW), "--home", str(home), "--verbose"],
        env={"SCRM_LANG": language},
    )
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_a_night_and_where_its_outputs_are_read_in_chinese(stubbed_home):
    home, raw = stubbed_home.resolve(), TINY_RAW.resolve()
    assert stubbed(stubbed_home, "run", "--as-of", STUBBED_NIGHT, language=None) == [
        f"2026-06-30 这一晚：原始数据 {raw}\uff0c主目录 {home}",
        "2026-06-30 这一晚已构建\uff0c用时 42 秒",
        f"  数仓：       {home}/warehouse.duckdb（暂存层：{home}/pipeline.duckdb）",
        f"  报告：       {home}/reports/2026-06-30.html",
        f"  导出：       {home}/exports/2026-06-30/",
        f"  BI 副本：    {home}/published/warehouse.duckdb（2026-06-30 这一晚）\uff0c"
        f"Parquet 文件在 {home}/published/marts/",
        f'  查询：       uv run scrm sql --home {home} "select * from marts.raw_row_accounting"',
        f"  Dagster 界面： make dev SCRM_HOME={home}（实例目录：{home}/dagster）",
    ]


def test_a_night_and_where_its_outputs_are_read_in_english(stubbed_home):
    home, raw = stubbed_home.resolve(), TINY_RAW.resolve()
    assert stubbed(stubbed_home, "run", "--as-of", STUBBED_NIGHT, language="en") == [
        f"night of 2026-06-30: raw {raw}, home {home}",
        "night of 2026-06-30 built in 42 s",
        f"  warehouse:   {home}/warehouse.duckdb (staging: {home}/pipeline.duckdb)",
        f"  report:      {home}/reports/2026-06-30.html",
        f"  exports:     {home}/exports/2026-06-30/",
        f"  BI copy:     {home}/published/warehouse.duckdb (the night of 2026-06-30), "
        f"Parquet in {home}/published/marts/",
        f'  query:       uv run scrm sql --home {home} "select * from marts.raw_row_accounting"',
        f"  Dagster UI:  make dev SCRM_HOME={home} (its instance: {home}/dagster)",
    ]


def test_a_held_night_and_a_failed_one_are_told_in_the_operators_language(
    stubbed_home, monkeypatch
):
    from orchestration import cli

    home = stubbed_home.resolve()
    held = home / "exports" / "held" / STUBBED_NIGHT
    (home / "exports" / STUBBED_NIGHT).rmdir()
    held.mkdir(parents=True)
    night = ["run", "--as-of", STUBBED_NIGHT]
    assert stubbed(stubbed_home, *night, language=None)[4] == (
        f"  导出：       被流失保护暂缓在 {held}/：核查后运行 scrm release"
    )
    assert stubbed(stubbed_home, *night, language="en")[4] == (
        f"  exports:     held by the churn guard in {held}/: review, then scrm release"
    )
    # A run that fails without an error (its events stubbed away): the time, then the cause.
    failed = SimpleNamespace(success=False, all_events=[])
    monkeypatch.setattr(cli, "run_checked_night", lambda *arguments: failed)
    arguments = [*night, "--raw", str(TINY_RAW), "--home", str(stubbed_home), "--verbose"]
    chinese = CliRunner().invoke(main, arguments, env={"SCRM_LANG": None})
    assert chinese.exit_code == 1
    assert chinese.output.splitlines()[1:] == [
        "2026-06-30 这一晚失败\uff0c用时 42 秒",
        "错误：运行失败\uff0c但没有报错信息（请查看日志）",
    ]
    english = CliRunner().invoke(main, arguments, env={"SCRM_LANG": "en"})
    assert english.output.splitlines()[1:] == [
        "night of 2026-06-30 failed after 42 s",
        "Error: the run failed without an error (see the log)",
    ]


def test_a_backfill_counts_its_nights_in_the_operators_language(stubbed_home):
    home, raw = stubbed_home.resolve(), TINY_RAW.resolve()
    nights = ["backfill", "--from", "2026-06-29", "--to", STUBBED_NIGHT]
    assert stubbed(stubbed_home, *nights, language=None)[:6] == [
        "补跑 1/2：",
        f"2026-06-29 这一晚：原始数据 {raw}\uff0c主目录 {home}",
        "2026-06-29 这一晚已构建\uff0c用时 42 秒",
        "补跑 2/2：",
        f"2026-06-30 这一晚：原始数据 {raw}\uff0c主目录 {home}",
        "2026-06-30 这一晚已构建\uff0c用时 42 秒",
    ]
    assert stubbed(stubbed_home, *nights, language=None)[6:8] == [
        "",
        "已补跑 2 晚：2026-06-29 至 2026-06-30",
    ]
    english = stubbed(stubbed_home, *nights, language="en")
    assert english[:3] == [
        "backfill 1/2:",
        f"night of 2026-06-29: raw {raw}, home {home}",
        "night of 2026-06-29 built in 42 s",
    ]
    assert english[6:8] == ["", "backfilled 2 nights, 2026-06-29 to 2026-06-30"]
    one = ["backfill", "--from", STUBBED_NIGHT, "--to", STUBBED_NIGHT]
    assert stubbed(stubbed_home, *one, language="en")[4] == (
        "backfilled 1 night, 2026-06-30 to 2026-06-30"
    )
    # --to before --from: click's usage error, in the operator's language as our words in it.
    backwards = ["backfill", "--from", STUBBED_NIGHT, "--to", "2026-06-29"]
    arguments = [*backwards, "--raw", str(TINY_RAW), "--home", str(stubbed_home)]
    refused = CliRunner().invoke(main, arguments, env={"SCRM_LANG": None})
    assert refused.exit_code == 2
    assert refused.output.splitlines()[-1] == "错误：'--to' 的值无效：--to 早于 --from"
    refused = CliRunner().invoke(main, arguments, env={"SCRM_LANG": "en"})
    assert refused.output.splitlines()[-1] == (
        "Error: Invalid value for '--to': --to is before --from"
    )


def test_scrm_sql_and_generate_speak_the_operators_language(tmp_path):
    missing = ["sql", "--home", str(tmp_path), "select 1"]
    chinese = CliRunner().invoke(main, missing, env={"SCRM_LANG": None})
    assert chinese.exit_code == 1
    assert chinese.output == f"错误：{tmp_path}/warehouse.duckdb 没有数仓：请先跑一晚\n"
    english = CliRunner().invoke(main, missing, env={"SCRM_LANG": "en"})
    assert (
        english.output == f"Error: no warehouse at {tmp_path}/warehouse.duckdb: run a night first\n"
    )
    # A language nobody can read stops every command, in both languages.
    unknown = CliRunner().invoke(main, missing, env={"SCRM_LANG": "fr"})
    assert unknown.exit_code == 1
    assert unknown.output.startswith("Error: SCRM_LANG='fr' 不是可用的语言：请用 zh（简体中文")
    assert "SCRM_LANG='fr' is not a language the reports speak" in unknown.output

    sources = (
        "customers",
        "products",
        "orders",
        "order_items",
        "friend_events",
        "interactions",
        "groups",
        "group_members",
        "tag_library",
        "staff_tags",
    )
    for language, wrote, row_line in (
        (None, "已把原始文件写入 {out}", "  {source}：{rows} 行"),
        ("en", "wrote raw files to {out}", "  {source}: {rows} rows"),
    ):
        out = tmp_path / f"raw-{language}"
        arguments = ["generate", "--customers", "3", "--out", str(out)]
        result = CliRunner().invoke(main, arguments, env={"SCRM_LANG": language})
        assert result.exit_code == 0, result.output
        # Rows counted from the files written: each a header and one line per row.
        counted = {
            source: len((out / f"{source}.csv").read_bytes().splitlines()) - 1 for source in sources
        }
        assert result.stdout.splitlines() == [
            wrote.format(out=out),
            *(row_line.format(source=source, rows=counted[source]) for source in sources),
        ]
    summary = chinese_generate_summary(tmp_path)
    assert "数据源                行数  注入的坏行" in summary
    # Each source's bad rows by kind, named in words: one exact copy in each source with rows
    # (3 customers' friends get no staff tags).
    lines = {line.split()[0]: line for line in summary.splitlines() if line.startswith(sources)}
    assert sorted(lines) == sorted(sources)
    assert lines["staff_tags"].split()[1:] == ["0", "0:", "无"]
    assert all("完全重复 1、" in lines[source] for source in sources if source != "staff_tags")
    assert "duplicate_row" not in summary
    # Daily deliveries go into an empty folder only: said in the operator's language.
    landing = ["generate", "--customers", "3", "--deliveries", "daily", "--out", str(tmp_path)]
    (tmp_path / "customers").mkdir()
    (tmp_path / "customers" / "2026-10-31.csv").write_text("customer_id\n", encoding="utf-8")
    refused = CliRunner().invoke(main, landing, env={"SCRM_LANG": None})
    assert refused.output.splitlines()[-1] == (
        f"错误：{tmp_path / 'customers'} 已存在：每日交付文件只写入新的或空的文件夹"
    )


def test_scrm_generate_multi_ids_writes_the_links_and_says_where_the_truth_is(tmp_path):
    out = tmp_path / "raw"
    arguments = ["generate", "--customers", "3", "--ids", "multi", "--out", str(out)]
    result = CliRunner().invoke(main, arguments, env={"SCRM_LANG": "en"})
    assert result.exit_code == 0, result.output
    links = len((out / "identity_links.csv").read_bytes().splitlines()) - 1
    lines = result.stdout.splitlines()
    assert lines[-2] == f"  identity_links: {links} rows"
    assert lines[-1] == (
        f"wrote who is who, for measuring identity stitching, to {tmp_path}/raw-identity-truth.csv"
    )
    # Beside the raw folder: not a source a night loads.
    assert (tmp_path / "raw-identity-truth.csv").is_file()


def chinese_generate_summary(tmp_path: Path) -> str:
    """What `scrm generate` writes to stderr after its progress bars, in Chinese."""
    arguments = ["generate", "--customers", "3", "--out", str(tmp_path / "summary")]
    return CliRunner().invoke(main, arguments, env={"SCRM_LANG": None}).stderr
