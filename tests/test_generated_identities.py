"""The generator's persons of many ids (`scrm generate --ids multi`, docs/identity.md): what
they are known by in each source, the noise, the truth, and the stitcher measured against it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from orchestration.cli import run_night
from orchestration.generated_identities import (
    TEST_ACCOUNT,
    TEST_ACCOUNT_PHONES,
    WALK_IN_PHONES,
    pairwise,
    walk_in_phones,
)
from orchestration.generator import generate, truth_path
from tests.conftest import (
    GENERATED_END,
    GENERATED_RUN_STARTED_AT,
    built_once,
    night_fixture,
    query,
)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def digits(phone: str) -> str:
    """A phone as the stitcher takes it: +86 138-0000-0005 is 13800000005."""
    return "".join(c for c in phone if c.isdigit()).removeprefix("86")[-11:]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """40 customers (seed 3) of many ids, no bad rows: the raw folder and the truth."""
    raw = tmp_path_factory.mktemp("multi") / "raw"
    summary = generate(raw, customers=40, seed=3, bad_row_rate=0, progress=False, ids="multi")
    assert Path(summary["truth"]) == truth_path(raw, "csv") == raw.parent / "raw-identity-truth.csv"
    truth = {row["id"]: row["person"] for row in rows(Path(summary["truth"]))}
    return raw, truth


def test_the_truth_is_beside_the_raw_folder_and_lists_each_id_once(small):
    raw, truth = small
    assert not list(raw.glob("*truth*"))
    assert len(truth) == len(rows(truth_path(raw, "csv")))


def test_each_source_names_a_person_by_its_system_s_id(small):
    raw, truth = small
    orders = rows(raw / "orders.csv")
    prefixes = {"wechat_shop": "yz", "douyin_shop": "dy", "offline_store": "pos"}
    for order in orders:
        # Customer 12's Douyin orders are under dy00000012, their mini-program ones C00000012.
        prefix = prefixes.get(order["channel"], "C")
        assert order["customer_id"].startswith(prefix)
        assert truth[order["customer_id"]] == "C" + order["customer_id"].removeprefix(prefix)
    for source in ("friend_events", "interactions", "group_members"):
        for row in rows(raw / f"{source}.csv"):
            assert row["customer_id"].startswith("wm")
            assert truth[row["customer_id"]] == "C" + row["customer_id"].removeprefix("wm")
    for event in rows(raw / "friend_events.csv"):
        if event["unionid"]:
            assert event["unionid"] == "oU" + event["customer_id"].removeprefix("wm")


def test_the_truth_covers_every_id_of_every_source_and_link(small):
    raw, truth = small
    ids = {row["customer_id"] for row in rows(raw / "customers.csv")}
    for source in ("orders", "friend_events", "interactions", "group_members"):
        ids |= {row["customer_id"] for row in rows(raw / f"{source}.csv")}
    ids |= {digits(row["buyer_phone"]) for row in rows(raw / "orders.csv") if row["buyer_phone"]}
    ids |= {row["unionid"] for row in rows(raw / "friend_events.csv") if row["unionid"]}
    links = rows(raw / "identity_links.csv")
    ids |= {row["id_a"] for row in links} | {row["id_b"] for row in links}
    assert ids == set(truth)
    # Every customers row names an id of the sources: the member rows, with their profile,
    # and a row for each other id, with its first activity alone.
    customers = rows(raw / "customers.csv")
    assert all(row["registered_at"] for row in customers)
    members = [row for row in customers if row["customer_id"].startswith("C")]
    assert len(members) == 40 and all(row["gender"] for row in members)


def test_the_noise_is_there_walk_in_phones_a_test_account_a_family_and_the_never_linked(small):
    raw, truth = small
    assert walk_in_phones(40) == ("13800000000",)
    assert walk_in_phones(10_000) == WALK_IN_PHONES
    orders = rows(raw / "orders.csv")
    walk_ins = [o for o in orders if digits(o["buyer_phone"]) == "13800000000"]
    # Typed in at the store for buyers of several persons; the phone is nobody's.
    assert walk_ins and all(o["channel"] == "offline_store" for o in walk_ins)
    assert truth["13800000000"] == "13800000000"
    links = rows(raw / "identity_links.csv")
    tried = {link["id_b"] for link in links if link["id_a"] == TEST_ACCOUNT}
    assert tried == set(TEST_ACCOUNT_PHONES)
    assert truth[TEST_ACCOUNT] == TEST_ACCOUNT and truth[TEST_ACCOUNT_PHONES[0]] != TEST_ACCOUNT
    # A family: a phone whose holder is one person, and which another person's ids carry.
    uses = [(link["id_b"], link["id_a"]) for link in links if link["link_type"] == "phone"]
    uses += [(digits(o["buyer_phone"]), o["customer_id"]) for o in orders if o["buyer_phone"]]
    noise = {*WALK_IN_PHONES, *TEST_ACCOUNT_PHONES}
    assert any(truth[phone] != truth[id_] for phone, id_ in uses if phone not in noise)
    # Never linked: a person of two or more ids none of which a link or a typed id (but a
    # walk-in phone) names.
    linked = {link["id_a"] for link in links} | {link["id_b"] for link in links}
    linked |= {o["customer_id"] for o in orders if o["buyer_phone"] and o not in walk_ins}
    linked |= {e["customer_id"] for e in rows(raw / "friend_events.csv") if e["unionid"]}
    ids_of: dict[str, set[str]] = {}
    for id_, person in truth.items():
        ids_of.setdefault(person, set()).add(id_)
    assert any(len(ids) > 1 and not ids & linked for ids in ids_of.values())


def test_single_ids_stay_the_default_with_neither_links_nor_truth(tmp_path: Path):
    summary = generate(tmp_path / "raw", customers=20, seed=3, progress=False)
    assert "truth" not in summary and "identity_links" not in summary["rows"]
    assert not (tmp_path / "raw" / "identity_links.csv").exists()
    assert not truth_path(tmp_path / "raw", "csv").exists()


def test_daily_deliveries_of_many_ids_hold_the_whole_files_rows(small, tmp_path: Path):
    raw, _ = small
    landing = tmp_path / "landing"
    summary = generate(
        landing, customers=40, seed=3, bad_row_rate=0, progress=False, ids="multi",
        deliveries="daily",
    )  # fmt: skip
    assert truth_path(landing, "csv").read_bytes() == truth_path(raw, "csv").read_bytes()

    def delivered(source: str) -> list[dict[str, str]]:
        return [row for path in sorted((landing / source).glob("*.csv")) for row in rows(path)]

    # Each link in the delivery of the day it was observed, the same links as the whole file.
    links = delivered("identity_links")
    assert summary["rows"]["identity_links"] == len(links)
    for path in (landing / "identity_links").glob("*.csv"):
        assert {row["linked_at"][:10] for row in rows(path)} == {path.stem}
    assert sorted(map(str, links)) == sorted(map(str, rows(raw / "identity_links.csv")))
    # A buyer or WeCom id's customers row comes on the day of its first activity, once.
    others = [row for row in delivered("customers") if not row["customer_id"].startswith("C")]
    whole = [row for row in rows(raw / "customers.csv") if not row["customer_id"].startswith("C")]
    assert sorted(row["customer_id"] for row in others) == sorted(
        row["customer_id"] for row in whole
    )
    orders = {(o["order_id"], o["customer_id"], o["buyer_phone"]) for o in delivered("orders")}
    assert orders == {
        (o["order_id"], o["customer_id"], o["buyer_phone"]) for o in rows(raw / "orders.csv")
    }


MULTI_CUSTOMERS = 1_000


@night_fixture(scope="module")
def multi_night(tmp_path_factory: pytest.TempPathFactory):
    """The generator's 1,000 customers (seed 3) of many ids, bad rows included, built as of
    its last day: (warehouse, truth)."""

    def build(folder: Path) -> str:
        summary = generate(
            folder / "raw", customers=MULTI_CUSTOMERS, seed=3, end_date=GENERATED_END,
            progress=False, ids="multi",
        )  # fmt: skip
        result = run_night(
            folder / "raw", folder / "home", GENERATED_END.isoformat(), GENERATED_RUN_STARTED_AT
        )
        assert result.success
        return summary["truth"]

    folder, truth = built_once(tmp_path_factory, "generated_multi_id", build)
    return folder / "home" / "warehouse.duckdb", Path(truth)


def test_the_stitcher_finds_the_true_persons(multi_night):
    warehouse, truth = multi_night
    quality = pairwise(warehouse, truth)
    assert quality["precision"] >= 0.995
    assert quality["recall"] >= 0.98


def test_every_id_the_night_knows_is_in_the_truth(multi_night):
    warehouse, truth = multi_night
    ((unknown,),) = query(
        warehouse,
        f"select count(*) from marts.person_ids anti join"
        f" read_csv('{truth}', all_varchar = true) as truth using (id)",
    )
    assert unknown == 0


def test_the_guards_block_the_walk_in_phone_and_the_test_account(multi_night):
    warehouse, _ = multi_night
    blocked = {id_ for (id_,) in query(warehouse, "select id from marts.identity_blocked_ids")}
    assert {*walk_in_phones(MULTI_CUSTOMERS), TEST_ACCOUNT} <= blocked
