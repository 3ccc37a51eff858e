"""Tests of the raw data generator: determinism, contract shape, integrity and bad rows."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
import yaml

from orchestration.generator import (
    BAD_KINDS,
    BAD_SPECS,
    CATEGORIES,
    FRIEND_EVENT_TYPES,
    GROUP_EVENT_TYPES,
    GROUP_THEMES,
    INTERACTION_TYPES,
    JOIN_SCENES,
    ORDER_STATUSES,
    SOURCES,
    STAFF_TAG_ACTIONS,
    STAFF_TAG_GROUPS,
    SYNC_TAG_GROUP,
    SYNCED_TAGS,
    generate,
)
from orchestration.project import DBT_PROJECT_DIR, project_vars
from orchestration.raw_contract import load_contract
from tests.conftest import query

CUSTOMERS = 400
END = dt.date(2026, 10, 31)
END_TS = dt.datetime(2026, 10, 31, 23, 59, 59)
START_TS = dt.datetime(2024, 11, 1)
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
TS_COLUMNS = {
    "customers": ("registered_at",),
    "products": ("launched_at",),
    "orders": ("order_ts", "paid_ts", "confirmed_ts", "cancelled_ts", "refunded_ts"),
    "order_items": (),
    "friend_events": ("event_ts",),
    "interactions": ("interaction_ts",),
    "groups": ("created_at", "dismissed_at"),
    "group_members": ("event_ts",),
    "tag_library": ("created_at", "deleted_at"),
    "staff_tags": ("event_ts",),
}
# The statuses and types each source with one allows.
ENUMS = {
    "orders": ORDER_STATUSES,
    "friend_events": FRIEND_EVENT_TYPES,
    "interactions": INTERACTION_TYPES,
    "group_members": GROUP_EVENT_TYPES,
    "staff_tags": STAFF_TAG_ACTIONS,
}

Run = tuple[Path, dict[str, Any]]


def _run(factory: pytest.TempPathFactory, name: str, **kwargs: Any) -> Run:
    out = factory.mktemp(name)
    args: dict[str, Any] = {"customers": CUSTOMERS, "progress": False} | kwargs
    return out, generate(out, **args)


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(tmp_path_factory, "dirty")


@pytest.fixture(scope="module")
def dirty_parquet(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(tmp_path_factory, "dirty_parquet", file_format="parquet")


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(tmp_path_factory, "clean", bad_row_rate=0)


def read_csv(path: Path) -> pa.Table:
    """A generated CSV as all-text columns, empty fields as null (as the raw loader sees it)."""
    header = path.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
    return pcsv.read_csv(
        path,
        convert_options=pcsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )


def frames(run: Run) -> dict[str, pd.DataFrame]:
    out, _ = run
    return {s: read_csv(out / f"{s}.csv").to_pandas() for s in SOURCES}


def parse_ts(value: object) -> dt.datetime | None:
    """Local Asia/Shanghai wall time of an ISO timestamp; None if empty or unparsable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(SHANGHAI).replace(tzinfo=None)
    return parsed


def ts_frame(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return df[columns].apply(lambda c: pd.to_datetime(c.map(parse_ts)))


def cents(series: pd.Series) -> pd.Series:
    return (pd.to_numeric(series).fillna(0) * 100).round().astype("int64")


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(
    dirty: Run, dirty_parquet: Run, tmp_path_factory: pytest.TempPathFactory
) -> None:
    again_csv, result_csv = _run(tmp_path_factory, "again_csv")
    again_pq, _ = _run(tmp_path_factory, "again_pq", file_format="parquet")
    for source in SOURCES:
        first = (dirty[0] / f"{source}.csv").read_bytes()
        assert first == (again_csv / f"{source}.csv").read_bytes()
        first_pq = (dirty_parquet[0] / f"{source}.parquet").read_bytes()
        assert first_pq == (again_pq / f"{source}.parquet").read_bytes()
    assert result_csv == dirty[1]


def test_different_seed_gives_different_data(
    dirty: Run, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other, _ = _run(tmp_path_factory, "other_seed", seed=7)
    for source in ("customers", "orders", "interactions", "friend_events"):
        assert (dirty[0] / f"{source}.csv").read_bytes() != (other / f"{source}.csv").read_bytes()


# --- shape -------------------------------------------------------------------------------------


def test_files_have_exactly_the_contract_columns(dirty: Run, dirty_parquet: Run) -> None:
    # Of the optional sources, the groups and their members are generated, identity links not.
    contract = {name: spec for name, spec in load_contract().items() if name != "identity_links"}
    assert sorted(p.name for p in dirty[0].iterdir()) == sorted(f"{s}.csv" for s in contract)
    for source, spec in contract.items():
        header = (dirty[0] / f"{source}.csv").read_text(encoding="utf-8").split("\n", 1)[0]
        assert tuple(header.split(",")) == spec.columns
        schema = pq.read_schema(dirty_parquet[0] / f"{source}.parquet")
        assert tuple(schema.names) == spec.columns
        assert all(t == pa.string() for t in schema.types)


def test_csv_and_parquet_hold_the_same_rows(dirty: Run, dirty_parquet: Run) -> None:
    for source in SOURCES:
        from_csv = read_csv(dirty[0] / f"{source}.csv")
        from_parquet = pq.read_table(dirty_parquet[0] / f"{source}.parquet")
        assert from_csv.num_rows == dirty[1]["rows"][source]
        assert from_csv.equals(from_parquet), source
    assert dirty[1] == dirty_parquet[1]


def test_csv_quotes_only_values_that_need_it(dirty: Run) -> None:
    text = (dirty[0] / "orders.csv").read_text(encoding="utf-8")
    assert '"12,3x"' in text  # the injected unparsable number contains a comma
    assert text.count('"') == 2 * text.count('"12,3x"')


def test_returned_counts_and_volumes(clean: Run) -> None:
    _, result = clean
    rows = result["rows"]
    assert rows["customers"] == CUSTOMERS
    assert rows["products"] == sum(len(c.sku_names) for c in CATEGORIES)
    assert 40 <= rows["products"] <= 80
    assert 2.2 <= rows["order_items"] / rows["orders"] <= 2.8
    assert rows["interactions"] > 10 * CUSTOMERS
    assert all(v == 0 for kinds in result["bad_rows"].values() for v in kinds.values())


# --- the clean part ----------------------------------------------------------------------------


def test_keys_unique_and_required_values_present(clean: Run) -> None:
    data = frames(clean)
    contract = load_contract()
    for source, df in data.items():
        key = list(BAD_SPECS[source].key)
        assert not df.duplicated(key).any(), source
        for column in contract[source].required:
            assert df[column].notna().all(), (source, column)


def test_referential_integrity(clean: Run) -> None:
    data = frames(clean)
    customers = set(data["customers"].customer_id)
    assert set(data["orders"].customer_id) <= customers
    assert set(data["order_items"].order_id) <= set(data["orders"].order_id)
    assert set(data["order_items"].sku_id) <= set(data["products"].sku_id)
    assert set(data["friend_events"].customer_id) <= customers
    assert set(data["interactions"].customer_id) <= customers
    assert set(data["group_members"].customer_id) <= customers
    assert set(data["group_members"].group_id) <= set(data["groups"].group_id)


def _orders_without_lines(data: dict[str, pd.DataFrame]) -> set[str]:
    return set(data["orders"].order_id) - set(data["order_items"].order_id)


def test_every_order_has_lines_that_add_up(clean: Run) -> None:
    data = frames(clean)
    orders, items = data["orders"], data["order_items"]
    assert _orders_without_lines(data) == set()
    qty = pd.to_numeric(items.quantity)
    assert (qty >= 1).all()
    assert (cents(items.line_amount) == qty * cents(items.unit_price)).all()
    line_numbers = items.groupby("order_id").line_no.apply(lambda s: sorted(map(int, s)))
    assert all(v == list(range(1, len(v) + 1)) for v in line_numbers)
    gross = cents(items.line_amount).groupby(items.order_id).sum()
    paid = (cents(orders.total_amount) + cents(orders.discount_amount)).set_axis(orders.order_id)
    assert (gross.reindex(paid.index) == paid).all()
    assert (cents(orders.total_amount) > 0).all()
    discounted = (cents(orders.discount_amount) > 0).mean()
    assert 0.3 <= discounted <= 0.5


def test_sku_ordered_only_after_launch(clean: Run) -> None:
    data = frames(clean)
    launch = data["products"].set_index("sku_id").launched_at.map(parse_ts)
    lines = data["order_items"].merge(data["orders"][["order_id", "order_ts"]], on="order_id")
    assert (lines.order_ts.map(parse_ts) >= lines.sku_id.map(launch)).all()


# Status timestamps filled for each current status (a refund may come before or after confirm).
STATUS_FILLED: dict[str, list[set[str]]] = {
    "created": [set()],
    "paid": [{"paid_ts"}],
    "confirmed": [{"paid_ts", "confirmed_ts"}],
    "cancelled": [{"cancelled_ts"}],
    "refunded": [{"paid_ts", "refunded_ts"}, {"paid_ts", "confirmed_ts", "refunded_ts"}],
}


def test_status_timestamps_consistent_with_status(clean: Run) -> None:
    orders = frames(clean)["orders"]
    steps = ["order_ts", "paid_ts", "confirmed_ts", "cancelled_ts", "refunded_ts"]
    assert set(orders.status) <= set(STATUS_FILLED)
    for row in orders.itertuples(index=False):
        filled = {c for c in steps[1:] if isinstance(getattr(row, c), str)}
        assert filled in STATUS_FILLED[row.status], row
        times = [parse_ts(getattr(row, c)) for c in steps]
        order_ts, paid, confirmed, _cancelled, refunded = times
        assert all(t is None or t >= order_ts for t in times)
        assert confirmed is None or confirmed >= paid
        assert refunded is None or refunded >= paid
    shares = orders.status.value_counts(normalize=True)
    assert shares["confirmed"] > 0.8
    assert 0.02 <= shares["cancelled"] <= 0.09
    assert 0.005 <= shares["refunded"] <= 0.06


def test_nothing_dated_outside_the_span(clean: Run) -> None:
    data = frames(clean)
    for source, columns in TS_COLUMNS.items():
        for column in columns:
            parsed = ts_frame(data[source].dropna(subset=[column]), [column])[column]
            assert parsed.notna().all(), (source, column)
            assert parsed.max() <= END_TS, (source, column)
            if source != "products":  # products may have launched before the span
                assert parsed.min() >= START_TS, (source, column)
    launched = ts_frame(data["products"], ["launched_at"]).launched_at
    assert (launched > END_TS - dt.timedelta(days=90)).sum() >= 3  # recent launches exist


def test_timestamp_formats(clean: Run) -> None:
    values = frames(clean)["interactions"].interaction_ts
    plain = values.str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
    offset = values.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[08]:00")
    assert (plain | offset).all()
    assert 0.03 <= offset.mean() <= 0.08
    assert values[offset].str.endswith("+00:00").any()
    assert values[offset].str.endswith("+08:00").any()


def test_customer_profile(clean: Run) -> None:
    customers = frames(clean)["customers"]
    assert customers.customer_id.tolist() == [f"C{i:08d}" for i in range(1, CUSTOMERS + 1)]
    assert set(customers.gender) == {"F", "M", "U"}
    assert (customers.gender == "F").mean() > 0.55
    assert set(customers.member_level) <= {"普通会员", "银卡", "金卡", "黑金"}
    assert set(customers.identity.dropna()) == {"宝妈", "学生", "上班族"}
    assert set(customers.skin_type.dropna()) == {"干性", "油性", "混合性", "敏感性"}
    assert 0.1 <= customers.birthday.isna().mean() <= 0.4
    assert {"北京市", "上海市", "广州市", "深圳市"} <= set(customers.city)
    assert customers.city.nunique() > 30


def test_products(clean: Run) -> None:
    products = frames(clean)["products"]
    assert products.sku_id.tolist() == [f"SKU{i:04d}" for i in range(1, len(products) + 1)]
    cycles = products.groupby("category").consumption_cycle_days.first().to_dict()
    assert cycles["面膜"] == "30" and cycles["精华"] == "60" and cycles["洁面"] == "45"
    assert cycles["防晒"] == "90" and cycles["纸尿裤"] == "20" and cycles["奶粉"] == "15"
    for durable in ("儿童安全座椅", "车载用品", "儿童安全用品", "护肤礼盒"):
        assert products[products.category == durable].consumption_cycle_days.isna().all()


def test_orders_by_customer(clean: Run) -> None:
    data = frames(clean)
    per_customer = data["orders"].groupby("customer_id").size()
    never = 1 - len(per_customer) / CUSTOMERS
    assert 0.25 <= never <= 0.5  # prospects
    assert per_customer.median() <= 3
    assert per_customer.max() >= 30  # a heavy tail
    reg = data["customers"].set_index("customer_id").registered_at.map(parse_ts)
    orders = data["orders"]
    assert (orders.order_ts.map(parse_ts) >= orders.customer_id.map(reg)).all()
    assert set(orders.channel) == {"wechat_shop", "mini_program", "douyin_shop", "offline_store"}


def test_friend_events(clean: Run) -> None:
    data = frames(clean)
    events = data["friend_events"]
    assert events.staff_id.str.fullmatch(r"S\d{3}").all()
    assert events.staff_id.nunique() == max(3, math.ceil(CUSTOMERS / 1500))
    adds = events[events.event_type == "add"]
    deletes = events[events.event_type != "add"]
    assert set(events.event_type) == {"add", "delete_by_customer", "delete_by_staff"}
    assert adds.channel_code.notna().all() and adds.channel_name.notna().all()
    assert deletes.channel_code.isna().all() and deletes.channel_name.isna().all()
    assert {"parcel_card", "official_account", "douyin"} <= set(adds.channel_code)
    friends = adds.customer_id.nunique() / CUSTOMERS
    assert 0.75 <= friends <= 0.95  # some customers never become a friend
    # Per friendship, events alternate add / delete, starting with an add.
    for _, group in events.groupby(["customer_id", "staff_id"]):
        kinds = (group.event_type == "add").tolist()
        assert kinds == [i % 2 == 0 for i in range(len(kinds))]


def test_interactions_only_while_a_friend(clean: Run) -> None:
    data = frames(clean)
    inter = data["interactions"]
    events = data["friend_events"]
    first_add = (
        events[events.event_type == "add"]
        .groupby("customer_id")
        .event_ts.apply(lambda s: min(map(parse_ts, s)))
    )
    assert set(inter.customer_id) <= set(first_add.index)
    assert (inter.interaction_ts.map(parse_ts) >= inter.customer_id.map(first_add)).all()
    content = inter[inter.interaction_type == "content_open"]
    assert content.content_id.str.fullmatch(r"CT\d{4}").all()
    assert content.topic.notna().all() and content.duration_s.notna().all()
    others = inter[inter.interaction_type != "content_open"]
    assert others.content_id.isna().all() and others.duration_s.isna().all()
    assert {"护肤", "母婴", "出行安全", "新品", "促销"} <= set(inter.topic.dropna())


# --- customer groups ---------------------------------------------------------------------------

GROUP_NAME = re.compile("({})( \\d+)?".format("|".join(re.escape(t) for t, _ in GROUP_THEMES)))


def test_groups(clean: Run) -> None:
    data = frames(clean)
    groups = data["groups"]
    # 400 customers: a group per 15 customers, numbered in creation order, owned by the staff.
    assert groups.group_id.tolist() == [f"G{i:06d}" for i in range(1, 28)]
    assert set(groups.owner_staff_id) <= set(data["friend_events"].staff_id)
    assert groups.name.map(GROUP_NAME.fullmatch).all() and groups.name.is_unique
    assert "会员福利群" in set(groups.name)
    dates = ts_frame(groups, ["created_at", "dismissed_at"])
    assert dates.created_at.is_monotonic_increasing
    dismissed = dates.dropna()
    assert len(dismissed) == 2  # 6% of 27, rounded
    assert (dismissed.dismissed_at - dismissed.created_at >= pd.Timedelta(days=30)).all()
    # The whole file is the latest version: no updated_at (the deliveries have it).
    assert groups.updated_at.isna().all() and groups._deleted.isna().all()


def test_group_members_are_friends_inside_the_groups_lifetime(clean: Run) -> None:
    data = frames(clean)
    members, events = data["group_members"], data["friend_events"]
    at = pd.to_datetime(members.event_ts.map(parse_ts))
    groups = data["groups"]
    dates = ts_frame(groups, ["created_at", "dismissed_at"]).set_axis(groups.group_id)
    ends = dates.dismissed_at.fillna(pd.Timestamp(END_TS))
    assert (at >= members.group_id.map(dates.created_at)).all()
    assert (at <= members.group_id.map(ends)).all()
    dismissed = members.group_id.map(dates.dismissed_at)
    assert not (at >= dismissed).any()  # nothing on or after a dismissal

    # A join is by a customer who is registered and a friend of some staff member then.
    joins = members[members.event_type == "join"]
    registered = data["customers"].set_index("customer_id").registered_at.map(parse_ts)
    assert (joins.event_ts.map(parse_ts) >= joins.customer_id.map(registered)).all()
    steps: dict[str, list[tuple[dt.datetime, int]]] = {}
    for row in events.itertuples(index=False):
        step = 1 if row.event_type == "add" else -1
        steps.setdefault(row.customer_id, []).append((parse_ts(row.event_ts), step))
    for row in joins.itertuples(index=False):
        joined = parse_ts(row.event_ts)
        assert sum(step for t, step in steps[row.customer_id] if t <= joined) > 0, row

    # One join per member and group, and at most one leave after it.
    history = members.assign(at=at).sort_values("at").groupby(["group_id", "customer_id"])
    assert set(history.event_type.agg(tuple)) == {("join",), ("join", "leave")}
    leaves = (members.event_type == "leave").sum()
    assert 0.05 <= leaves / len(joins) <= 0.2
    scenes = joins.join_scene.value_counts(normalize=True)
    assert set(scenes.index) == set(JOIN_SCENES)
    assert scenes["invited"] > scenes["qr_code"] > scenes["link"] >= 0.08
    assert members[members.event_type == "leave"].join_scene.isna().all()
    # Engaged customers are in several groups, most in a few.
    per_customer = joins.groupby("customer_id").size()
    assert per_customer.median() <= 5 and per_customer.max() >= 12


def test_staff_tags_and_their_library(clean: Run) -> None:
    data = frames(clean)
    library, tags = data["tag_library"], data["staff_tags"]
    # The library: every tag of every group once, our sync's group last.
    expected = [(g, name) for g, named in STAFF_TAG_GROUPS for name, _ in named]
    expected += [(SYNC_TAG_GROUP, name) for name in SYNCED_TAGS]
    assert list(zip(library.tag_group, library.tag_name, strict=True)) == expected
    assert library.tag_name.is_unique and library.updated_at.isna().all()
    dates = ts_frame(library, ["created_at", "deleted_at"]).set_axis(library.tag_name)
    assert (dates.created_at > pd.Timestamp(START_TS)).sum() == 1  # 双11意向, created later
    assert dates.deleted_at.dropna().index.tolist() == ["物流不满"]

    # Tags of the library, set and removed while it exists.
    at = pd.to_datetime(tags.event_ts.map(parse_ts))
    assert set(zip(tags.tag_group, tags.tag_name, strict=True)) <= set(expected)
    assert (at >= tags.tag_name.map(dates.created_at)).all()
    assert not (at >= tags.tag_name.map(dates.deleted_at)).any()
    assert set(tags.action) == set(STAFF_TAG_ACTIONS)
    # By the staff member of a friendship begun before.
    adds = data["friend_events"][data["friend_events"].event_type == "add"]
    first_add = adds.assign(at=adds.event_ts.map(parse_ts)).groupby(["customer_id", "staff_id"]).at
    begun = pd.Series(list(zip(tags.customer_id, tags.staff_id, strict=True))).map(
        first_add.min().to_dict()
    )
    assert (begun.notna() & (begun.values <= at.values)).all()

    # About a fifth of the friends tagged by hand; our sync's tags on others, set at night.
    synced = tags.tag_group == SYNC_TAG_GROUP
    by_hand = tags[~synced]
    share = by_hand.customer_id.nunique() / adds.customer_id.nunique()
    assert 0.15 <= share <= 0.25
    assert set(tags.tag_name[synced]) <= set(SYNCED_TAGS)
    assert (at[synced].dt.hour == 2).all() and (tags.action[synced] == "add").all()
    removes = by_hand[by_hand.action == "remove"]
    assert 0.05 <= len(removes) / (by_hand.action == "add").sum() <= 0.2
    # The identity staff give is mostly the survey's: a few contradict it.
    identity = data["customers"].set_index("customer_id").identity
    said = by_hand[by_hand.tag_group == "客户身份"]
    said = said.assign(survey=said.customer_id.map(identity)).dropna(subset=["survey"])
    agree = (said.tag_name == said.survey).mean()
    assert 0.8 <= agree < 1.0 or len(said) < 20


def test_the_synced_tags_are_what_the_warehouse_recognises() -> None:
    """Our sync's tags in the generated feed are the segments' WeCom tags, in the tag group
    the models take for our sync's (dbt var wecom_sync_tag_group)."""
    document = yaml.safe_load(
        (DBT_PROJECT_DIR / "models" / "segments" / "_segments__models.yml").read_text("utf-8")
    )
    wecom_tags = {
        ((model.get("config") or {}).get("meta") or {}).get("segment", {}).get("wecom_tag")
        for model in document["models"]
    }
    assert set(SYNCED_TAGS) <= wecom_tags
    assert project_vars()["wecom_sync_tag_group"] == SYNC_TAG_GROUP


def test_group_sizes_at_full_scale(tmp_path: Path) -> None:
    """The sample's size (3,000 customers, ~1 s): 200 groups of 30 to 500 members."""
    result = generate(
        tmp_path, customers=3000, seed=42, bad_row_rate=0, file_format="parquet", progress=False
    )
    members = pq.read_table(tmp_path / "group_members.parquet").to_pandas()
    joins = members[members.event_type == "join"].groupby("group_id").size()
    assert result["rows"]["groups"] == len(joins) == 200
    assert joins.min() >= 30 and joins.max() <= 500
    assert joins.median() < 100 and (joins > 250).sum() >= 3
    # A small run: as many groups, each of at most the customers there are.
    small = generate(tmp_path / "small", customers=60, bad_row_rate=0, progress=False)
    assert small["rows"]["groups"] == 4
    small_joins = read_csv(tmp_path / "small" / "group_members.csv").to_pandas()
    assert small_joins.groupby("group_id").size().max() <= 60


# --- bad rows ----------------------------------------------------------------------------------


def test_every_bad_kind_injected_in_every_source(dirty: Run) -> None:
    summary = dirty[1]["bad_rows"]
    assert set(summary) == set(SOURCES)
    for source, kinds in summary.items():
        assert set(kinds) == set(BAD_SPECS[source].kinds)
        assert all(count >= 1 for count in kinds.values()), (source, kinds)
    # Every kind somewhere; an end before a start only where there is an end (a dismissal).
    assert set(summary["orders"]) == set(BAD_KINDS) - {"end_before_start"}
    assert set(summary["interactions"]) == set(BAD_KINDS) - {"end_before_start"}
    assert "end_before_start" in summary["groups"]


def test_tiny_output_still_gets_every_kind(tmp_path: Path) -> None:
    result = generate(tmp_path, customers=30, progress=False)
    for source, kinds in result["bad_rows"].items():
        assert all(count >= 1 for count in kinds.values()), (source, kinds)


def test_bad_rows_are_what_the_summary_says(dirty: Run) -> None:
    data = frames(dirty)
    summary = dirty[1]["bad_rows"]
    contract = load_contract()
    for source, df in data.items():
        kinds = summary[source]
        spec = BAD_SPECS[source]
        assert len(df) == dirty[1]["rows"][source]
        assert df.duplicated().sum() >= kinds["duplicate_row"]
        keyed = df.dropna(subset=list(spec.key)).drop_duplicates()
        assert keyed.duplicated(list(spec.key)).sum() >= kinds["duplicate_key"]
        missing = df[list(contract[source].required)].isna().any(axis=1).sum()
        assert missing == kinds["missing_required"]
        if spec.ts:
            values = df[spec.ts]
            assert values.isin(["2025-13-45 99:00", "not a date"]).sum() == kinds["bad_timestamp"]
            assert values.str.startswith("2099", na=False).sum() == kinds["future_timestamp"]
        if spec.enum:
            unknown = df[spec.enum].notna() & ~df[spec.enum].isin(ENUMS[source])
            assert unknown.sum() == kinds["unknown_enum"]
        if "bad_number" in kinds:
            assert (df == "12,3x").sum().sum() == kinds["bad_number"]
        if "negative_value" in kinds:
            numbers = df.apply(lambda c: pd.to_numeric(c, errors="coerce"))
            column = spec.number
            non_positive = numbers[column] <= 0 if source == "order_items" else numbers[column] < 0
            assert non_positive.sum() == kinds["negative_value"]

    customers = set(data["customers"].customer_id.dropna())
    unknown_customer = {
        s: (data[s].customer_id.notna() & ~data[s].customer_id.isin(customers)).sum()
        for s in ("orders", "friend_events", "interactions")
    }
    for source, count in unknown_customer.items():
        assert count == summary[source]["unknown_reference"], source
    items = data["order_items"]
    orphan = items.order_id.notna() & ~items.order_id.isin(set(data["orders"].order_id))
    unknown_sku = items.sku_id.notna() & ~items.sku_id.isin(set(data["products"].sku_id))
    assert orphan.sum() >= 1 and unknown_sku.sum() >= 1
    assert orphan.sum() + unknown_sku.sum() == summary["order_items"]["unknown_reference"]

    # A group member's unknown reference is a customer or (its second form) a group.
    members = data["group_members"]
    stranger = members.customer_id.notna() & ~members.customer_id.isin(customers)
    unknown_group = members.group_id.notna() & ~members.group_id.isin(set(data["groups"].group_id))
    assert stranger.sum() >= 1 and unknown_group.sum() >= 1
    assert stranger.sum() + unknown_group.sum() == summary["group_members"]["unknown_reference"]
    dates = ts_frame(data["groups"], ["created_at", "dismissed_at"])
    inverted = dates.dismissed_at < dates.created_at
    assert inverted.sum() == summary["groups"]["end_before_start"]

    # A staff tag's unknown reference is a customer or (its second form) a tag.
    tags = data["staff_tags"]
    stranger = tags.customer_id.notna() & ~tags.customer_id.isin(customers)
    unknown_tag = tags.tag_name.notna() & ~tags.tag_name.isin(set(data["tag_library"].tag_name))
    assert stranger.sum() == 1 and unknown_tag.sum() == 1
    dates = ts_frame(data["tag_library"], ["created_at", "deleted_at"])
    inverted = dates.deleted_at < dates.created_at
    assert inverted.sum() == summary["tag_library"]["end_before_start"]


def test_only_injected_rows_are_after_end_date(dirty: Run) -> None:
    data = frames(dirty)
    summary = dirty[1]["bad_rows"]
    for source, columns in TS_COLUMNS.items():
        if not columns:
            continue
        times = ts_frame(data[source], list(columns))
        late = times.gt(pd.Timestamp(END_TS)).any(axis=1)
        assert late.sum() == summary[source]["future_timestamp"], source
        assert (times[late].max(axis=1).dt.year == 2099).all()


def test_bad_rate_scales_injections(dirty: Run) -> None:
    rows = dirty[1]["rows"]["interactions"]
    injected = sum(dirty[1]["bad_rows"]["interactions"].values())
    assert 0.001 <= injected / rows <= 0.004


def test_rejects_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file_format"):
        generate(tmp_path, customers=10, file_format="json", progress=False)


def test_id_formats(dirty: Run) -> None:
    data = frames(dirty)
    assert data["orders"].order_id.dropna().map(lambda v: bool(re.fullmatch(r"O\d{10}", v))).all()
    assert data["interactions"].interaction_id.dropna().str.fullmatch(r"I\d{11}").all()
    assert data["friend_events"].event_id.dropna().str.fullmatch(r"FE\d{10}").all()


# --- daily deliveries --------------------------------------------------------------------------

# The key of a source whose rows are versions of it (order lines: the order they come with).
VERSION_KEYS = {
    "customers": "customer_id",
    "products": "sku_id",
    "orders": "order_id",
    "order_items": "order_id",
    "groups": "group_id",
    "tag_library": "tag_name",  # unique across the library's groups
}
DELIVERY_NAME = re.compile(r"\d{4}-\d\d-\d\d\.csv")


@pytest.fixture(scope="module")
def daily(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The dirty fixture's history (same seed and size) as a landing folder of daily files."""
    return _run(tmp_path_factory, "daily", deliveries="daily")


def deliveries(run: Run, source: str) -> pd.DataFrame:
    """Every delivery of a source in name order, with its file name and position."""
    out, _ = run
    parts = []
    for path in sorted((out / source).iterdir()):
        frame = read_csv(path).to_pandas()
        frame["_file"] = path.name
        parts.append(frame)
    frame = pd.concat(parts, ignore_index=True)
    frame["_position"] = range(len(frame))
    return frame


def latest_versions(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Of each key, the rows of its last delivery (every row of the events)."""
    key = VERSION_KEYS.get(source)
    if key is None:
        return frame
    last = frame.groupby(key, dropna=False)["_file"].transform("max")
    return frame[frame[key].isna() | (frame["_file"] == last)]


def expected_superseded(frame: pd.DataFrame, source: str) -> int:
    """The raw contract's superseded rows, worked out on the generated deliveries.

    Order lines: a row (not an exact duplicate in its delivery) whose order a later delivery
    carries. Versions: a row (not a duplicate) with a later valid version of its key, by
    updated_at then delivery and position. A generated bad row either has a key of its own, no
    key, or is an injected conflict (another version with the same key, delivery and
    updated_at), so valid here means: neither a duplicate nor a conflict."""
    columns = list(load_contract()[source].columns)
    duplicate = frame.duplicated([*columns, "_file"])
    key = VERSION_KEYS[source]
    keyed = frame[key].notna() & ~duplicate
    if source == "order_items":
        last = frame.groupby(key)["_file"].transform("max")
        return int((keyed & (frame["_file"] < last)).sum())
    ranked = frame.assign(_updated=pd.to_datetime(frame["updated_at"].map(parse_ts)))
    ranked = ranked.sort_values(["_updated", "_file", "_position"], na_position="first")
    ranked["_rank"] = range(len(ranked))
    ranked = ranked.sort_index()
    versions = ranked[keyed].groupby([key, "_file", "updated_at"])[key].transform("size")
    valid = keyed & (versions.reindex(frame.index) == 1)
    last_valid = ranked["_rank"].where(valid).groupby(frame[key]).transform("max")
    return int((keyed & (ranked["_rank"] < last_valid)).sum())


def test_daily_deliveries_are_a_folder_of_dated_files_per_source(daily: Run) -> None:
    out, result = daily
    contract = load_contract()
    assert sorted(p.name for p in out.iterdir()) == sorted(SOURCES)  # no whole files, no spool
    for source in SOURCES:
        names = sorted(p.name for p in (out / source).iterdir())
        assert all(DELIVERY_NAME.fullmatch(name) for name in names), source
        assert names[0] >= "2024-11-01.csv" and names[-1] <= "2026-10-31.csv", source
        assert len(names) == result["deliveries"][source]
        for name in names[:3]:
            header = (out / source / name).read_text(encoding="utf-8").split("\n", 1)[0]
            assert tuple(header.split(",")) == contract[source].columns
        assert len(deliveries(daily, source)) == result["rows"][source]
    # Something happens nearly every day; products come on the first day and on launches.
    assert result["deliveries"]["orders"] > 600
    assert 3 < result["deliveries"]["products"] < 40
    assert sorted(p.name for p in (out / "products").iterdir())[0] == "2024-11-01.csv"


def test_an_order_is_delivered_again_on_each_status_change_with_its_lines(daily: Run) -> None:
    orders, lines = deliveries(daily, "orders"), deliveries(daily, "order_items")
    # Every delivery of an order carries all its lines; lines never come without their order.
    with_lines = orders[orders.order_id.isin(set(lines.order_id))]
    order_days = set(zip(with_lines.order_id, with_lines._file, strict=True))
    line_days = lines[lines.order_id.isin(set(orders.order_id))]
    assert set(zip(line_days.order_id, line_days._file, strict=True)) == order_days

    versions = orders.groupby("order_id").size()
    assert (versions >= 2).mean() > 0.5  # placed one day, paid or confirmed on a later one
    order_id = orders[orders.order_id.isin(versions[versions >= 3].index)].order_id.iloc[0]
    history = orders[orders.order_id == order_id]
    assert history._file.is_monotonic_increasing and history._file.is_unique
    updated = history.updated_at.map(parse_ts).tolist()
    assert updated == sorted(updated) and len(set(updated)) == len(updated)
    assert [t.date().isoformat() + ".csv" for t in updated] == history._file.tolist()
    assert history.status.tolist()[0] == "created" or history.paid_ts.notna().all()
    assert history.status.iloc[-1] in ("confirmed", "refunded", "cancelled")
    assert history.order_ts.nunique() == 1 and history.total_amount.nunique() == 1
    columns = ["line_no", "sku_id", "quantity", "unit_price", "line_amount"]
    delivered = [
        lines[(lines.order_id == order_id) & (lines._file == name)][columns]
        for name in history._file
    ]
    assert len(delivered[0]) >= 1
    assert all(part.reset_index(drop=True).equals(delivered[0].reset_index(drop=True))
               for part in delivered)  # fmt: skip


def test_customers_and_products_have_earlier_versions(daily: Run) -> None:
    customers = deliveries(daily, "customers").dropna(subset=["customer_id"])
    customers = customers.drop_duplicates(subset=[c for c in customers if c != "_position"])
    first, last = customers.groupby("customer_id").first(), customers.groupby("customer_id").last()
    assert first.registered_at.equals(last.registered_at)
    registered = first.registered_at.map(parse_ts).dropna()  # not the injected bad dates
    assert len(registered) >= len(first) - 5
    # Delivered first on the day of registration (injected future dates aside).
    registered = registered[registered.dt.year < 2099]
    assert (first._file.str[:10][registered.index] == registered.dt.date.astype(str)).all()
    levels = ["普通会员", "银卡", "金卡", "黑金"]
    upgraded = first.member_level.map(levels.index) < last.member_level.map(levels.index)
    moved = first.city != last.city
    assert upgraded.sum() >= 10 and moved.sum() >= 2
    assert (first.member_level.map(levels.index) <= last.member_level.map(levels.index)).all()

    products = deliveries(daily, "products")
    # Without the injected exact duplicate and conflicting version.
    products = products[~products.sku_name.str.endswith("(新版)", na=False)]
    products = products.drop_duplicates(subset=list(load_contract()["products"].columns))
    corrected = products[products.sku_id.duplicated(keep=False)].groupby("sku_id")
    assert corrected.ngroups == 3
    assert (corrected.consumption_cycle_days.nunique() == 2).all()


def test_groups_come_on_creation_and_dismissal_members_on_their_day(daily: Run) -> None:
    groups = deliveries(daily, "groups")
    # The generated groups (not the injected rows of their own ids) once each per delivery.
    groups = groups[groups.group_id.isin([f"G{i:06d}" for i in range(1, 28)])]
    groups = groups[~groups.name.str.endswith("（新）")].drop_duplicates(["group_id", "_file"])
    created = groups.created_at.map(parse_ts).dt.date.astype(str) + ".csv"
    dismissed = groups.dismissed_at.map(parse_ts)
    files = groups.groupby("group_id")._file.agg(list)
    assert (files.map(len) == 1).sum() == 25 and (files.map(len) == 2).sum() == 2
    first = ~groups.group_id.duplicated()
    assert (groups._file[first] == created[first]).all()
    assert groups.updated_at[first].map(parse_ts).equals(groups.created_at[first].map(parse_ts))
    again = groups[groups.group_id.duplicated(keep=False)].sort_values(["group_id", "_file"])
    assert again.dismissed_at.isna().tolist() == [True, False] * 2  # first as created
    later = again[again.dismissed_at.notna()]
    assert (later._file == dismissed[later.index].dt.date.astype(str) + ".csv").all()
    assert later.updated_at.equals(later.dismissed_at)

    members = deliveries(daily, "group_members")
    known = members.event_type.isin(GROUP_EVENT_TYPES) & members.group_id.isin(set(groups.group_id))
    at = members.event_ts[known].map(parse_ts).dropna()
    at = at[at.dt.year < 2099]
    assert len(at) > 1500
    assert (members._file[at.index] == at.dt.date.astype(str) + ".csv").all()


def test_the_latest_versions_are_the_whole_files_rows(daily: Run, dirty: Run) -> None:
    """Same seed and size: of every key, the last delivery holds the whole file's rows (bad
    rows included); the deliveries add updated_at and the earlier versions only."""
    whole = frames(dirty)
    for source in SOURCES:
        delivered = deliveries(daily, source)
        columns = [c for c in whole[source].columns if c != "updated_at"]
        assert whole[source].get("updated_at", pd.Series(dtype=object)).isna().all()
        latest = latest_versions(delivered, source)[columns]
        expected = whole[source][columns]
        assert len(latest) == len(expected), source
        assert (
            latest.fillna("").sort_values(columns).reset_index(drop=True)
            .equals(expected.fillna("").sort_values(columns).reset_index(drop=True))
        ), source  # fmt: skip
    assert daily[1]["bad_rows"] == dirty[1]["bad_rows"]


def test_same_seed_gives_identical_deliveries(
    daily: Run, tmp_path_factory: pytest.TempPathFactory
) -> None:
    again, result = _run(tmp_path_factory, "daily_again", deliveries="daily")
    assert result == daily[1]
    for source in SOURCES:
        names = sorted(p.name for p in (daily[0] / source).iterdir())
        assert names == sorted(p.name for p in (again / source).iterdir())
        for name in names:
            assert (daily[0] / source / name).read_bytes() == (again / source / name).read_bytes()


def test_daily_deliveries_are_never_written_over(
    daily: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `scrm generate` prints the error: in the operator's language (tests/test_operations.py
    # has the Chinese).
    monkeypatch.setenv("SCRM_LANG", "en")
    with pytest.raises(ValueError, match="already exists"):
        generate(daily[0], customers=10, deliveries="daily", progress=False)


@pytest.mark.night
def test_a_night_on_daily_deliveries_counts_every_earlier_version(
    daily: Run, dirty: Run, tmp_path: Path
) -> None:
    """The one whole night here (~30 s): every row accounted for, the superseded versions
    those worked out from the files, and the latest versions in the marts."""
    from orchestration.cli import run_night

    home = tmp_path / "home"
    assert run_night(daily[0], home, END.isoformat(), "2026-11-01 08:00:00").success
    warehouse = home / "warehouse.duckdb"
    accounting = {
        source: (raw_rows, superseded, balanced)
        for source, raw_rows, superseded, balanced in query(
            warehouse,
            "select source_name, raw_rows, superseded_rows, is_balanced"
            " from marts.raw_row_accounting",
        )
    }
    for source in SOURCES:
        frame = deliveries(daily, source)
        superseded = expected_superseded(frame, source) if source in VERSION_KEYS else 0
        assert accounting[source] == (len(frame), superseded, True), source
    assert accounting["orders"][1] > 0.3 * accounting["orders"][0]

    # The marts hold each order's and customer's latest version: the whole file's values
    # (keys the whole file holds once; an injected conflict keeps the version before it).
    whole = frames(dirty)
    orders = whole["orders"].drop_duplicates("order_id", keep=False).set_index("order_id")
    orders = orders[orders.status.isin(ORDER_STATUSES)]  # not 'PAID', read as paid
    built = dict(query(warehouse, "select order_id, order_status from marts.fct_orders"))
    assert len(built) > 0.9 * len(orders)
    assert {k: v for k, v in built.items() if k in orders.index} == {
        k: orders.status[k] for k in built if k in orders.index
    }
    customers = whole["customers"].drop_duplicates("customer_id", keep=False)
    customers = customers.set_index("customer_id")
    built = {
        row[0]: row[1:]
        for row in query(
            warehouse, "select customer_id, member_level, city from marts.dim_customers"
        )
    }
    shared = sorted(set(built) & set(customers.index))
    assert len(shared) > 0.95 * len(customers)
    assert [built[k] for k in shared] == [
        (
            customers.member_level[k],
            customers.city[k] if isinstance(customers.city[k], str) else None,
        )
        for k in shared
    ]
