"""The predictive marts: BTYD fits, per-customer predictions and the nightly backtest.

Runs after the dbt build of the night, reads customer_rfm and fct_purchase_days, and writes
three tables to the `predictive` schema of the warehouse.
"""

import datetime as dt
from collections.abc import Iterator

import dagster as dg
import duckdb
import pandas as pd
from dagster_dbt import get_asset_key_for_model

from orchestration import duckdb_settings
from orchestration.defs.dbt.assets import scrm_dbt_models
from orchestration.defs.resources import WarehouseResource
from orchestration.partitions import nightly_partitions, one_night_per_run
from orchestration.predictive.nightly import (
    BG_NBD_BACKTEST,
    CONVERGED,
    NightPredictions,
    PredictionSettings,
    predict_night,
    relative_backtest_error,
)

SCHEMA = "predictive"
FITS = dg.AssetKey([SCHEMA, "btyd_model_fits"])
PREDICTIONS = dg.AssetKey([SCHEMA, "customer_predictions"])
BACKTEST = dg.AssetKey([SCHEMA, "model_backtest"])
KINDS = {"python", "duckdb"}
UPSTREAM = [
    get_asset_key_for_model([scrm_dbt_models], "customer_rfm"),
    get_asset_key_for_model([scrm_dbt_models], "fct_purchase_days"),
]


class PredictionConfig(dg.Config):
    min_customers: int = PredictionSettings.min_customers
    holdout_days: int = PredictionSettings.holdout_days
    bgnbd_penalizer_coef: float = PredictionSettings.bgnbd_penalizer_coef
    # Warn when the backtest's total predicted purchases miss the actual by more than this.
    max_backtest_relative_error: float = 0.3


def read_inputs(connection: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, pd.DataFrame]:
    summary = connection.execute(
        """
        select customer_id, btyd_frequency, btyd_recency, btyd_t, btyd_monetary
        from marts.customer_rfm order by customer_id
        """
    ).df()
    # Sorted, the backtest's grouping by customer and day finds the customers in order, about
    # twice as fast for the same summary.
    purchase_days = connection.execute(
        "select customer_id, purchase_on, amount_cny from marts.fct_purchase_days "
        "order by customer_id, purchase_on"
    ).df()
    return summary, purchase_days


# Declared, not inferred from the frames: an empty night must not change a column's type.
TABLES = {
    "btyd_model_fits": """
        as_of_date date, model varchar, status varchar, detail varchar, detail_fields varchar,
        n_customers bigint, log_likelihood double, iterations bigint, parameters varchar,
        data_first_purchase_on date, data_last_purchase_on date
    """,
    "model_backtest": """
        as_of_date date, calibration_end date, holdout_end date, frequency_bucket varchar,
        customers bigint, actual_mean double, predicted_mean double, total_actual double,
        total_predicted double, mean_absolute_error double
    """,
    "customer_predictions": """
        customer_id varchar, probability_alive double, expected_purchases_30d double,
        expected_purchases_90d double, expected_avg_order_value_cny double,
        clv_12m_cny double, as_of_date date
    """,
}


def write_night(
    connection: duckdb.DuckDBPyConnection, night: NightPredictions, as_of: dt.date
) -> None:
    """Replace the night's rows: fits and backtests keep every night, predictions the latest."""
    connection.execute(f"create schema if not exists {SCHEMA}")
    connection.execute("begin transaction")
    for table, columns in TABLES.items():
        connection.execute(f"create table if not exists {SCHEMA}.{table} ({columns})")
    # A home from before the fits kept their detail as fields.
    connection.execute(
        f"alter table {SCHEMA}.btyd_model_fits add column if not exists detail_fields varchar"
    )
    frames = {
        "btyd_model_fits": night.fits,
        "model_backtest": night.backtest,
        "customer_predictions": night.predictions,
    }
    for table, frame in frames.items():
        if table == "customer_predictions":
            connection.execute(f"delete from {SCHEMA}.{table}")
        else:
            connection.execute(f"delete from {SCHEMA}.{table} where as_of_date = ?", [as_of])
        if not frame.empty:
            connection.register("night_rows", frame)
            connection.execute(f"insert into {SCHEMA}.{table} by name select * from night_rows")
            connection.unregister("night_rows")
    connection.execute("commit")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            FITS,
            kinds=KINDS,
            deps=UPSTREAM,
            description="Every night's BG/NBD and Gamma-Gamma fits and the backtest's calibration "
            "fit: status (converged, boundary, not_fitted, failed, unusable), reason, "
            "parameters and log-likelihood.",
        ),
        dg.AssetSpec(
            PREDICTIONS,
            kinds=KINDS,
            deps=UPSTREAM,
            description="Per customer: P(alive), expected purchases in 30 and 90 days, "
            "expected order value and 12-month CLV, as of the latest night built.",
        ),
        dg.AssetSpec(
            BACKTEST,
            kinds=KINDS,
            deps=UPSTREAM,
            description="Every night's backtest: predicted vs actual purchases in the holdout.",
        ),
    ],
    check_specs=[dg.AssetCheckSpec("backtest_error_within_threshold", asset=BACKTEST)],
    partitions_def=nightly_partitions,
    backfill_policy=one_night_per_run,
    group_name="predictive",
)
def btyd_predictions(
    context: dg.AssetExecutionContext, config: PredictionConfig, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    as_of = dt.date.fromisoformat(context.partition_key)
    settings = PredictionSettings(
        min_customers=config.min_customers,
        holdout_days=config.holdout_days,
        bgnbd_penalizer_coef=config.bgnbd_penalizer_coef,
    )
    with duckdb_settings.connect(warehouse.warehouse_path) as connection:
        summary, purchase_days = read_inputs(connection)
        # A fit that cannot be made is a status with its reason, never a failed night.
        night = predict_night(summary, purchase_days, as_of, settings)
        write_night(connection, night, as_of)

    from orchestration.reporting.nightly_report import fit_detail_text

    for row in night.fits.itertuples():
        # A fit that did not converge is a warning `scrm run` shows under the step: its detail
        # in the operator's language, worded from its fields as the report words it.
        detail = fit_detail_text(row.detail, row.detail_fields)
        message = f"{row.model}: {row.status} {row.parameters or ''} {detail}"
        if row.status == CONVERGED:
            context.log.info(message)
        else:
            context.log.warning(message)
    yield dg.MaterializeResult(
        asset_key=FITS,
        metadata={"fits": dg.MetadataValue.json(night.fits.astype(str).to_dict("records"))},
    )
    yield dg.MaterializeResult(
        asset_key=PREDICTIONS, metadata={"customers": len(night.predictions)}
    )
    error = relative_backtest_error(night.backtest)
    calibration = night.fits[night.fits["model"] == BG_NBD_BACKTEST].iloc[0]
    no_backtest = f"calibration fit {calibration['status']}, {calibration['detail']}"
    yield dg.MaterializeResult(
        asset_key=BACKTEST,
        metadata={"relative_error": error if error is not None else "no backtest"},
    )
    yield dg.AssetCheckResult(
        asset_key=BACKTEST,
        check_name="backtest_error_within_threshold",
        passed=error is None or error <= config.max_backtest_relative_error,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "relative_error": error if error is not None else f"no backtest: {no_backtest}",
            "threshold": config.max_backtest_relative_error,
        },
    )
