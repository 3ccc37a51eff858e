"""One night of the warehouse on Apache Spark, with the same dbt models (docs/spark.md).

A local pyspark session runs in this process; dbt-spark's `session` method (the `spark` target
of dbt_project/profiles.yml) finds it and runs every model in it. The steps mirror the nightly
Dagster job on DuckDB:

1. raw files: read by the DuckDB loader's reader (orchestration/raw_loader.py), written as
   Parquet under $SCRM_SPARK_DIR/files/raw/<source>/ and registered as tables `raw.<source>`;
2. `dbt build` (seeds, models, data tests) of all but the models reading the predictions;
3. the BTYD predictions, computed by the same Python (orchestration/predictive) from the
   night's `marts.customer_rfm` and `marts.fct_purchase_days` in Spark, registered with the
   fits as `predictive.customer_predictions` and `predictive.btyd_model_fits`;
4. `dbt build` of the models reading the predictions.

pyspark and dbt-spark are the `spark` dependency group (`uv sync --group spark`); nothing here
imports them before it runs.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import jinja2
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from orchestration.project import DBT_PROJECT_DIR
from orchestration.raw_contract import load_contract
from orchestration.raw_loader import RAW_SCHEMA, open_raw_source

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SPARK_TARGET = "spark"
PREDICTIONS_SCHEMA = "predictive"
# The same split as the Dagster job (orchestration/defs/dbt/assets.py).
AFTER_PREDICTIONS = "source:predictive+"

T = TypeVar("T")


class SparkNightError(Exception):
    """A step of the Spark night failed."""


def spark_dir(home_dir: Path | None = None) -> Path:
    """Where the Spark warehouse, its metastore and the registered files live.

    $SCRM_SPARK_DIR, else <home>/spark: the same default as the profile's `spark` target.
    """
    configured = os.environ.get("SCRM_SPARK_DIR")
    if configured:
        return Path(configured).resolve()
    home = home_dir or Path(os.environ.get("SCRM_HOME", ".scrm"))
    return (home / "spark").resolve()


def session_parameters(profiles_dir: Path = DBT_PROJECT_DIR) -> dict[str, str]:
    """The `spark` target's server_side_parameters, rendered as dbt renders them.

    The session is started here, before dbt runs, so it must get the profile's settings
    (static ones such as the metastore location cannot change once the JVM runs).
    """
    document = yaml.safe_load((profiles_dir / "profiles.yml").read_text(encoding="utf-8"))
    output = document["scrm"]["outputs"][SPARK_TARGET]

    def env_var(name: str, default: str | None = None) -> str:
        value = os.environ.get(name, default)
        if value is None:
            raise SparkNightError(f"profiles.yml needs the environment variable {name}")
        return value

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return {
        str(key): environment.from_string(str(value)).render(env_var=env_var)
        for key, value in (output.get("server_side_parameters") or {}).items()
    }


def spark_session(profiles_dir: Path = DBT_PROJECT_DIR) -> SparkSession:
    """The process's Spark session with the profile's settings (dbt-spark reuses it)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("scrm-warehouse").enableHiveSupport()
    for key, value in session_parameters(profiles_dir).items():
        builder = builder.config(key, value)
    # dbt-spark turns ANSI mode off for its queries; the loader's and the comparison's
    # queries run with the same setting.
    builder = builder.config("spark.sql.ansi.enabled", "false")
    session = builder.getOrCreate()
    # dbt-spark asks for the session once per query, and Spark warns each time that it is
    # reused; keep the log to errors.
    session.sparkContext.setLogLevel("ERROR")
    return session


def register_parquet_table(
    spark: SparkSession, schema: str, table: str, batches: pa.RecordBatchReader
) -> int:
    """Write `batches` as Parquet under <spark dir>/files/<schema>/<table> and register them.

    The table is external: dropping it keeps the files, and the next night replaces both.
    Returns the number of rows written.
    """
    directory = spark_dir() / "files" / schema / table
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    rows = 0
    with pq.ParquetWriter(directory / "part-00000.parquet", batches.schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    spark.sql(f"create database if not exists {schema}")
    spark.sql(f"drop table if exists {schema}.{table}")
    spark.sql(f"create table {schema}.{table} using parquet location '{directory.as_uri()}'")
    return rows


def load_raw_into_spark(
    spark: SparkSession, raw_dir: Path, loaded_at: datetime | None = None
) -> dict[str, int]:
    """Every source of the contract as `raw.<source>`, exactly as the DuckDB loader has it."""
    loaded_at = loaded_at or datetime.now(UTC).replace(tzinfo=None)
    rows: dict[str, int] = {}
    for contract in load_contract().values():
        raw = open_raw_source(raw_dir, contract, loaded_at)
        rows[contract.name] = register_parquet_table(spark, RAW_SCHEMA, contract.name, raw.batches)
    return rows


def run_dbt(
    args: list[str],
    as_of_date: str,
    run_started_at: str = "",
    extra_vars: dict[str, Any] | None = None,
) -> None:
    """One dbt command on the spark target, in this process (so in its Spark session)."""
    from dbt.cli.main import dbtRunner

    dbt_vars: dict[str, Any] = {"as_of_date": as_of_date, **(extra_vars or {})}
    if run_started_at:
        dbt_vars["run_started_at"] = run_started_at
    target_dir = spark_dir() / "dbt_target"
    command = [
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target",
        SPARK_TARGET,
        "--target-path",
        str(target_dir),
        "--vars",
        json.dumps(dbt_vars, sort_keys=True),
    ]
    os.environ["DBT_LOG_PATH"] = str(target_dir / "logs")
    result = dbtRunner().invoke(command)
    if not result.success:
        detail = result.exception or "see the dbt log above"
        raise SparkNightError(f"dbt {' '.join(args)} failed on Spark: {detail}")


def write_predictions(spark: SparkSession, as_of: date) -> int:
    """The night's BTYD fits and predictions from the Spark marts, as
    `predictive.btyd_model_fits` and `predictive.customer_predictions` (returns the latter's rows).

    The same inputs (orchestration/defs/predictive/assets.py reads them from DuckDB) and the
    same code; only the current night's predictions are kept, like the DuckDB table.
    """
    from orchestration.defs.predictive.assets import TABLES
    from orchestration.predictive.nightly import predict_night

    summary = spark.sql(
        """
        select customer_id, cast(btyd_frequency as double) as btyd_frequency,
            cast(btyd_recency as double) as btyd_recency, cast(btyd_t as double) as btyd_t,
            cast(btyd_monetary as double) as btyd_monetary
        from marts.customer_rfm order by customer_id
        """
    ).toPandas()
    purchase_days = spark.sql(
        """
        select customer_id, purchase_on, cast(amount_cny as double) as amount_cny
        from marts.fct_purchase_days order by customer_id, purchase_on
        """
    ).toPandas()
    night = predict_night(summary, purchase_days, as_of)
    # The fits too: the tag catalog shows each predictive tag's model status from them.
    frames = {"btyd_model_fits": night.fits, "customer_predictions": night.predictions}
    for name, frame in frames.items():
        schema = _arrow_schema(TABLES[name])
        table = pa.Table.from_pandas(
            frame.reindex(columns=schema.names), schema=schema, preserve_index=False
        )
        rows = register_parquet_table(spark, PREDICTIONS_SCHEMA, name, table.to_reader())
    return rows  # the predictions', registered last


def _arrow_schema(columns_sql: str) -> pa.Schema:
    """An Arrow schema from the predictive tables' declared DuckDB columns."""
    types = {"varchar": pa.string(), "double": pa.float64(), "date": pa.date32()}
    types["bigint"] = pa.int64()
    fields = []
    for declaration in columns_sql.split(","):
        name, kind = declaration.split()
        fields.append(pa.field(name, types[kind]))
    return pa.schema(fields)


@dataclass
class SparkNight:
    as_of_date: str
    raw_rows: dict[str, int] = field(default_factory=dict)
    prediction_rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def run_night_on_spark(
    raw_dir: Path, home_dir: Path, as_of_date: str, run_started_at: str = ""
) -> SparkNight:
    """Build the night `as_of_date` from `raw_dir` on Spark; tables go to the Spark dir."""
    home_dir.mkdir(parents=True, exist_ok=True)
    os.environ["SCRM_HOME"] = str(home_dir.resolve())
    os.environ.setdefault("SCRM_SPARK_DIR", str(spark_dir(home_dir)))
    spark_dir().mkdir(parents=True, exist_ok=True)
    night = SparkNight(as_of_date)

    started = time.monotonic()
    spark = spark_session()
    night.seconds["session"] = time.monotonic() - started

    def step(name: str, action: Callable[[], T]) -> T:
        began = time.monotonic()
        value = action()
        night.seconds[name] = time.monotonic() - began
        return value

    night.raw_rows = step("raw", lambda: load_raw_into_spark(spark, raw_dir))
    build = ["build", "--exclude-resource-type", "unit_test"]
    step(
        "build",
        lambda: run_dbt([*build, "--exclude", AFTER_PREDICTIONS], as_of_date, run_started_at),
    )
    night.prediction_rows = step(
        "predictions", lambda: write_predictions(spark, date.fromisoformat(as_of_date))
    )
    step(
        "build_after_predictions",
        lambda: run_dbt([*build, "--select", AFTER_PREDICTIONS], as_of_date, run_started_at),
    )
    return night
