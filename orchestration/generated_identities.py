"""Simulated persons with many ids, the links a brand's systems would report between them, and
the truth of who is who: what the identity stitcher is measured against (docs/identity.md).

Each person has one to three shop buyer ids (Youzan, Taobao, JD, Douyin), most a WeChat
unionid, some a WeCom external_userid and a phone. The systems observe most links, not all:
a shop reports its buyer's unionid or phone, WeCom its contact's unionid. The noise a real
private domain has: families that share a phone, walk-in phones such as 13800000000 typed in
for hundreds of buyers, and people never linked at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SHOPS = ("yz", "tb", "jd", "dy")
# Shares of persons with one, two and three shop buyer ids.
SHOP_ID_COUNTS = (0.7, 0.22, 0.08)
HAS_UNIONID = 0.9
HAS_WECOM = 0.5
HAS_PHONE = 0.5
# How often a system reports a link it could report.
SHOP_REPORTS_UNIONID = 0.99
WECOM_REPORTS_UNIONID = 0.99
SHOP_REPORTS_PHONE = 0.6
# A person without a unionid whose WeCom contact, or second or third shop id, the brand's
# member system links to their first shop id.
MEMBER_LINK_WITHOUT_UNIONID = 0.9
# Persons with a phone who share it with another person (a family).
SHARED_PHONE = 0.02
WALK_IN_PHONES = ("13800000000", "13900000000", "13000000000", "18888888888", "13800138000")
WALK_IN_BUYERS = 300
FIRST_SEEN = datetime(2023, 1, 1)
SPAN_DAYS = 3 * 365


@dataclass(frozen=True)
class GeneratedIdentities:
    # id_a, id_b, link_type, linked_at, source_system: the identity_links source, as text.
    links: pa.Table
    # id, person: the truth, every id of the links and the customers once.
    truth: pa.Table
    # customer_id, registered_at: the ids the shops and WeCom know customers by.
    customers: pa.Table


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pa.array(numbers).cast(pa.string()), "")


def _timestamps(rng: np.random.Generator, count: int) -> pa.Array:
    seconds = rng.integers(0, SPAN_DAYS * 86_400, size=count)
    moments = np.datetime64(FIRST_SEEN, "s") + seconds.astype("timedelta64[s]")
    return pc.strftime(pa.array(moments, type=pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")


def generate_identities(persons: int, seed: int = 7) -> GeneratedIdentities:
    rng = np.random.default_rng(seed)
    person = np.arange(persons)

    # Shop buyer ids: the k-th of a person is shop (person + k) % 4, numbered by person.
    shop_counts = rng.choice(np.arange(1, 4), size=persons, p=SHOP_ID_COUNTS)
    shop_person = np.repeat(person, shop_counts)
    shop_rank = np.arange(shop_person.size) - np.repeat(
        np.cumsum(shop_counts) - shop_counts, shop_counts
    )
    shop_names = np.array(SHOPS)[(shop_person + shop_rank) % len(SHOPS)]
    shop_ids = pc.binary_join_element_wise(
        pa.array(shop_names), pa.array(shop_person).cast(pa.string()), "_"
    )

    has_unionid = rng.random(persons) < HAS_UNIONID
    has_wecom = rng.random(persons) < HAS_WECOM
    has_phone = rng.random(persons) < HAS_PHONE
    unionids = _ids("oU", person)
    wecom_ids = _ids("wm", person)
    phone_numbers = 15_000_000_000 + rng.permutation(persons).astype(np.int64) * 7
    # A family: a person takes the phone of another who has one.
    phone_holders = np.flatnonzero(has_phone)
    sharing = phone_holders[rng.random(phone_holders.size) < SHARED_PHONE]
    phone_numbers[sharing] = phone_numbers[rng.choice(phone_holders, size=sharing.size)]
    phones = pa.array(phone_numbers).cast(pa.string())

    parts: list[tuple[pa.Array, pa.Array, str, str]] = []

    def link(
        ids_a: pa.Array, ids_b: pa.Array, mask: np.ndarray, link_type: str, system: str
    ) -> None:
        keep = pa.array(mask)
        parts.append((ids_a.filter(keep), ids_b.filter(keep), link_type, system))

    shop_unionid = unionids.take(pa.array(shop_person))
    link(
        shop_ids,
        shop_unionid,
        has_unionid[shop_person] & (rng.random(shop_person.size) < SHOP_REPORTS_UNIONID),
        "unionid",
        "shop",
    )
    link(
        wecom_ids,
        unionids,
        has_wecom & has_unionid & (rng.random(persons) < WECOM_REPORTS_UNIONID),
        "wecom",
        "wecom",
    )
    link(
        shop_ids,
        phones.take(pa.array(shop_person)),
        has_phone[shop_person] & (rng.random(shop_person.size) < SHOP_REPORTS_PHONE),
        "phone",
        "shop",
    )
    first_shop = shop_ids.take(pa.array(np.cumsum(shop_counts) - shop_counts))
    link(
        wecom_ids,
        first_shop,
        has_wecom & ~has_unionid & (rng.random(persons) < MEMBER_LINK_WITHOUT_UNIONID),
        "member",
        "crm",
    )
    later_shop = shop_rank > 0
    link(
        shop_ids,
        first_shop.take(pa.array(shop_person)),
        later_shop
        & ~has_unionid[shop_person]
        & (rng.random(shop_person.size) < MEMBER_LINK_WITHOUT_UNIONID),
        "member",
        "crm",
    )
    # Walk-in phones: each typed in for hundreds of buyers of anyone.
    for number in WALK_IN_PHONES:
        buyers = rng.choice(shop_person.size, size=WALK_IN_BUYERS, replace=False)
        walk_in = pa.array([number] * WALK_IN_BUYERS)
        link(
            shop_ids.take(pa.array(buyers)),
            walk_in,
            np.ones(WALK_IN_BUYERS, dtype=bool),
            "phone",
            "store",
        )

    ids_a = pa.concat_arrays([part[0] for part in parts])
    ids_b = pa.concat_arrays([part[1] for part in parts])
    link_types = pa.concat_arrays([pa.array([part[2]] * len(part[0])) for part in parts])
    systems = pa.concat_arrays([pa.array([part[3]] * len(part[0])) for part in parts])
    links = pa.table(
        {
            "id_a": ids_a,
            "id_b": ids_b,
            "link_type": link_types,
            "linked_at": _timestamps(rng, len(ids_a)),
            "source_system": systems,
        }
    )

    # The truth: every id once, a shared phone with the person who had it first (it links two
    # persons, so either answer is as good for the pairs that count), a walk-in phone alone.
    truth_ids = [
        shop_ids,
        unionids.filter(pa.array(has_unionid)),
        wecom_ids.filter(pa.array(has_wecom)),
        phones.filter(pa.array(has_phone)),
    ]
    truth_persons = [
        pa.array(shop_person),
        pa.array(person[has_unionid]),
        pa.array(person[has_wecom]),
        pa.array(person[has_phone]),
    ]
    truth = pa.table(
        {
            "id": pa.concat_arrays(truth_ids),
            "person": pa.concat_arrays(truth_persons).cast(pa.int64()),
        }
    )
    truth = truth.group_by("id").aggregate([("person", "min")]).rename_columns(["id", "person"])
    walk_ins = pa.table(
        {
            "id": pa.array(WALK_IN_PHONES),
            "person": pa.array(-1 - np.arange(len(WALK_IN_PHONES)), type=pa.int64()),
        }
    )
    truth = pa.concat_tables([truth, walk_ins])

    customer_ids = pa.concat_arrays([shop_ids, wecom_ids.filter(pa.array(has_wecom))])
    customers = pa.table(
        {"customer_id": customer_ids, "registered_at": _timestamps(rng, len(customer_ids))}
    )
    return GeneratedIdentities(links=links, truth=truth, customers=customers)
