"""The reference a team would otherwise write: RFM scores and five tags in plain pandas.

Run: uv run python benchmarks/pandas_reference.py --raw DIR --as-of 2026-10-31
(--run-started-at 'YYYY-MM-DD HH:MM:SS' pins the future-timestamp rule; --out writes the two
result tables as Parquet). It reads the raw files of one night (Parquet or CSV, all text) with
pandas, without DuckDB, and computes as of the date, exactly as the warehouse does:

- `customer_rfm` (one row per customer with a purchase): recency_days, frequency_orders,
  monetary_cny, r/f/m scores (quantile: min(5, 1 + floor(5 * percent rank)), worst first, ties
  share the lowest rank), rfm_class (each score against its mean) and rfm_segment;
- five tags for every known customer (`dim_customers`), one per tag category:
  - basic_attributes `first_channel_code` (tag_acquisition): the channel of the customer's
    first friendship (an add that starts one, per customer and staff in time order);
  - lifecycle `lifecycle_stage` (tag_lifecycle): the macro `lifecycle_stage` evaluated on the
    date, which is the stage customer_lifecycle_history ends in;
  - consumption `refund_rate` (tag_orders): refunded paid orders over paid orders;
  - preference `price_sensitivity` (tag_price_sensitivity): the band of the discount share of
    purchases;
  - social `interaction_level` (tag_interaction): interactions the customer started in the last
    30 days, banded 1/3/10.

tests/test_pandas_reference.py checks every value against the warehouse on two fixtures (the
customer stories, and generated data with every kind of bad row), so the benchmark compares
like with like.

What a team's script would usually skip, and what this one does not:

- the raw contract's quarantine: exact duplicate rows, rows with a missing or unparsable
  required value, unknown enums, negative amounts, timestamps after the run started, statuses
  before the order, keys shared by different contents, and references to customers that are
  not clean. The generated data carries 0.2% such rows, and they move quantile scores;
- point in time: an order's status as of the date from its status timestamps (a refund after
  the date has not happened yet), rather than the exported current status;
- timestamps with an offset, converted to Asia/Shanghai; money in exact cents.

Simplifications made here (none changes a result on the raw contract):

- only the four sources these figures need are read: customers, orders, friend_events and
  interactions (not order_items or products: no chosen tag needs them, and an order's lines
  only feed columns left out here);
- an invalid birthday or gender is not checked (it only blanks that attribute); an invalid or
  future registration time is (it decides whether a customer is known);
- text is trimmed of spaces and parsed with pandas' ISO 8601 and numeric parsers, which agree
  with DuckDB's casts on every form the contract and the generator use;
- no history, no rule tags, no tests, no publishing: this is the arithmetic alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml

SOURCES_YAML = (
    Path(__file__).resolve().parent.parent
    / "dbt_project"
    / "models"
    / "staging"
    / "raw"
    / "_raw__sources.yml"
)
PROJECT_YAML = Path(__file__).resolve().parent.parent / "dbt_project" / "dbt_project.yml"
LOADER_COLUMNS = ("_raw_row_number", "_source_file", "_loaded_at")
OFFSET = r"(?:[+-]\d{2}(?::?\d{2})?|Z)$"
ORDER_STATUSES = ("created", "paid", "confirmed", "cancelled", "refunded")
FRIEND_EVENT_TYPES = ("add", "delete_by_customer", "delete_by_staff")
INTERACTION_TYPES = (
    "chat_in", "chat_out", "group_message", "moment_like", "moment_comment",
    "content_open", "share", "invite", "review", "survey_answer",
)  # fmt: skip
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


def contract_columns() -> dict[str, list[str]]:
    """Each raw source's contract columns in file order (the dbt sources YAML)."""
    document = yaml.safe_load(SOURCES_YAML.read_text(encoding="utf-8"))
    (raw,) = (source for source in document["sources"] if source["name"] == "raw")
    return {
        table["name"]: [c["name"] for c in table["columns"] if c["name"] not in LOADER_COLUMNS]
        for table in raw["tables"]
    }


def project_vars() -> dict:
    return yaml.safe_load(PROJECT_YAML.read_text(encoding="utf-8"))["vars"]


# --- reading and typing ------------------------------------------------------------------------


def read_source(raw_dir: Path, source: str, columns: list[str]) -> pd.DataFrame:
    """The file's contract columns as text, in file order; an absent optional column is null."""
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
    return frame[columns].reset_index(drop=True)


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


def parse_cents(text: pd.Series) -> pd.Series:
    """Money as whole cents (floats holding integers, so sums and ties are exact)."""
    return np.round(pd.to_numeric(text, errors="coerce") * 100)


def unparsable(text: pd.Series, parsed: pd.Series) -> pd.Series:
    return text.notna() & parsed.isna()


def least(a: pd.Series, b: pd.Series) -> pd.Series:
    """The smaller, ignoring nulls (SQL least)."""
    return a.where((a <= b) | b.isna(), b)


def quarantine(
    frame: pd.DataFrame, columns: list[str], key: pd.Series, issues: list[tuple[str, pd.Series]]
) -> pd.Series:
    """True for clean rows: not an exact duplicate of an earlier row, no row issue (first
    matching rule), and a key no other clean-looking row carries."""
    duplicate = frame.duplicated(subset=columns, keep="first").to_numpy()
    issue = np.select(
        [mask.fillna(False).to_numpy(bool) for _, mask in issues],
        [name for name, _ in issues],
        default="",
    )
    candidate = pd.Series(~duplicate & (issue == ""), index=frame.index)
    keys = key[candidate]
    conflicting = keys.index[keys.duplicated(keep=False).to_numpy()]
    candidate[conflicting] = False
    return candidate


# --- the sources ------------------------------------------------------------------------------


def clean_customers(raw: pd.DataFrame, columns: list[str], run_started: pd.Timestamp):
    customer_id = clean(raw["customer_id"])
    registered_text = clean(raw["registered_at"])
    registered = parse_ts(registered_text)
    registered = registered.where(registered <= run_started)  # invalid or future: null
    ok = quarantine(raw, columns, customer_id, [("missing_customer_id", customer_id.isna())])
    return pd.DataFrame({"customer_id": customer_id[ok], "registered_at": registered[ok]})


def orders_as_of(
    raw: pd.DataFrame,
    columns: list[str],
    customers: pd.Index,
    run_started: pd.Timestamp,
    as_of_end: pd.Timestamp,
) -> pd.DataFrame:
    """fct_orders: clean orders placed by the date, with their state as of the date."""
    order_id, customer_id = clean(raw["order_id"]), clean(raw["customer_id"])
    status = clean(raw["status"]).str.lower()
    texts = {c: clean(raw[f"{c}_ts"]) for c in ("order", "paid", "confirmed", "cancelled")}
    texts["refunded"] = clean(raw["refunded_ts"])
    at = {c: parse_ts(t) for c, t in texts.items()}
    total_text, discount_text = clean(raw["total_amount"]), clean(raw["discount_amount"])
    total, discount = parse_cents(total_text), parse_cents(discount_text)
    ordered = at["order"]
    others = [at[c].fillna(ordered) for c in ("paid", "confirmed", "cancelled", "refunded")]
    latest = pd.concat([ordered, *others], axis=1).max(axis=1)
    earliest = pd.concat(others, axis=1).min(axis=1)
    issues = [
        ("missing_order_id", order_id.isna()),
        ("missing_customer_id", customer_id.isna()),
        ("missing_order_ts", texts["order"].isna()),
        ("missing_status", status.isna()),
        ("missing_total_amount", total_text.isna()),
        *[(f"invalid_{c}_ts", unparsable(texts[c], at[c])) for c in texts],
        ("invalid_total_amount", unparsable(total_text, total)),
        ("invalid_discount_amount", unparsable(discount_text, discount)),
        ("unknown_status", ~status.isin(ORDER_STATUSES)),
        ("negative_total_amount", total < 0),
        ("negative_discount_amount", discount < 0),
        ("future_timestamp", latest > run_started),
        ("status_before_order_ts", earliest < ordered),
    ]
    ok = quarantine(raw, columns, order_id, issues)
    ok &= customer_id.isin(customers) & (ordered < as_of_end)

    def recorded(name: str) -> pd.Series:
        return at[name][ok].fillna(ordered[ok].where(status[ok] == name))

    paid, confirmed = recorded("paid"), recorded("confirmed")
    cancelled, refunded = recorded("cancelled"), recorded("refunded")
    paid = paid.fillna(least(confirmed, refunded))  # confirmation or refund implies payment
    paid, cancelled, refunded = (t.where(t < as_of_end) for t in (paid, cancelled, refunded))
    is_net_paid = paid.notna() & refunded.isna() & cancelled.isna()
    return pd.DataFrame(
        {
            "customer_id": customer_id[ok],
            "paid_on": paid.dt.normalize(),
            "is_paid": paid.notna(),
            "is_refunded": refunded.notna(),
            "is_net_paid": is_net_paid,
            "has_discount": discount[ok].fillna(0) > 0,
            "net_paid_cents": total[ok].where(is_net_paid, 0),
        }
    )


def friend_events_as_of(
    raw: pd.DataFrame,
    columns: list[str],
    customers: pd.Index,
    run_started: pd.Timestamp,
    as_of_end: pd.Timestamp,
) -> pd.DataFrame:
    """fct_friend_events: each event's effect on its (customer, staff) friendship."""
    event_id, customer_id = clean(raw["event_id"]), clean(raw["customer_id"])
    staff_id = clean(raw["staff_id"])
    event_type = clean(raw["event_type"]).str.lower()
    ts_text = clean(raw["event_ts"])
    event_at = parse_ts(ts_text)
    issues = [
        ("missing_event_id", event_id.isna()),
        ("missing_customer_id", customer_id.isna()),
        ("missing_staff_id", staff_id.isna()),
        ("missing_event_type", event_type.isna()),
        ("missing_event_ts", ts_text.isna()),
        ("invalid_event_ts", unparsable(ts_text, event_at)),
        ("unknown_event_type", ~event_type.isin(FRIEND_EVENT_TYPES)),
        ("future_timestamp", event_at > run_started),
    ]
    ok = quarantine(raw, columns, event_id, issues)
    ok &= customer_id.isin(customers) & (event_at < as_of_end)
    events = pd.DataFrame(
        {
            "customer_id": customer_id[ok],
            "staff_id": staff_id[ok],
            "event_id": event_id[ok],
            "event_type": event_type[ok],
            "event_at": event_at[ok],
            "channel_code": clean(raw["channel_code"])[ok],
        }
    ).sort_values(["customer_id", "staff_id", "event_at", "event_id"], ignore_index=True)
    previous = events.groupby(["customer_id", "staff_id"], sort=False)["event_type"].shift()
    is_add = events["event_type"] == "add"
    events["friend_delta"] = np.select(
        [is_add & (previous != "add"), ~is_add & (previous == "add")], [1, -1], 0
    )
    return events


def interactions_as_of(
    raw: pd.DataFrame,
    columns: list[str],
    customers: pd.Index,
    run_started: pd.Timestamp,
    as_of_end: pd.Timestamp,
) -> pd.DataFrame:
    """fct_interactions: clean interactions by the date."""
    interaction_id, customer_id = clean(raw["interaction_id"]), clean(raw["customer_id"])
    interaction_type = clean(raw["interaction_type"]).str.lower()
    ts_text, duration_text = clean(raw["interaction_ts"]), clean(raw["duration_s"])
    interacted_at = parse_ts(ts_text)
    duration = pd.to_numeric(duration_text, errors="coerce")
    issues = [
        ("missing_interaction_id", interaction_id.isna()),
        ("missing_customer_id", customer_id.isna()),
        ("missing_interaction_ts", ts_text.isna()),
        ("missing_interaction_type", interaction_type.isna()),
        ("invalid_interaction_ts", unparsable(ts_text, interacted_at)),
        ("invalid_duration_s", unparsable(duration_text, duration)),
        ("unknown_interaction_type", ~interaction_type.isin(INTERACTION_TYPES)),
        ("negative_duration_s", duration < 0),
        ("future_timestamp", interacted_at > run_started),
    ]
    ok = quarantine(raw, columns, interaction_id, issues)
    ok &= customer_id.isin(customers) & (interacted_at < as_of_end)
    return pd.DataFrame(
        {
            "customer_id": customer_id[ok],
            "interaction_type": interaction_type[ok],
            "interacted_on": interacted_at[ok].dt.normalize(),
        }
    )


# --- the figures ------------------------------------------------------------------------------


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


def compute(
    raw_dir: Path, as_of: date, run_started_at: datetime | None = None
) -> dict[str, pd.DataFrame]:
    """{"rfm": customer_rfm's columns by customer, "tags": the five tags by known customer}."""
    settings = project_vars()
    columns = contract_columns()
    as_of_day = pd.Timestamp(as_of)
    as_of_end = as_of_day + pd.Timedelta(days=1)
    if run_started_at is None:
        run_started_at = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
    run_started = pd.Timestamp(run_started_at)

    raw_customers = read_source(raw_dir, "customers", columns["customers"])
    customers = clean_customers(raw_customers, columns["customers"], run_started)
    del raw_customers
    clean_ids = pd.Index(customers["customer_id"])
    raw = read_source(raw_dir, "orders", columns["orders"])
    orders = orders_as_of(raw, columns["orders"], clean_ids, run_started, as_of_end)
    raw = read_source(raw_dir, "friend_events", columns["friend_events"])
    friend_events = friend_events_as_of(
        raw, columns["friend_events"], clean_ids, run_started, as_of_end
    )
    raw = read_source(raw_dir, "interactions", columns["interactions"])
    interactions = interactions_as_of(
        raw, columns["interactions"], clean_ids, run_started, as_of_end
    )
    del raw

    # dim_customers: registered by the date, active by then, or undated.
    active = pd.Index(
        pd.concat(
            [orders["customer_id"], friend_events["customer_id"], interactions["customer_id"]]
        ).unique()
    )
    known = customers[
        customers["registered_at"].isna()
        | (customers["registered_at"] < as_of_end)
        | customers["customer_id"].isin(active)
    ]
    known_ids = pd.Index(known["customer_id"], name="customer_id")

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

    # The five tags, one row per known customer.
    tags = pd.DataFrame(index=known_ids)

    starts = friend_events[friend_events["friend_delta"] == 1]
    first_starts = starts.sort_values(["customer_id", "event_at", "event_id"]).drop_duplicates(
        "customer_id"
    )
    tags["first_channel_code"] = first_starts.set_index("customer_id")["channel_code"]

    friends = (
        friend_events.assign(started=friend_events["friend_delta"] == 1)
        .groupby("customer_id")
        .agg(started=("started", "sum"), current=("friend_delta", "sum"))
    )
    state = pd.DataFrame(index=known_ids).join(friends).fillna({"started": 0, "current": 0})
    first, last = first_purchase.reindex(known_ids), last_purchase.reindex(known_ids)
    previous = previous_purchase.reindex(known_ids)
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

    refunds = (
        orders.assign(refunded_paid=orders["is_paid"] & orders["is_refunded"])
        .groupby("customer_id")
        .agg(paid=("is_paid", "sum"), refunded=("refunded_paid", "sum"))
    )
    refunds = refunds[refunds["paid"] > 0]
    tags["refund_rate"] = refunds["refunded"] / refunds["paid"]

    share = purchases.groupby("customer_id")["has_discount"].mean()
    low, high_bound = settings["tag_price_sensitivity_bounds"]
    share = share.reindex(known_ids)
    tags["price_sensitivity"] = pd.Series(
        np.select([share >= high_bound, share >= low], ["high", "medium"], "low"), index=known_ids
    ).where(share.notna())

    started_by_customer = interactions[
        (interactions["interaction_type"] != "chat_out")
        & (days(as_of_day - interactions["interacted_on"]) < 30)
    ]
    counts = started_by_customer.groupby("customer_id").size().reindex(known_ids).fillna(0)
    one, three, ten = settings["tag_interaction_level_bounds"]
    tags["interaction_level"] = np.select(
        [counts >= ten, counts >= three, counts >= one], [3, 2, 1], 0
    )

    return {"rfm": rfm.sort_index(), "tags": tags.sort_index()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--as-of", type=date.fromisoformat, required=True)
    parser.add_argument("--run-started-at", type=datetime.fromisoformat)
    parser.add_argument("--out", type=Path, help="a directory for rfm.parquet and tags.parquet")
    arguments = parser.parse_args()
    started = time.perf_counter()
    result = compute(arguments.raw, arguments.as_of, arguments.run_started_at)
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
