"""The generated customers as persons of many ids (`scrm generate --ids multi`), the links a
brand's systems report between those ids, and the truth of who is who: what the identity
stitcher is measured against (docs/identity.md).

The generator draws its customers as it always does; under multi ids each one is a person
known by a different id in each system, as a brand's own exports know them:

* customers, the member file (CRM and the brand's mini program): the member id C00000012 with
  the profile, and a row for every other id the sources name (the shops' buyer lists, the
  WeCom contact list) dated by its first activity, so that each source's customer id is known.
* orders under the id of their sales channel's system: wechat_shop under the Youzan buyer id
  yz00000012, douyin_shop under the Douyin buyer id dy00000012, offline_store under the
  store's POS id pos00000012, mini_program under the member id. Nearly all Douyin and store
  orders carry the buyer's phone, most of Youzan's; a cashier types a walk-in phone
  (13800000000 …) for a store buyer who gives none.
* friend events, interactions and group members under the WeCom external_userid wm00000012;
  WeCom's export carries the friend's unionid oU00000012 for most who have one.
* identity_links: the member system's unionid (WeChat login) and phone (member card), Youzan's
  buyer unionid, the CRM's link of a WeCom contact to the member id (surely when WeCom knows
  no unionid), and a store test account that a dozen staff tried, each with their own phone.

The noise a real private domain has: families that share a phone, walk-in phones typed in for
many buyers, the test account, and people whose systems report no link at all. The truth
names each id's person by the member id; a phone by its holder's (a family's shared phone is
the holder's, who had it first); a walk-in phone, the test account and each staff phone by
themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# The orders' sales channels and the prefix of the buyer id their system knows a person by;
# the mini program is the member system itself: its orders keep the member id.
BUYER_ID_PREFIXES = {"wechat_shop": "yz", "douyin_shop": "dy", "offline_store": "pos"}
WECOM_PREFIX = "wm"
UNIONID_PREFIX = "oU"
ID_DIGITS = 8

# Mobile prefixes of the persons' own phones: none of the walk-in phones' (130, 138, 139, 188).
PHONE_PREFIXES = ("135", "136", "137", "150", "151", "152", "158", "159", "186", "187")
# The last 8 digits: the person's number times a constant coprime to 10^8, so distinct.
PHONE_SCRAMBLE = 48_271
WALK_IN_PHONES = ("13800000000", "13900000000", "13000000000", "18888888888", "13800138000")
# One walk-in phone per this many customers (1 to 5): each is typed in for many buyers, more
# than the phone link type's max_partners even in a small run.
CUSTOMERS_PER_WALK_IN_PHONE = 2_000
TEST_ACCOUNT = "pos_test"
# The staff's own phones, none a customer's (199 is none of PHONE_PREFIXES).
TEST_ACCOUNT_PHONES = tuple(f"199{k:08d}" for k in range(1, 13))

HAS_UNIONID = 0.9
# Persons none of whose systems reports a link: their ids stay apart. At least one in every
# chunk of customers.
NEVER_LINKED = 0.005
# A person who uses the phone of another (a family member) instead of one of their own; at
# least one in every chunk of customers.
SHARED_PHONE = 0.005
# How often a system reports what it could, per person or per order.
MEMBER_REPORTS_UNIONID = 0.98
MEMBER_REPORTS_PHONE = 0.97
YOUZAN_REPORTS_UNIONID = 0.99
WECOM_REPORTS_UNIONID = 0.99
# The CRM links a WeCom contact to the member id, surely when WeCom knows no unionid.
CRM_LINKS_WECOM = 0.5
CRM_LINKS_WECOM_WITHOUT_UNIONID = 0.95
ORDER_CARRIES_PHONE = {"wechat_shop": 0.7, "douyin_shop": 0.99, "offline_store": 0.98}
# Phones written +86 138-0000-0005 rather than 13800000005 (the stitcher takes the digits).
PHONE_WRITTEN_WITH_DASHES = 0.1

LINK_COLUMNS = ("id_a", "id_b", "link_type", "linked_at", "source_system")
NO_TIME = np.iinfo(np.int64).max


def walk_in_phones(customers: int) -> tuple[str, ...]:
    """The walk-in phones of a run of this many customers."""
    count = min(len(WALK_IN_PHONES), max(1, customers // CUSTOMERS_PER_WALK_IN_PHONE))
    return WALK_IN_PHONES[:count]


def _numbered(prefix: str, numbers: np.ndarray) -> pa.Array:
    digits = pc.utf8_lpad(pa.array(numbers, pa.int64()).cast(pa.string()), ID_DIGITS, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _local_time(seconds: np.ndarray) -> pa.Array:
    """'2025-03-04 10:15:00' from local (Asia/Shanghai) epoch seconds."""
    return pc.cast(pa.array(np.asarray(seconds, np.int64), pa.timestamp("s")), pa.string())


def own_phones(numbers: np.ndarray) -> pa.Array:
    """Each person's own mobile number: 11 digits, distinct for numbers below 10^8."""
    numbers = np.asarray(numbers, np.int64)
    prefixes = pa.array(PHONE_PREFIXES).take(pa.array(numbers % len(PHONE_PREFIXES)))
    rest = pa.array((numbers * PHONE_SCRAMBLE) % 10**8).cast(pa.string())
    return pc.binary_join_element_wise(prefixes, pc.utf8_lpad(rest, 8, "0"), "")


def _as_written(phones: pa.Array, dashed: np.ndarray) -> pa.Array:
    """Some phones as +86 138-0000-0005, the others as they are."""
    parts = [
        pc.utf8_slice_codeunits(phones, start, stop) for start, stop in ((0, 3), (3, 7), (7, 11))
    ]
    with_dashes = pc.binary_join_element_wise("+86 ", pc.binary_join_element_wise(*parts, "-"), "")
    return pc.if_else(pa.array(dashed), with_dashes, phones)


def wecom_ids(customer_ids: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The WeCom external_userid of each generated customer id: C00000012 -> wm00000012."""
    return pc.binary_join_element_wise(
        WECOM_PREFIX, pc.utf8_slice_codeunits(customer_ids, len("C")), ""
    )


def _person_index(customer_ids: pa.ChunkedArray, first_number: int) -> np.ndarray:
    numbers = pc.cast(pc.utf8_slice_codeunits(customer_ids, len("C")), pa.int64())
    return numbers.to_numpy() - first_number


def _first_times(n: int, person: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Per person the earliest of their rows' times; NO_TIME for one without rows."""
    first = np.full(n, NO_TIME, np.int64)
    np.minimum.at(first, person, np.asarray(seconds, np.int64))
    return first


@dataclass(frozen=True)
class PersonsChunk:
    # The generator's tables, their customer ids replaced by the systems' ids; the customers
    # table is still the member file's rows alone.
    tables: dict[str, pa.Table]
    # customer_id and registered_at of every other id the tables name (the rest empty).
    other_customers: pa.Table
    # The identity_links source's rows (LINK_COLUMNS), as text.
    links: pa.Table
    # id, person: every id of the tables, the links and the other customers, once.
    truth: pa.Table


@dataclass
class MultiIds:
    """Turns each chunk of generated customers into persons of many ids (module docstring).

    Whatever a chunk draws comes from the random stream it is given; the walk-in phones and
    the test account are the run's, their truth written once (`noise_truth`).
    """

    customers: int
    walk_ins: tuple[str, ...] = ()
    used_walk_ins: set[str] = field(default_factory=set)
    test_account_linked: bool = False

    def __post_init__(self) -> None:
        self.walk_ins = walk_in_phones(self.customers)

    def chunk(
        self,
        tables: dict[str, pa.Table],
        first_number: int,
        reg_s: np.ndarray,
        order_s: np.ndarray,
        friend_s: np.ndarray,
        rng: np.random.Generator,
    ) -> PersonsChunk:
        """A chunk's tables under their systems' ids, with its links and its truth.

        tables are the generator's (customer ids C00000012), reg_s each customer's registration,
        order_s and friend_s the orders' and friend events' times (local epoch seconds).
        """
        n = len(reg_s)
        numbers = first_number + np.arange(n, dtype=np.int64)
        member_ids = _numbered("C", numbers)
        unionids = _numbered(UNIONID_PREFIX, numbers)
        has_unionid = rng.random(n) < HAS_UNIONID
        linked = rng.random(n) >= NEVER_LINKED
        if n > 1 and linked.all():
            linked[rng.integers(0, n)] = False
        # A family: a person uses the phone of another who keeps their own.
        sharing = rng.random(n) < SHARED_PHONE
        if n > 1 and not sharing.any():
            sharing[rng.integers(0, n)] = True
        keeping = np.flatnonzero(~sharing)
        phone_holder = np.arange(n)
        if len(keeping):
            phone_holder[sharing] = keeping[rng.integers(0, len(keeping), int(sharing.sum()))]
        phones = own_phones(numbers).take(pa.array(phone_holder))

        truth_ids: list[pa.Array] = [member_ids]
        truth_persons: list[np.ndarray] = [np.arange(n)]
        links: list[pa.Table] = []
        extra_customers: list[tuple[pa.Array, np.ndarray]] = []

        def link(
            mask: np.ndarray,
            ids_a: pa.Array,
            ids_b: pa.Array,
            link_type: str,
            seconds: np.ndarray,
            system: str,
        ) -> None:
            keep = pa.array(mask)
            count = int(mask.sum())
            links.append(
                pa.table(
                    {
                        "id_a": ids_a.filter(keep),
                        "id_b": ids_b.filter(keep),
                        "link_type": pa.array([link_type] * count, pa.string()),
                        "linked_at": _local_time(seconds[mask]),
                        "source_system": pa.array([system] * count, pa.string()),
                    }
                )
            )

        # --- orders: the buyer id of the channel's system, and the phone the order carries ---
        orders = tables["orders"]
        person = _person_index(orders["customer_id"], first_number)
        channel = orders["channel"]
        buyer_ids = orders["customer_id"].combine_chunks()
        m = orders.num_rows
        p_phone = np.zeros(m)
        store = np.zeros(m, bool)
        first_youzan = np.full(n, NO_TIME, np.int64)
        for name, prefix in BUYER_ID_PREFIXES.items():
            mask = pc.equal(channel, name).to_numpy(zero_copy_only=False)
            ids = _numbered(prefix, numbers)
            buyer_ids = pc.if_else(pa.array(mask), ids.take(pa.array(person)), buyer_ids)
            first = _first_times(n, person[mask], order_s[mask])
            known = first < NO_TIME
            truth_ids.append(ids.filter(pa.array(known)))
            truth_persons.append(np.flatnonzero(known))
            extra_customers.append((ids.filter(pa.array(known)), first[known]))
            p_phone[mask] = ORDER_CARRIES_PHONE[name]
            if name == "offline_store":
                store = mask
            if name == "wechat_shop":
                first_youzan = first
        u = rng.random(m)
        own = (u < p_phone) & linked[person]
        # A store order without the buyer's phone: the cashier types a walk-in phone. At least
        # one in every chunk with store orders.
        if store.any() and not (store & ~own).any():
            own[rng.choice(np.flatnonzero(store))] = False
        walk_in = store & ~own
        walk_in_picks = pa.array(self.walk_ins).take(
            pa.array(rng.integers(0, len(self.walk_ins), m))
        )
        phone_digits = pc.if_else(
            pa.array(own),
            phones.take(pa.array(person)),
            pc.if_else(pa.array(walk_in), walk_in_picks, pa.nulls(m, pa.string())),
        )
        self.used_walk_ins.update(pc.unique(walk_in_picks.filter(pa.array(walk_in))).to_pylist())
        dashed = rng.random(m) < PHONE_WRITTEN_WITH_DASHES
        buyer_phone = _as_written(phone_digits, dashed)
        orders = orders.set_column(
            orders.schema.get_field_index("customer_id"), "customer_id", buyer_ids
        )
        orders = orders.set_column(
            orders.schema.get_field_index("buyer_phone"), "buyer_phone", buyer_phone
        )
        phone_used = np.zeros(n, bool)
        phone_used[person[own]] = True

        # --- friend events, interactions: the WeCom id, and the unionid WeCom knows ---
        friends = tables["friend_events"]
        friend_person = _person_index(friends["customer_id"], first_number)
        first_friend = _first_times(n, friend_person, friend_s)
        is_friend = first_friend < NO_TIME
        wecom = _numbered(WECOM_PREFIX, numbers)
        truth_ids.append(wecom.filter(pa.array(is_friend)))
        truth_persons.append(np.flatnonzero(is_friend))
        extra_customers.append((wecom.filter(pa.array(is_friend)), first_friend[is_friend]))
        wecom_knows_unionid = has_unionid & linked & (rng.random(n) < WECOM_REPORTS_UNIONID)
        friend_unionid = pc.if_else(
            pa.array(wecom_knows_unionid[friend_person]),
            unionids.take(pa.array(friend_person)),
            pa.nulls(len(friend_person), pa.string()),
        )
        friends = friends.set_column(
            friends.schema.get_field_index("customer_id"),
            "customer_id",
            wecom_ids(friends["customer_id"]),
        )
        friends = friends.set_column(
            friends.schema.get_field_index("unionid"), "unionid", friend_unionid
        )
        interactions = tables["interactions"]
        interactions = interactions.set_column(
            interactions.schema.get_field_index("customer_id"),
            "customer_id",
            wecom_ids(interactions["customer_id"]),
        )

        # --- the links the systems report ---
        member_unionid = has_unionid & linked & (rng.random(n) < MEMBER_REPORTS_UNIONID)
        link(member_unionid, member_ids, unionids, "unionid", reg_s, "mini_program")
        member_phone = linked & (rng.random(n) < MEMBER_REPORTS_PHONE)
        link(member_phone, member_ids, phones, "phone", reg_s, "crm")
        phone_used |= member_phone
        youzan_unionid = (
            (first_youzan < NO_TIME)
            & has_unionid
            & linked
            & (rng.random(n) < YOUZAN_REPORTS_UNIONID)
        )
        youzan = _numbered(BUYER_ID_PREFIXES["wechat_shop"], numbers)
        link(youzan_unionid, youzan, unionids, "unionid", first_youzan, "youzan")
        crm_wecom = (
            is_friend
            & linked
            & (
                rng.random(n)
                < np.where(wecom_knows_unionid, CRM_LINKS_WECOM, CRM_LINKS_WECOM_WITHOUT_UNIONID)
            )
        )
        link(crm_wecom, wecom, member_ids, "member", first_friend, "crm")
        unionid_used = member_unionid | youzan_unionid | wecom_knows_unionid & is_friend
        truth_ids.append(unionids.filter(pa.array(unionid_used)))
        truth_persons.append(np.flatnonzero(unionid_used))
        if not self.test_account_linked:
            # A store's test account, tried by its staff each with their own phone.
            count = len(TEST_ACCOUNT_PHONES)
            link(
                np.ones(count, bool),
                pa.array([TEST_ACCOUNT] * count),
                pa.array(TEST_ACCOUNT_PHONES),
                "phone",
                int(reg_s.min()) + 3600 * np.arange(count, dtype=np.int64),
                "store",
            )
            self.test_account_linked = True
        # A phone is its holder's: in the truth once, whoever of the family used it.
        used_phone_holders = np.unique(phone_holder[phone_used])
        truth_ids.append(own_phones(numbers[used_phone_holders]))
        truth_persons.append(used_phone_holders)

        # --- the customers file: beside the member rows, a row for every other id ---
        customers = tables["customers"]
        ids = pa.concat_arrays([ids for ids, _ in extra_customers])
        first_seen = np.concatenate([seconds for _, seconds in extra_customers])
        other_customers = pa.table(
            {
                name: (
                    ids
                    if name == "customer_id"
                    else _local_time(first_seen)
                    if name == "registered_at"
                    else pa.nulls(len(ids), customers.schema.field(name).type)
                )
                for name in customers.column_names
            },
            schema=customers.schema,
        )

        rewritten = {
            **tables,
            "orders": orders,
            "friend_events": friends,
            "interactions": interactions,
        }
        link_table = pa.concat_tables(links).select(list(LINK_COLUMNS))
        truth = pa.table(
            {
                "id": pa.concat_arrays(truth_ids),
                "person": member_ids.take(pa.array(np.concatenate(truth_persons))),
            }
        )
        return PersonsChunk(rewritten, other_customers, link_table, truth)

    def noise_truth(self) -> pa.Table:
        """The walk-in phones used, the test account and its staff's phones: each a person of
        its own."""
        ids = [phone for phone in self.walk_ins if phone in self.used_walk_ins]
        if self.test_account_linked:
            ids += [TEST_ACCOUNT, *TEST_ACCOUNT_PHONES]
        return pa.table({"id": pa.array(ids, pa.string()), "person": pa.array(ids, pa.string())})


def pairwise(warehouse: Path, truth: Path) -> dict[str, float | int]:
    """The stitcher's persons (marts.person_ids) against the truth, pair by pair, over the ids
    of both:

    - precision: of the pairs of ids the stitcher put in one person, the share that are one
      person in truth;
    - recall: of the pairs of ids that are one person in truth, the share the stitcher put in
      one.
    """
    from orchestration import duckdb_settings

    reader = (
        f"read_parquet('{truth}')"
        if truth.suffix == ".parquet"
        else f"read_csv('{truth}', header = true, all_varchar = true)"
    )
    with duckdb_settings.connect(warehouse, read_only=True) as connection:
        ((true_pairs, found_pairs, right_pairs, ids),) = connection.execute(
            f"""
            with joined as (
                select truth.id, truth.person, persons.person_id
                from {reader} as truth
                inner join marts.person_ids as persons on truth.id = persons.id
            ),
            cells as (select person, person_id, count(*) as n from joined group by all),
            true_sets as (select count(*) as n from joined group by person),
            found_sets as (select count(*) as n from joined group by person_id)
            select
                (select sum(n * (n - 1) / 2) from true_sets),
                (select sum(n * (n - 1) / 2) from found_sets),
                (select sum(n * (n - 1) / 2) from cells),
                (select count(*) from joined)
            """
        ).fetchall()
    return {
        "ids_compared": ids,
        "true_pairs": int(true_pairs),
        "stitched_pairs": int(found_pairs),
        "right_pairs": int(right_pairs),
        "precision": round(right_pairs / found_pairs, 5) if found_pairs else 1.0,
        "recall": round(right_pairs / true_pairs, 5) if true_pairs else 1.0,
    }
