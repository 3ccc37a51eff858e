"""`scrm`: generate sample data and run a night of the warehouse from the command line."""

from __future__ import annotations

import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from orchestration import duckdb_settings, language, nights
from orchestration.dagster_home import DAGSTER_DIR, RunHistorySettingError, night_instance
from orchestration.language import N_, _, padded

if TYPE_CHECKING:
    from dagster import ExecuteInProcessResult

    from orchestration.console import StepLines

REPO_ROOT = Path(__file__).resolve().parent.parent


class OperatorError(click.ClickException):
    """What stops a command, as its last line: "Error:" in the operator's language."""

    def show(self, file: Any = None) -> None:
        try:
            line = _("Error: {message}").format(message=self.format_message())
        except language.LanguageError:  # SCRM_LANG itself is what stopped the command
            line = f"Error: {self.format_message()}"
        click.echo(line, file=file, err=True)


def prepare_project() -> None:
    """Prepare the dbt project: parse it, register tag models, compile rule tags.

    dagster-dbt reads target/manifest.json when the definitions load, and a tag model or rule
    added since the last run must be in it. A night's dbt builds reuse this parse.
    """
    from orchestration.project import dbt_project
    from orchestration.tag_registry import PrepareError, prepare
    from orchestration.tag_rules import RuleError

    try:
        prepare(dbt_project.project_dir, dbt_project.profiles_dir)
    except (PrepareError, RuleError) as error:
        raise OperatorError(str(error)) from error


def ensure_manifest() -> None:
    """Prepare the dbt project once per process."""
    global _prepared
    if not _prepared:
        prepare_project()
        _prepared = True


_prepared = False


# A click command function, as the option decorators take and give it back.
F = TypeVar("F", bound=Callable[..., Any])

# Options shared by the commands that run nights.
raw_option = click.option(
    "--raw",
    "raw_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    envvar="SCRM_RAW_DIR",
    required=True,
    show_envvar=True,
    help=N_(
        "Directory holding, per source, one <source>.csv or .parquet (a full delivery) "
        "or a folder <source>/ of deliveries."
    ),
)


def home_dir_option(help_text: str, *, must_exist: bool = False) -> Callable[[F], F]:
    """--home ($SCRM_HOME): a night creates it; the commands that read one need it there."""
    return click.option(
        "--home",
        "home_dir",
        type=click.Path(path_type=Path, file_okay=False, exists=must_exist),
        envvar="SCRM_HOME",
        required=True,
        show_envvar=True,
        help=help_text,
    )


home_option = home_dir_option(N_("Directory for the warehouse and the nights' outputs."))
first_night_option = click.option(
    "--first-night",
    "first_night",
    type=click.DateTime(["%Y-%m-%d"]),
    envvar=nights.FIRST_NIGHT_VARIABLE,
    show_envvar=True,
    default=None,
    help=N_(
        "The first night that can be run (default {first_night}): "
        "the first day of your data, for history before it."
    ),
)
run_started_at_option = click.option(
    "--run-started-at",
    default="",
    help=N_(
        "Pin 'now' (YYYY-MM-DD HH:MM:SS, Shanghai) "
        "for the future-timestamp rule, to reproduce an earlier run exactly."
    ),
)
verbose_option = click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help=N_(
        "Print everything: Dagster's events, dbt's output and tracebacks "
        "(by default one line per step, the rest in $SCRM_HOME/logs/)."
    ),
)


# What the help texts name, filled in after they are translated.
HELP_VALUES = {"first_night": nights.DEFAULT_FIRST_NIGHT, "timezone": nights.TIMEZONE}


class HelpOptionInLanguage:
    """-h/--help says what it does in the current language: click makes that option once, in
    the language of the first invocation, and keeps it."""

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.help = language.click_gettext("Show this message and exit.")
        return option


class OperatorCommand(HelpOptionInLanguage, click.Command):
    """A `scrm` command (OperatorGroup.command_class)."""


class OperatorGroup(HelpOptionInLanguage, click.Group):
    """The `scrm` group, whose help and click's own words are in the operator's language.

    Click reads a command's and option's help when it prints them; each invocation first
    sets them to the configured language's, from the English written here (kept aside).
    """

    command_class = OperatorCommand

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        if parent is None:
            language.speak_click_in_operator_language()
            help_in_operator_language(self)
        return super().make_context(info_name, args, parent=parent, **extra)


def help_in_operator_language(command: click.Command) -> None:
    # An argument has no help of its own: the command's help tells of it.
    options = [param for param in command.params if isinstance(param, click.Option)]
    items: list[click.Command | click.Option] = [command, *options]
    for item in items:
        english = vars(item).setdefault("english_help", item.help)
        if english:
            try:
                item.help = _(english).format_map(HELP_VALUES)
            except language.LanguageError:  # the command itself says SCRM_LANG is wrong
                item.help = english.format_map(HELP_VALUES)
    for subcommand in getattr(command, "commands", {}).values():
        help_in_operator_language(subcommand)


@click.group(
    cls=OperatorGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=N_("scrm-warehouse: private-domain customer tags computed in the open."),
)
@click.version_option(
    package_name="scrm-warehouse", prog_name="scrm", help=N_("Show the version and exit.")
)
def main() -> None:
    pass


@main.command(help=N_("Parse the dbt project, register its tag models and compile the rule tags."))
def prepare() -> None:
    check_language()
    ensure_manifest()
    click.echo(_("dbt project prepared: target/manifest.json is current"))


@main.command(help=N_("Write deterministic, realistic raw files for --customers customers."))
@click.option(
    "--customers",
    type=click.IntRange(min=1),
    required=True,
    help=N_("How many customers to generate."),
)
@click.option(
    "--seed",
    type=int,
    default=42,
    show_default=True,
    help=N_("Random seed: the same seed writes the same bytes."),
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help=N_("Directory to write the raw files to."),
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "parquet"]),
    default="csv",
    show_default=True,
    help=N_("File format of the raw files (Parquet for large runs)."),
)
@click.option(
    "--deliveries",
    type=click.Choice(["full", "daily"]),
    default="full",
    show_default=True,
    help=N_(
        "full: one file per source (<source>.csv). daily: a landing folder of daily "
        "deliveries, <source>/YYYY-MM-DD.csv, each holding what changed that day."
    ),
)
@click.option(
    "--end-date",
    type=click.DateTime(["%Y-%m-%d"]),
    default="2026-10-31",
    show_default=True,
    help=N_("Last day of the generated history."),
)
@click.option(
    "--years",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help=N_("Years of history up to --end-date."),
)
@click.option(
    "--bad-row-rate",
    type=click.FloatRange(0, 0.5),
    default=0.002,
    show_default=True,
    help=N_("Share of rows made to break the contract, to exercise the quarantine."),
)
@click.option(
    "--ids",
    type=click.Choice(["single", "multi"]),
    default="single",
    show_default=True,
    help=N_(
        "single: each customer is known by one id everywhere. multi: by the id of each "
        "system (shop buyer ids, WeCom ids, member ids), with an identity_links source and the "
        "truth of who is who beside the raw folder (docs/identity.md)."
    ),
)
def generate(
    customers: int,
    seed: int,
    out_dir: Path,
    file_format: str,
    deliveries: str,
    end_date: datetime,
    years: int,
    bad_row_rate: float,
    ids: str,
) -> None:
    from orchestration.generator import generate as generate_raw

    check_language()
    try:
        summary = generate_raw(
            out_dir,
            customers=customers,
            seed=seed,
            file_format=file_format,
            deliveries=deliveries,
            end_date=end_date.date(),
            years=years,
            bad_row_rate=bad_row_rate,
            progress=True,
            ids=ids,
        )
    except ValueError as error:  # e.g. a landing folder that already holds deliveries
        raise OperatorError(str(error)) from error
    files = summary.get("deliveries")
    wrote = _("wrote daily deliveries to {path}") if files else _("wrote raw files to {path}")
    click.echo(wrote.format(path=out_dir))
    for source, rows in summary.get("rows", {}).items():
        line = (
            _("{source}: {rows} rows in {files} files").format(
                source=source, rows=rows, files=files[source]
            )
            if files
            else _("{source}: {rows} rows").format(source=source, rows=rows)
        )
        click.echo("  " + line)
    if "truth" in summary:
        click.echo(
            _("wrote who is who, for measuring identity stitching, to {path}").format(
                path=summary["truth"]
            )
        )


@main.command(help=N_("Run the nightly job in-process for one as-of date."))
@raw_option
@home_option
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help=N_("The night to compute, YYYY-MM-DD (default: yesterday in {timezone})."),
)
@first_night_option
@run_started_at_option
@verbose_option
def run(
    raw_dir: Path,
    home_dir: Path,
    as_of: datetime | None,
    first_night: datetime | None,
    run_started_at: str,
    verbose: bool,
) -> None:
    as_of_date = as_of.date().isoformat() if as_of else nights.last_ended_night().isoformat()
    check_nights(as_of_date, as_of_date, first_night)
    run_shown_night(raw_dir, home_dir, as_of_date, run_started_at, first_night, verbose)
    show_summary(home_dir, as_of_date)


@main.command(
    help=N_(
        "Rebuild and republish every night from --from to --to, oldest first.\n\n"
        "Each night is computed from the events up to that night, so it publishes what it "
        "would have published then. A night older than the published warehouse does not "
        "replace it, but the working warehouse's current-night tables end on --to: run the "
        "newest night again after. Stops at the first night that fails; run the command "
        "again to redo the range."
    )
)
@raw_option
@home_option
@click.option(
    "--from",
    "first",
    type=click.DateTime(["%Y-%m-%d"]),
    required=True,
    help=N_("The first night to rebuild, YYYY-MM-DD."),
)
@click.option(
    "--to",
    "last",
    type=click.DateTime(["%Y-%m-%d"]),
    required=True,
    help=N_("The last night to rebuild, YYYY-MM-DD."),
)
@first_night_option
@run_started_at_option
@verbose_option
def backfill(
    raw_dir: Path,
    home_dir: Path,
    first: datetime,
    last: datetime,
    first_night: datetime | None,
    run_started_at: str,
    verbose: bool,
) -> None:
    check_language()
    if last < first:
        raise click.BadParameter(_("--to is before --from"), param_hint="'--to'")
    nights_to_run = [
        (first.date() + timedelta(days=offset)).isoformat()
        for offset in range((last - first).days + 1)
    ]
    check_nights(nights_to_run[0], nights_to_run[-1], first_night)
    for number, night in enumerate(nights_to_run, start=1):
        click.echo(_("backfill {number}/{count}:").format(number=number, count=len(nights_to_run)))
        run_shown_night(raw_dir, home_dir, night, run_started_at, first_night, verbose)
    backfilled = language.ngettext(
        "backfilled {count} night, {first} to {last}",
        "backfilled {count} nights, {first} to {last}",
        len(nights_to_run),
    )
    click.echo(
        "\n" + backfilled.format(count=len(nights_to_run), first=first.date(), last=last.date())
    )
    show_summary(home_dir, nights_to_run[-1])


@main.command(
    help=N_(
        "Run QUERY on the warehouse, opened read-only, and print the result.\n\n"
        'For example: scrm sql --home .scrm "select * from marts.raw_row_accounting"'
    )
)
@home_dir_option(N_("Directory holding the warehouse."), must_exist=True)
@click.option(
    "--published",
    is_flag=True,
    help=N_("Query the copy published for BI tools (published/warehouse.duckdb) instead."),
)
@click.argument("query")
def sql(home_dir: Path, published: bool, query: str) -> None:
    import duckdb

    from orchestration.publishing.warehouse import PUBLISHED_NAME

    check_language()
    warehouse = home_dir / "published" / PUBLISHED_NAME if published else home_dir / WAREHOUSE
    if not warehouse.is_file():
        raise OperatorError(_("no warehouse at {path}: run a night first").format(path=warehouse))
    try:
        with duckdb_settings.connect(warehouse, read_only=True) as connection:
            if not published:
                duckdb_settings.attach_pipeline(connection, warehouse)
            relation = connection.sql(query)
            if relation is not None:
                click.echo(relation)
    except duckdb.Error as error:
        raise OperatorError(one_line(str(error))) from error


@main.command(
    help=N_("Publish a night the churn guard held back, after review (docs/segments.md).")
)
@home_dir_option(N_("The directory whose exports/held/ holds the night."), must_exist=True)
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    required=True,
    help=N_("The held night to publish, YYYY-MM-DD."),
)
def release(home_dir: Path, as_of: datetime) -> None:
    from orchestration.publishing.errors import PublishError
    from orchestration.publishing.exports import release_night
    from orchestration.reporting.nightly_report import guard_reasons

    try:
        language.configured_language()  # a SCRM_LANG nobody can read stops before the release
        manifest = release_night(home_dir / "exports", as_of.date())
    except (PublishError, language.LanguageError) as error:
        raise OperatorError(str(error)) from error
    night = as_of.date().isoformat()
    # What the operator who reviewed the night reads, in their language (SCRM_LANG).
    with language.speaking():
        click.echo(
            _("released the night of {night}: {path}").format(
                night=night, path=home_dir.resolve() / "exports" / night
            )
        )
        for reason in guard_reasons(manifest):
            click.echo("  " + _("it was held for: {reason}").format(reason=reason))
        if manifest["guard"].get("holds_published_warehouse"):
            release_bi_copy(home_dir, as_of.date())


def release_bi_copy(home_dir: Path, night: date) -> None:
    """Publish the BI copy the churn guard held with a night, if the warehouse still holds it."""
    import logging

    from orchestration.defs.publishing.assets import publish_bi_copy

    warehouse = home_dir / "warehouse.duckdb"
    with duckdb_settings.connect(warehouse, read_only=True) as connection:
        ((built,),) = connection.execute(
            "select max(as_of_date) from marts.customer_profile"
        ).fetchall()
    if built != night:
        click.echo(
            "  "
            + _(
                "its BI copy was held too, but the warehouse now holds the night of {built}: "
                "published/ gets the next night run"
            ).format(built=built)
        )
        return
    publish_bi_copy(
        warehouse,
        home_dir / "published",
        night,
        f"release{uuid.uuid4().hex[:8]}",
        logging.getLogger("scrm.release"),
    )
    click.echo(
        "  " + _("its BI copy is published: {path}").format(path=home_dir.resolve() / "published")
    )


def run_checked_night(
    raw_dir: Path,
    home_dir: Path,
    as_of_date: str,
    run_started_at: str,
    first_night: datetime | date | None,
    steps: StepLines | None = None,
) -> ExecuteInProcessResult:
    """run_night, with a night that cannot be run told as a usage error, not a traceback."""
    try:
        return run_night(raw_dir, home_dir, as_of_date, run_started_at, first_night, steps)
    except (nights.NightOutOfRange, RunHistorySettingError) as error:
        raise OperatorError(str(error)) from error


WAREHOUSE = "warehouse.duckdb"


def one_line(text: str) -> str:
    return " ".join(text.split())


def check_language() -> None:
    """Stop before any work when SCRM_LANG names no language the CLI, the report and the
    files people open could be written in: every line after this one is in the language."""
    try:
        language.configured_language()
    except language.LanguageError as error:
        raise OperatorError(str(error)) from error


def check_nights(first: str, last: str, first_night: datetime | None) -> None:
    """Stop before any work when SCRM_LANG names no language (check_language), or when a
    night of the range cannot be run."""
    check_language()
    try:
        earliest = nights.first_night(first_night.date() if first_night else None)
        for night in (first, last):
            nights.check_night(date.fromisoformat(night), earliest, nights.last_ended_night())
    except nights.NightOutOfRange as error:
        raise OperatorError(str(error)) from error


def run_shown_night(
    raw_dir: Path,
    home_dir: Path,
    as_of_date: str,
    run_started_at: str,
    first_night: datetime | None,
    verbose: bool,
) -> None:
    """run_night as a person sees it: one line per step (everything with `verbose`), and a
    failure told by its cause on the last line."""
    from orchestration.console import StepLines, failure_cause, night_log_path, output_to

    click.echo(
        _("night of {night}: raw {raw}, home {home}").format(
            night=as_of_date, raw=raw_dir.resolve(), home=home_dir.resolve()
        )
    )
    started = time.monotonic()
    log = None
    if verbose:
        result = run_checked_night(raw_dir, home_dir, as_of_date, run_started_at, first_night)
    else:
        home_dir.mkdir(parents=True, exist_ok=True)
        log = night_log_path(home_dir, as_of_date)
        try:
            with output_to(log) as console:
                try:
                    steps = StepLines(console)
                    result = run_checked_night(
                        raw_dir, home_dir, as_of_date, run_started_at, first_night, steps
                    )
                except Exception:
                    traceback.print_exc()  # into the log
                    raise
        except click.ClickException:
            raise
        except Exception as error:
            failed = _("night of {night} failed; its full log: {log}")
            click.echo(failed.format(night=as_of_date, log=log))
            raise OperatorError(one_line(f"{type(error).__name__}: {error}")) from error
    seconds = f"{time.monotonic() - started:.0f}"
    if not result.success:
        failed = (
            _("night of {night} failed after {seconds} s; its full log: {log}")
            if log
            else _("night of {night} failed after {seconds} s")
        )
        click.echo(failed.format(night=as_of_date, seconds=seconds, log=log))
        raise OperatorError(failure_cause(result))
    click.echo(_("night of {night} built in {seconds} s").format(night=as_of_date, seconds=seconds))


def show_summary(home_dir: Path, as_of_date: str) -> None:
    """Where the night's outputs are, and how to look at them."""
    from orchestration.layout import HELD_DIR
    from orchestration.publishing.warehouse import PUBLISHED_NAME, published_night

    home = home_dir.resolve()
    exports = home / "exports" / as_of_date
    held = home / "exports" / HELD_DIR / as_of_date
    published = home / "published"
    lines = [
        (
            _("warehouse"),
            _("{path} (staging: {staging})").format(
                path=home / WAREHOUSE, staging=home / duckdb_settings.PIPELINE_FILE
            ),
        ),
        (_("report"), str(home / "reports" / f"{as_of_date}.html")),
        (
            _("exports"),
            f"{exports}/"
            if exports.is_dir() or not held.is_dir()
            else _("held by the churn guard in {path}/: review, then scrm release").format(
                path=held
            ),
        ),
        (
            _("BI copy"),
            _("{path} (the night of {night}), Parquet in {marts}/").format(
                path=published / PUBLISHED_NAME,
                night=published_night(published),
                marts=published / "marts",
            ),
        ),
        (_("query"), f'uv run scrm sql --home {home} "select * from marts.raw_row_accounting"'),
        (
            _("Dagster UI"),
            _("make dev SCRM_HOME={home} (its instance: {instance})").format(
                home=home, instance=home / DAGSTER_DIR
            ),
        ),
    ]
    for name, value in lines:
        label = _("{label}:").format(label=name)
        click.echo(f"  {padded(label, 12)} {value}")


def run_night(
    raw_dir: Path,
    home_dir: Path,
    as_of_date: str,
    run_started_at: str = "",
    first_night: datetime | date | None = None,
    steps: StepLines | None = None,
) -> ExecuteInProcessResult:
    """Execute the `nightly` job for one partition; returns Dagster's execution result.

    The run, its events and the assets' materializations are recorded in the home's Dagster
    instance ($SCRM_HOME/dagster); `steps` is told of each event as it is recorded.

    Raises RunHistorySettingError for an SCRM_RUN_HISTORY other than on or off, and
    nights.NightOutOfRange for a night before the first night (`first_night`, else
    $SCRM_FIRST_NIGHT, else 2020-01-01) or one that has not ended yet.
    """
    night = date.fromisoformat(as_of_date)
    first = nights.first_night(
        first_night.date() if isinstance(first_night, datetime) else first_night
    )
    nights.check_night(night, first, nights.last_ended_night())
    # The partitions are built from it when the definitions load, once per process.
    os.environ[nights.FIRST_NIGHT_VARIABLE] = first.isoformat()
    from orchestration.partitions import nightly_partitions

    loaded_first = nightly_partitions.start.date()
    if night < loaded_first:
        raise nights.NightOutOfRange(
            _(
                "the night of {night} is before the first night {first} that this process "
                "loaded its definitions with: run it in a new process"
            ).format(night=night, first=loaded_first)
        )
    home_dir.mkdir(parents=True, exist_ok=True)
    # dbt's profiles.yml and the Dagster resources read these; set before loading the defs.
    os.environ["SCRM_HOME"] = str(home_dir.resolve())
    os.environ["SCRM_RAW_DIR"] = str(raw_dir.resolve())
    # Before the parse: dbt's profile reads the memory limit, and a build parses again when
    # its profile differs from the parse's.
    duckdb_settings.export_defaults()
    # Every night, since anything else that parsed the project meanwhile replaced the parse.
    prepare_project()
    from orchestration.definitions import defs

    job = defs().resolve_job_def("nightly")
    night_config = {"config": {"run_started_at": run_started_at}}
    run_config = {
        "ops": {
            "scrm_dbt_models": night_config,
            "scrm_dbt_models_after_predictions": night_config,
        }
    }
    # The home's own instance, the one `make dev` opens, so the UI shows this night (unless
    # SCRM_RUN_HISTORY=off).
    run_id = str(uuid.uuid4())  # Dagster's own form, known before the run starts
    with night_instance(home_dir) as instance:
        if steps is not None:
            steps.expect(
                {
                    node.name: len(node.definition.output_defs)
                    for node in job.nodes_in_topological_order
                }
            )
            instance.add_event_listener(run_id, steps)
        return job.execute_in_process(
            partition_key=as_of_date,
            run_config=run_config,
            instance=instance,
            run_id=run_id,
            raise_on_error=False,
        )


if __name__ == "__main__":
    sys.exit(main())
