"""`scrm`: generate sample data and run a night of the warehouse from the command line."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path

import click

from orchestration import duckdb_settings, nights
from orchestration.project import night_vars

REPO_ROOT = Path(__file__).resolve().parent.parent


def prepare_project(dbt_vars: Mapping[str, str] | None = None) -> None:
    """Prepare the dbt project: parse it, register tag models, compile rule tags.

    dagster-dbt reads target/manifest.json when the definitions load, and a tag model or rule
    added since the last run must be in it. `dbt_vars` are those of the night to run
    (project.night_vars): its dbt builds then reuse this parse, where they would each parse the
    project in full again for vars that differ from the kept parse's.
    """
    from orchestration.project import dbt_project
    from orchestration.tag_registry import PrepareError, prepare
    from orchestration.tag_rules import RuleError

    try:
        prepare(dbt_project.project_dir, dbt_project.profiles_dir, dbt_vars)
    except (PrepareError, RuleError) as error:
        raise click.ClickException(str(error)) from error


def ensure_manifest() -> None:
    """Prepare the dbt project once per process (prepare_project without a night's vars)."""
    global _prepared
    if not _prepared:
        prepare_project()
        _prepared = True


_prepared = False


# Options shared by the commands that run nights.
raw_option = click.option(
    "--raw",
    "raw_dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="SCRM_RAW_DIR",
    required=True,
    show_envvar=True,
    help="Directory holding one <source>.csv or .parquet per source.",
)
home_option = click.option(
    "--home",
    "home_dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="SCRM_HOME",
    required=True,
    show_envvar=True,
    help="Directory for the warehouse and the nights' outputs.",
)
first_night_option = click.option(
    "--first-night",
    "first_night",
    type=click.DateTime(["%Y-%m-%d"]),
    envvar=nights.FIRST_NIGHT_VARIABLE,
    show_envvar=True,
    default=None,
    help=f"The first night that can be run (default {nights.DEFAULT_FIRST_NIGHT}): "
    "the first day of your data, for history before it.",
)
run_started_at_option = click.option(
    "--run-started-at",
    default="",
    help="Pin 'now' (YYYY-MM-DD HH:MM:SS, Shanghai) "
    "for the future-timestamp rule, to reproduce an earlier run exactly.",
)


@click.group()
def main() -> None:
    """scrm-warehouse: private-domain customer tags computed in the open."""


@main.command()
def prepare() -> None:
    """Parse the dbt project, register its tag models and compile the rule tags."""
    ensure_manifest()
    click.echo("dbt project prepared: target/manifest.json is current")


@main.command()
@click.option("--customers", type=click.IntRange(min=1), required=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "parquet"]),
    default="csv",
    show_default=True,
)
@click.option(
    "--deliveries",
    type=click.Choice(["full", "daily"]),
    default="full",
    show_default=True,
    help="full: one file per source (<source>.csv). daily: a landing folder of daily "
    "deliveries, <source>/YYYY-MM-DD.csv, each holding what changed that day.",
)
@click.option(
    "--end-date",
    type=click.DateTime(["%Y-%m-%d"]),
    default="2026-10-31",
    show_default=True,
    help="Last day of the generated history.",
)
@click.option("--years", type=click.IntRange(min=1), default=2, show_default=True)
@click.option(
    "--bad-row-rate",
    type=click.FloatRange(0, 0.5),
    default=0.002,
    show_default=True,
    help="Share of rows made to break the contract, to exercise the quarantine.",
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
) -> None:
    """Write deterministic, realistic raw files for CUSTOMERS customers."""
    from orchestration.generator import generate as generate_raw

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
        )
    except ValueError as error:  # e.g. a landing folder that already holds deliveries
        raise click.ClickException(str(error)) from error
    files = summary.get("deliveries")
    click.echo(f"wrote {'daily deliveries' if files else 'raw files'} to {out_dir}")
    for source, rows in summary.get("rows", {}).items():
        click.echo(f"  {source}: {rows} rows" + (f" in {files[source]} files" if files else ""))


@main.command()
@raw_option
@home_option
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help=f"The night to compute (default: yesterday in {nights.TIMEZONE}).",
)
@first_night_option
@run_started_at_option
def run(
    raw_dir: Path,
    home_dir: Path,
    as_of: datetime | None,
    first_night: datetime | None,
    run_started_at: str,
) -> None:
    """Run the nightly job in-process for one as-of date."""
    as_of_date = as_of.date().isoformat() if as_of else nights.last_ended_night().isoformat()
    outcome = run_checked_night(raw_dir, home_dir, as_of_date, run_started_at, first_night)
    if not outcome.success:
        raise click.ClickException(f"the night of {as_of_date} failed; see the log above")
    click.echo(f"\nnight of {as_of_date} built: {home_dir.resolve() / 'warehouse.duckdb'}")
    click.echo(f"  open it with: duckdb -readonly {home_dir.resolve() / 'warehouse.duckdb'}")
    click.echo(f"  staging and intermediate: {home_dir.resolve() / duckdb_settings.PIPELINE_FILE}")


@main.command()
@raw_option
@home_option
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), required=True)
@first_night_option
@run_started_at_option
def backfill(
    raw_dir: Path,
    home_dir: Path,
    first: datetime,
    last: datetime,
    first_night: datetime | None,
    run_started_at: str,
) -> None:
    """Rebuild and republish every night from --from to --to, oldest first.

    Each night is computed from the events up to that night, so it publishes what it would
    have published then. A night older than the published warehouse does not replace it, but
    the working warehouse's current-night tables end on --to: run the newest night again after.
    Stops at the first night that fails; run the command again to redo the range.
    """
    if last < first:
        raise click.BadParameter("--to is before --from")
    nights = [
        (first.date() + timedelta(days=offset)).isoformat()
        for offset in range((last - first).days + 1)
    ]
    for number, night in enumerate(nights, start=1):
        click.echo(f"backfill {number}/{len(nights)}: night of {night}")
        if not run_checked_night(raw_dir, home_dir, night, run_started_at, first_night).success:
            raise click.ClickException(f"the night of {night} failed; see the log above")
    click.echo(f"\nbackfilled {len(nights)} nights, {nights[0]} to {nights[-1]}")


@main.command()
@click.option(
    "--home",
    "home_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    envvar="SCRM_HOME",
    required=True,
    show_envvar=True,
    help="The directory whose exports/held/ holds the night.",
)
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), required=True)
def release(home_dir: Path, as_of: datetime) -> None:
    """Publish a night the churn guard held back, after review (docs/segments.md)."""
    from orchestration.publishing.errors import PublishError
    from orchestration.publishing.exports import release_night

    try:
        manifest = release_night(home_dir / "exports", as_of.date())
    except PublishError as error:
        raise click.ClickException(str(error)) from error
    night = as_of.date().isoformat()
    click.echo(f"released the night of {night}: {home_dir.resolve() / 'exports' / night}")
    for reason in manifest["guard"].get("reasons", []):
        click.echo(f"  it was held for: {reason}")
    if manifest["guard"].get("holds_published_warehouse"):
        release_bi_copy(home_dir, as_of.date())


def release_bi_copy(home_dir: Path, night: date) -> None:
    """Publish the BI copy the churn guard held with a night, if the warehouse still holds it."""
    import logging
    import uuid

    from orchestration.defs.publishing.assets import publish_bi_copy

    warehouse = home_dir / "warehouse.duckdb"
    with duckdb_settings.connect(warehouse, read_only=True) as connection:
        ((built,),) = connection.execute(
            "select max(as_of_date) from marts.customer_profile"
        ).fetchall()
    if built != night:
        click.echo(
            f"  its BI copy was held too, but the warehouse now holds the night of {built}: "
            "published/ gets the next night run"
        )
        return
    publish_bi_copy(
        warehouse,
        home_dir / "published",
        night,
        f"release{uuid.uuid4().hex[:8]}",
        logging.getLogger("scrm.release"),
    )
    click.echo(f"  its BI copy is published: {home_dir.resolve() / 'published'}")


def run_checked_night(
    raw_dir: Path,
    home_dir: Path,
    as_of_date: str,
    run_started_at: str,
    first_night: datetime | date | None,
):
    """run_night, with a night that cannot be run told as a usage error, not a traceback."""
    try:
        return run_night(raw_dir, home_dir, as_of_date, run_started_at, first_night)
    except nights.NightOutOfRange as error:
        raise click.ClickException(str(error)) from error


def run_night(
    raw_dir: Path,
    home_dir: Path,
    as_of_date: str,
    run_started_at: str = "",
    first_night: datetime | date | None = None,
):
    """Execute the `nightly` job for one partition; returns Dagster's execution result.

    Raises nights.NightOutOfRange for a night before the first night (`first_night`, else
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
            f"the night of {night} is before the first night {loaded_first} that this "
            "process loaded its definitions with: run it in a new process"
        )
    home_dir.mkdir(parents=True, exist_ok=True)
    # dbt's profiles.yml and the Dagster resources read these; set before loading the defs.
    os.environ["SCRM_HOME"] = str(home_dir.resolve())
    os.environ["SCRM_RAW_DIR"] = str(raw_dir.resolve())
    # Before the parse: dbt's profile reads the memory limit, and a build parses again when
    # its profile differs from the parse's.
    duckdb_settings.export_defaults()
    # Every night, since anything else that parsed the project meanwhile replaced the parse.
    prepare_project(night_vars(as_of_date, run_started_at or None))
    import dagster as dg

    from orchestration.definitions import defs

    job = defs().resolve_job_def("nightly")
    night_config = {"config": {"run_started_at": run_started_at}}
    run_config = {
        "ops": {
            "scrm_dbt_models": night_config,
            "scrm_dbt_models_after_predictions": night_config,
        }
    }
    return job.execute_in_process(
        partition_key=as_of_date,
        run_config=run_config,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


if __name__ == "__main__":
    sys.exit(main())
