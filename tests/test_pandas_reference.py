"""The benchmark's pandas reference (benchmarks/pandas_reference.py) computes what the
warehouse computes: every customer's RFM figures and the five tags, value for value, on the
customer stories and on generated data with every kind of bad row."""

from __future__ import annotations

import importlib.util
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import (
    CUSTOMER_MARTS_AS_OF,
    CUSTOMER_MARTS_RAW,
    CUSTOMER_MARTS_RUN_STARTED_AT,
    GENERATED_END,
    GENERATED_RUN_STARTED_AT,
)

REFERENCE = Path(__file__).resolve().parent.parent / "benchmarks" / "pandas_reference.py"
RFM_COLUMNS = [
    "recency_days", "frequency_orders", "monetary_cny", "r_score", "f_score", "m_score",
    "rfm_class", "rfm_segment",
]  # fmt: skip
TAG_COLUMNS = [
    "first_channel_code", "lifecycle_stage", "refund_rate", "price_sensitivity",
    "interaction_level",
]  # fmt: skip


def load_reference():
    spec = importlib.util.spec_from_file_location("pandas_reference", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def warehouse_frames(warehouse: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rfm = connection.execute(
            f"select customer_id, {', '.join(RFM_COLUMNS)} from marts.customer_rfm"
        ).df()
        tags = connection.execute(
            f"select customer_id, {', '.join(TAG_COLUMNS)} from marts.customer_profile"
        ).df()
    return rfm, tags


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain Python values, money as whole cents, nulls as None: compared exactly."""
    frame = frame.reset_index() if "customer_id" not in frame.columns else frame
    frame = frame.sort_values("customer_id", ignore_index=True)
    if "monetary_cny" in frame.columns:
        frame["monetary_cny"] = (frame["monetary_cny"].astype(float) * 100).round().astype(int)
    return frame.astype(object).where(frame.notna(), None)


def assert_same(ours: pd.DataFrame, reference: pd.DataFrame, columns: list[str]) -> None:
    ours, reference = normalised(ours), normalised(reference[columns])
    assert list(reference["customer_id"]) == list(ours["customer_id"])
    for column in columns:
        differing = [
            (customer, a, b)
            for customer, a, b in zip(
                ours["customer_id"], ours[column], reference[column], strict=True
            )
            if a != b
        ]
        assert not differing, f"{column}: (customer, warehouse, pandas) {differing[:10]}"


# Builds its night through request.getfixturevalue, which the night mark cannot see.
@pytest.mark.night
@pytest.mark.parametrize("fixture", ["customer_marts", "generated"])
def test_pandas_reference_equals_the_warehouse(fixture, request: pytest.FixtureRequest) -> None:
    if fixture == "customer_marts":
        warehouse = request.getfixturevalue("customer_marts_warehouse")
        raw, as_of, started = (
            CUSTOMER_MARTS_RAW,
            date.fromisoformat(CUSTOMER_MARTS_AS_OF),
            CUSTOMER_MARTS_RUN_STARTED_AT,
        )
    else:
        _, warehouse = request.getfixturevalue("generated_night")
        raw, _ = request.getfixturevalue("generated_raw")
        as_of, started = GENERATED_END, GENERATED_RUN_STARTED_AT
    result = load_reference().compute(raw, as_of, datetime.fromisoformat(started))
    rfm, tags = warehouse_frames(warehouse)
    assert len(rfm) > 5 and len(tags) > len(rfm)
    assert_same(rfm, result["rfm"], RFM_COLUMNS)
    assert_same(tags, result["tags"], TAG_COLUMNS)
    # The tags vary: a comparison of constants would prove little.
    for column in TAG_COLUMNS:
        assert tags[column].nunique() >= 2, column
