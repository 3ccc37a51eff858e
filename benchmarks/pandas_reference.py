"""A performance anchor: RFM scores and one tag per category in plain pandas.

Run: uv run python benchmarks/pandas_reference.py --raw DIR --as-of 2026-10-31
(--out writes the two result tables as Parquet). It reads the raw files of one night (Parquet
or CSV, all text) with pandas, without DuckDB, and computes what a team's first script would:

- `customer_rfm` (one row per customer with a purchase): recency_days, frequency_orders,
  monetary_cny, r/f/m scores (quantile: min(5, 1 + floor(5 * percent rank)), worst first, ties
  share the lowest rank; or the var's thresholds), rfm_class and rfm_segment;
- one tag per category for every customer: basic_attributes `first_channel_code`, lifecycle
  `lifecycle_stage`, consumption `refund_rate`, preference `price_sensitivity` and social
  `interaction_level` (docs/tags.md says what each means).

It is no second implementation of the warehouse's rules. It leaves out the raw contract's
quarantine (duplicates, missing or unparsable values, unknown codes, references to unknown
customers) and the point-in-time rules (an event after the as-of date, a status timestamped
later, a customer registered later), so it agrees with the warehouse only on clean files
exported at the end of the as-of day. tests/test_pandas_reference.py checks that it does, on
such generated files, so that benchmarks/nightly.py compares like with like.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml

PROJECT_YAML = Path(__file__).resolve().parent.parent / "dbt_project" / "dbt_project.yml"
OFFSET = r"(?:[+-]\d{2}(?::?\d{2})?|Z)$"
RFM_CLASSES = {
    (True, True, True): "重要价值客户",
    (True, False, True): "重要发展客户",
    (False, True, True): "重要保持客户",
    (False, False, True): "重要挽留客户",
    (True, True, False): "一般价值客户",
    (True, False, False): "一般发展客户",
    (False, True, False): "一般保持客户",
    (False, False, False): "一般挽留客户",
}
COLUMNS = {
    "customers": ["customer_id"],
    "orders": [
        "order_id", "customer_id", "order_ts", "status", "total_amount", "discount_amount",
        "paid_ts", "confirmed_ts", "cancelled_ts", "refunded_ts",
    ],
    "friend_events": ["event_id", "customer_id", "staff_id", "event_type", "event_ts",
                      "channel_code"],
    "interactions": ["customer_id", "interaction_type", "interaction_ts"],
}  # fmt: skip


def project_vars() -> dict:
    return yaml.safe_load(PROJECT_YAML.read_text(encoding="utf-8"))["vars"]


def read_source(raw_dir: Path, source: str) -> pd.DataFrame:
    """The columns the figures need, as text; an absent optional column is null."""
    columns = COLUMNS[source]
    parquet, csv = raw_dir / f"{source}.parquet", raw_dir / f"{source}.csv"
    if parquet.is_file():
        present = set(pq.read_schema(parquet).names)
        frame = pd.read_parquet(parquet, columns=[c for c in columns if c in present])
        frame = frame.astype("str")
    else:
        frame = pd.read_csv(
            csv, dtype="str", keep_default_na=False, na_values=[""], encoding="utf-8-sig"
        )
        frame.columns = [c.strip() for c in frame.columns]
    for column in columns:
        if column not in frame.columns:
            frame[column] = pd.Series(pd.NA, index=frame.index, dtype="str")
    return frame[columns].apply(clean)


def clean(text: pd.Series) -> pd.Series:
    """Trimmed of spaces, '' as null."""
    stripped = text.str.strip(" ")
    return stripped.where(stripped != "")


def parse_ts(text: pd.Series) -> pd.Series:
    """ISO 8601 text as Asia/Shanghai local time: an offset is converted, none means local."""
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    has_offset = text.str.contains(OFFSET, regex=True, na=False)
    local = parsed.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    return parsed.dt.tz_localize(None).where(~has_offset, local)


def least(a: pd.Series, b: pd.Series) -> pd.Series:
    """The smaller, ignoring nulls (SQL least)."""
    return a.where((a <= b) | b.isna(), b)


def orders_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Each order's payment, refund and discount from its status and status timestamps."""
    status = raw["status"].str.lower()
    ordered = parse_ts(raw["order_ts"])

    def recorded(name: str) -> pd.Series:
        return parse_ts(raw[f"{name}_ts"]).fillna(ordered.where(status == name))

    paid, confirmed = recorded("paid"), recorded("confirmed")
    cancelled, refunded = recorded("cancelled"), recorded("refunded")
    paid = paid.fillna(least(confirmed, refunded))  # confirmation or refund implies payment
    is_net_paid = paid.notna() & refunded.isna() & cancelled.isna()
    total = np.round(pd.to_numeric(raw["total_amount"]) * 100)  # exact whole cents
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "paid_on": paid.dt.normalize(),
            "is_paid": paid.notna(),
            "is_refunded": refunded.notna(),
            "is_net_paid": is_net_paid,
            "has_discount": pd.to_numeric(raw["discount_amount"]).fillna(0) > 0,
            "net_paid_cents": total.where(is_net_paid, 0),
        }
    )


def friend_events_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Each event's effect on its (customer, staff) friendship: +1 starts one, -1 ends it."""
    events = raw.assign(
        event_type=raw["event_type"].str.lower(), event_at=parse_ts(raw["event_ts"])
    ).sort_values(["customer_id", "staff_id", "event_at", "event_id"], ignore_index=True)
    previous = events.groupby(["customer_id", "staff_id"], sort=False)["event_type"].shift()
    is_add = events["event_type"] == "add"
    events["friend_delta"] = np.select(
        [is_add & (previous != "add"), ~is_add & (previous == "add")], [1, -1], 0
    )
    return events


def quantile_score(values: pd.Series, higher_is_better: bool) -> pd.Series:
    """min(5, 1 + floor(5 * percent rank)), worst first; equal values share the lowest rank."""
    n = len(values)
    rank = values.rank(method="min", ascending=higher_is_better)
    percent_rank = (rank - 1) / (n - 1) if n > 1 else rank * 0.0
    return np.minimum(5, 1 + np.floor(5 * percent_rank)).astype("int64")


def threshold_score(values: pd.Series, bounds: list[float], higher_is_better: bool) -> pd.Series:
    if higher_is_better:
        return 1 + sum((values >= b).astype("int64") for b in bounds)
    return 5 - sum((values > b).astype("int64") for b in bounds)


def rfm_segment(r: pd.Series, f: pd.Series, one_purchase_day: pd.Series) -> np.ndarray:
    rules = [
        ("New", one_purchase_day & (r == 5)),
        ("Promising", one_purchase_day & (r == 4)),
        ("Champions", (r == 5) & (f >= 4)),
        ("Loyal", r.between(3, 4) & (f >= 4)),
        ("Potential Loyalist", r >= 4),
        ("Need Attention", (r == 3) & (f == 3)),
        ("About to Sleep", (r == 3) & (f <= 2)),
        ("Cannot Lose Them", (r <= 2) & (f == 5)),
        ("At Risk", (r <= 2) & f.between(3, 4)),
        ("Lost", (r == 1) & (f == 1)),
    ]
    return np.select([mask for _, mask in rules], [name for name, _ in rules], "Hibernating")


def days(delta: pd.Series) -> pd.Series:
    return delta.dt.days


def compute(raw_dir: Path, as_of: date) -> dict[str, pd.DataFrame]:
    """{"rfm": customer_rfm's columns by customer, "tags": the five tags by customer}."""
    settings = project_vars()
    as_of_day = pd.Timestamp(as_of)
    customer_ids = pd.Index(
        read_source(raw_dir, "customers")["customer_id"].unique(), name="customer_id"
    )
    orders = orders_frame(read_source(raw_dir, "orders"))
    friend_events = friend_events_frame(read_source(raw_dir, "friend_events"))
    interactions = read_source(raw_dir, "interactions")

    # Purchases and purchase days.
    purchases = orders[orders["is_net_paid"]]
    purchase_days = (
        purchases[["customer_id", "paid_on"]]
        .drop_duplicates()
        .sort_values(["customer_id", "paid_on"], ignore_index=True)
    )
    by_customer = purchase_days.groupby("customer_id")["paid_on"]
    first_purchase, last_purchase = by_customer.min(), by_customer.max()
    purchase_days["previous"] = by_customer.shift()
    previous_purchase = purchase_days.groupby("customer_id")["previous"].last()

    # customer_rfm
    in_window = days(as_of_day - purchases["paid_on"]) < settings["rfm_window_days"]
    window = (
        purchases[in_window]
        .groupby("customer_id")
        .agg(frequency_orders=("net_paid_cents", "size"), monetary_cents=("net_paid_cents", "sum"))
    )
    rfm = pd.DataFrame({"recency_days": days(as_of_day - last_purchase)})
    rfm.index.name = "customer_id"
    rfm = rfm.join(window)
    rfm["frequency_orders"] = rfm["frequency_orders"].fillna(0).astype("int64")
    rfm["monetary_cny"] = rfm.pop("monetary_cents").fillna(0) / 100
    measures = (
        ("r_score", "recency_days", False),
        ("f_score", "frequency_orders", True),
        ("m_score", "monetary_cny", True),
    )
    for score, column, higher_is_better in measures:
        if settings["rfm_scoring"] == "quantile":
            rfm[score] = quantile_score(rfm[column], higher_is_better)
        else:
            bounds = settings["rfm_thresholds"][column]
            rfm[score] = threshold_score(rfm[column], bounds, higher_is_better)
    high = [rfm[s] > rfm[s].mean() for s in ("r_score", "f_score", "m_score")]
    rfm["rfm_class"] = [RFM_CLASSES[k] for k in zip(*high, strict=True)]
    one_purchase_day = (first_purchase == last_purchase).reindex(rfm.index)
    rfm["rfm_segment"] = rfm_segment(rfm["r_score"], rfm["f_score"], one_purchase_day)

    # One tag per category, one row per customer.
    tags = pd.DataFrame(index=customer_ids)

    # basic_attributes: the channel of the customer's first friendship.
    starts = friend_events[friend_events["friend_delta"] == 1]
    first_starts = starts.sort_values(["customer_id", "event_at", "event_id"]).drop_duplicates(
        "customer_id"
    )
    tags["first_channel_code"] = first_starts.set_index("customer_id")["channel_code"]

    # lifecycle: the stage, from friendships and purchase days.
    friends = (
        friend_events.assign(started=friend_events["friend_delta"] == 1)
        .groupby("customer_id")
        .agg(started=("started", "sum"), current=("friend_delta", "sum"))
    )
    state = pd.DataFrame(index=customer_ids).join(friends).fillna({"started": 0, "current": 0})
    first, last = first_purchase.reindex(customer_ids), last_purchase.reindex(customer_ids)
    previous = previous_purchase.reindex(customer_ids)
    churn_days, new_days = settings["lifecycle_churn_days"], settings["lifecycle_new_days"]
    recent = days(as_of_day - last) < churn_days
    tags["lifecycle_stage"] = np.select(
        [
            (state["started"] > 0) & (state["current"] == 0),
            last.isna(),
            days(as_of_day - first) < new_days,
            recent & (days(last - previous) > churn_days),
            recent,
            state["current"] > 0,
        ],
        ["lost_friend", "prospect", "new", "reactivated", "active", "silent"],
        "churned",
    )

    # consumption: refunded paid orders over paid orders.
    refunds = (
        orders.assign(refunded_paid=orders["is_paid"] & orders["is_refunded"])
        .groupby("customer_id")
        .agg(paid=("is_paid", "sum"), refunded=("refunded_paid", "sum"))
    )
    refunds = refunds[refunds["paid"] > 0]
    tags["refund_rate"] = refunds["refunded"] / refunds["paid"]

    # preference: the band of the share of purchases with a discount.
    share = purchases.groupby("customer_id")["has_discount"].mean().reindex(customer_ids)
    low, high_bound = settings["tag_price_sensitivity_bounds"]
    tags["price_sensitivity"] = pd.Series(
        np.select([share >= high_bound, share >= low], ["high", "medium"], "low"),
        index=customer_ids,
    ).where(share.notna())

    # social: interactions the customer started in the last 30 days, banded.
    interacted_on = parse_ts(interactions["interaction_ts"]).dt.normalize()
    started_by_customer = interactions[
        (interactions["interaction_type"].str.lower() != "chat_out")
        & (days(as_of_day - interacted_on) < 30)
    ]
    counts = started_by_customer.groupby("customer_id").size().reindex(customer_ids).fillna(0)
    one, three, ten = settings["tag_interaction_level_bounds"]
    tags["interaction_level"] = np.select(
        [counts >= ten, counts >= three, counts >= one], [3, 2, 1], 0
    )

    return {"rfm": rfm.sort_index(), "tags": tags.sort_index()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--as-of", type=date.fromisoformat, required=True)
    parser.add_argument("--out", type=Path, help="a directory for rfm.parquet and tags.parquet")
    arguments = parser.parse_args()
    started = time.perf_counter()
    result = compute(arguments.raw, arguments.as_of)
    seconds = time.perf_counter() - started
    if arguments.out:
        arguments.out.mkdir(parents=True, exist_ok=True)
        for name, frame in result.items():
            frame.to_parquet(arguments.out / f"{name}.parquet")
    figures = {
        "seconds": round(seconds, 2),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "rfm_customers": len(result["rfm"]),
        "known_customers": len(result["tags"]),
    }
    json.dump(figures, sys.stdout)
    print()


if __name__ == "__main__":
    main()
