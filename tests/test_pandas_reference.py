"""The benchmark's pandas reference (benchmarks/pandas_reference.py), a performance anchor: RFM
and one tag per category without the quarantine and point-in-time rules. On clean generated
files exported at the end of the as-of day those rules change nothing, so its values must be
the warehouse's, value for value."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import GENERATED_END, GENERATED_RUN_STARTED_AT, night_fixture, query

from orchestration.cli import run_night
from orchestration.generator import generate

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


@night_fixture(scope="module")
def clean_night(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The generator's 200 customers (seed 3) without bad rows, built as of its last day."""
    raw = tmp_path_factory.mktemp("clean_raw")
    generate(raw, customers=200, seed=3, end_date=GENERATED_END, bad_row_rate=0, progress=False)
    home = tmp_path_factory.mktemp("clean_home")
    result = run_night(raw, home, GENERATED_END.isoformat(), GENERATED_RUN_STARTED_AT)
    assert result.success
    return raw, home / "warehouse.duckdb"


def test_pandas_reference_equals_the_warehouse_on_clean_files(clean_night) -> None:
    raw, warehouse = clean_night
    # The premise: the warehouse quarantined nothing.
    rows = query(warehouse, "select sum(quarantined_rows) from marts.raw_row_accounting")
    assert rows == [(0,)]
    result = load_reference().compute(raw, GENERATED_END)
    rfm, tags = warehouse_frames(warehouse)
    assert len(rfm) > 5 and len(tags) > len(rfm)
    assert_same(rfm, result["rfm"], RFM_COLUMNS)
    assert_same(tags, result["tags"], TAG_COLUMNS)
    # The tags vary: a comparison of constants would prove little.
    for column in TAG_COLUMNS:
        assert tags[column].nunique() >= 2, column
