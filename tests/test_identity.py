"""Identity stitching on hand-made components (docs/identity.md).

The tiny fixture's sources, plus the identity links below, built as of two nights with dbt.
Every expected person is worked out by hand from the links' comments.
"""

from __future__ import annotations

import csv
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest

from orchestration.raw_loader import load_raw_sources
from tests.conftest import TINY_RAW, dbt_command, night_fixture, query

# Nights and the moment both builds start (later than every link, so none is a future one
# but the row dated after it).
EARLY_NIGHT = "2026-03-10"
LATE_NIGHT = "2026-03-31"
RUN_STARTED_AT = "2026-04-01 01:00:00"

LINKS = """\
id_a,id_b,link_type,linked_at,source_system,_deleted
C1,u_1,unionid,2026-02-01 10:00:00,youzan,
u_1,wm_1,wecom,2026-02-02 10:00:00,wecom,
p_shared,x1,phone,2026-01-01 00:00:00,crm,
p_shared,x2,phone,2026-01-01 00:00:00,crm,
p_shared,x3,phone,2026-01-01 00:00:00,crm,
x4,p_shared,phone,2026-01-01 00:00:00,crm,
p_shared,x5,phone,2026-01-01 00:00:00,crm,
p_shared,x6,phone,2026-01-01 00:00:00,crm,
C2,m_2,member,2026-04-01 00:30:00,crm,
d3,u_3,unionid,2026-01-01 00:00:00,youzan,
d4,u_4,unionid,2026-01-01 00:00:00,youzan,
d3,p_34,phone,2026-01-02 00:00:00,crm,
p_34,d4,phone,2026-01-02 00:00:00,crm,
d6,u_6,unionid,2026-01-01 00:00:00,youzan,
b6,d6,phone,2026-01-02 00:00:00,crm,
g1,u_g1,unionid,2026-03-01 00:00:00,youzan,
g2,wm_g2,wecom,2026-02-15 00:00:00,wecom,
u_g1,wm_g2,wecom,2026-03-20 00:00:00,wecom,
e1,e2,manual,2026-03-01 00:00:00,ops,
e2,e1,manual,2026-03-20 00:00:00,ops,true
p_c2,C2,phone,2026-01-01 00:00:00,crm,
,e2,manual,2026-03-20 00:00:00,ops,
e3,e3,manual,2026-03-20 00:00:00,ops,
e3,e4,fax,2026-03-20 00:00:00,ops,
e3,e5,manual,yesterday,ops,
e3,e6,manual,2026-04-02 00:00:00,ops,
C1,u_1,unionid,2026-02-01 10:00:00,youzan,
h1,h2,manual,2026-03-30 10:00:00,ops,
h3,h4,manual,2026-03-30 11:00:00,ops,
h2,h3,manual,2026-03-31 10:00:00,ops,
h5,h6,manual,2026-03-30 10:00:00,ops,
h6,h5,manual,2026-03-31 10:00:00,ops,true
k1,k2,manual,2026-03-30 10:00:00,ops,
"""
# k2 becomes a customer id on the late night's day: it names its person from then on.
K2_CUSTOMER = "k2,,,,,,2026-03-31 09:00:00,,\n"

IDENTITY_MODELS = (
    "+person_ids +identity_link_status +identity_blocked_ids +identity_large_persons"
    " +person_merges +quarantine_identity_links +raw_row_accounting"
)


# Ids the sources carry themselves: a buyer phone on C3's order O5, and one unionid on a
# friend event of C3 (E4, 03-01) and of C5 (E6, 03-10).
TYPED_IDS = {
    "orders.csv": ("buyer_phone", {"O5": "+86 138-0000-0005"}),
    "friend_events.csv": ("unionid", {"E4": "wx_u35", "E6": "wx_u35"}),
}


def add_typed_ids(raw: Path) -> None:
    for name, (column, values) in TYPED_IDS.items():
        with (raw / name).open(encoding="utf-8", newline="") as handle:
            header, *rows = list(csv.reader(handle))
        with (raw / name).open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows(
                [[*header, column], *([*row, values.get(row[0], "")] for row in rows)]
            )


def build_night(home: Path, target: Path, as_of: str) -> None:
    built = dbt_command(
        "build",
        home,
        target,
        IDENTITY_MODELS,
        as_of,
        extra_vars={"run_started_at": RUN_STARTED_AT},
    )
    assert built.returncode == 0, built.stdout[-4000:]


def persons(home: Path) -> dict[str, str]:
    return dict(query(home / "warehouse.duckdb", "select id, person_id from marts.person_ids"))


def groups(mapping: dict[str, str]) -> set[frozenset[str]]:
    """The persons of more than one id, as sets of ids."""
    by_person: dict[str, set[str]] = {}
    for identifier, person in mapping.items():
        by_person.setdefault(person, set()).add(identifier)
    return {frozenset(ids) for ids in by_person.values() if len(ids) > 1}


@night_fixture(scope="module")
def stitched(tmp_path_factory: pytest.TempPathFactory):
    """The warehouse built as of the early night, then as of the late one: the persons of
    each, and the home of the late one."""
    root = tmp_path_factory.mktemp("identity")
    raw = root / "raw"
    shutil.copytree(TINY_RAW, raw)
    (raw / "identity_links.csv").write_text(LINKS, encoding="utf-8")
    with (raw / "customers.csv").open("a", encoding="utf-8") as customers:
        customers.write(K2_CUSTOMER)
    add_typed_ids(raw)
    home = root / "home"
    load_raw_sources(raw, home / "warehouse.duckdb", datetime(2026, 4, 1, 1, 0))
    build_night(home, root / "target", EARLY_NIGHT)
    early = persons(home)
    # On 03-10 C5's friend event gives it C3's unionid (TYPED_IDS): the one change that day.
    early_changes = query(
        home / "warehouse.duckdb",
        "select id, person_before, person_after, person_change from marts.person_merges",
    )
    assert early_changes == [("C5", "C5", "C3", "merged")]
    build_night(home, root / "target", LATE_NIGHT)
    return early, persons(home), home


def test_a_chain_of_links_is_one_person_named_by_its_customer_id(stitched):
    _, late, _ = stitched
    # C1 -unionid- u_1 -wecom- wm_1: C1 is a customer id (and registered 01-05, the oldest).
    assert {late["C1"], late["u_1"], late["wm_1"]} == {"C1"}


def test_a_customer_id_names_the_person_before_an_older_phone(stitched):
    _, late, _ = stitched
    # p_c2 was linked on 01-01, before C2 registered (02-10); C2 still names the person.
    assert late["p_c2"] == late["C2"] == "C2"


def test_an_id_over_the_partner_limit_joins_nobody(stitched):
    _, late, home = stitched
    # p_shared has six phone partners, over phone's max_partners of 5.
    for identifier in ("p_shared", "x1", "x2", "x3", "x4", "x5", "x6"):
        assert late[identifier] == identifier
    assert query(
        home / "warehouse.duckdb",
        "select id, link_type, partner_count, max_partners, as_of_date"
        " from marts.identity_blocked_ids",
    ) == [("p_shared", "phone", 6, 5, date(2026, 3, 31))]
    statuses = query(
        home / "warehouse.duckdb",
        "select link_status, count(*) from marts.identity_link_status"
        " where id_a = 'p_shared' or id_b = 'p_shared' group by link_status",
    )
    assert statuses == [("id_over_partner_limit", 6)]


def test_a_weaker_link_does_not_join_two_persons_of_stronger_links(stitched):
    _, late, home = stitched
    # d3 and d4 each hold a unionid; the phone p_34 links both: it joins neither.
    assert late["d3"] == late["u_3"] == "d3"
    assert late["d4"] == late["u_4"] == "d4"
    assert late["p_34"] == "p_34"
    statuses = query(
        home / "warehouse.duckdb",
        "select id_a, id_b, link_status from marts.identity_link_status"
        " where link_type = 'phone' and 'p_34' in (id_a, id_b) order by id_a",
    )
    assert statuses == [
        ("d3", "p_34", "joins_stronger_persons"),
        ("d4", "p_34", "joins_stronger_persons"),
    ]
    # A phone joining one person of a unionid and an id of no stronger link is kept: b6 and
    # d6 (linked the same day as u_6) form one person, named by the least id of the oldest.
    assert late["b6"] == late["u_6"] == late["d6"] == "d6"


def test_a_link_observed_after_the_night_does_not_merge(stitched):
    _, late, home = stitched
    # C2 -member- m_2 was observed on 04-01 00:30, after the night of 03-31.
    assert "m_2" not in late
    assert late["C2"] == "C2"
    assert "e6" not in late  # linked 04-02, after the run started: quarantined
    quarantined = query(
        home / "warehouse.duckdb",
        "select quarantine_reason, id_a, id_b from marts.quarantine_identity_links order by 1",
    )
    assert quarantined == [
        ("future_timestamp", "e3", "e6"),
        ("invalid_linked_at", "e3", "e5"),
        ("missing_id_a", None, "e2"),
        ("self_link", "e3", "e3"),
        ("unknown_link_type", "e3", "e4"),
    ]


def test_two_persons_merge_and_the_older_id_names_them(stitched):
    early, late, _ = stitched
    # Early: g1 + u_g1 (unionid, 03-01) and g2 + wm_g2 (wecom, 02-15). On 03-20 the wecom link
    # u_g1 - wm_g2 joins them; g2, seen first, names the merged person.
    assert groups({k: v for k, v in early.items() if k.startswith(("g", "u_g", "wm_g"))}) == {
        frozenset({"g1", "u_g1"}),
        frozenset({"g2", "wm_g2"}),
    }
    assert early["g1"] == "g1"
    assert {late[i] for i in ("g1", "u_g1", "g2", "wm_g2")} == {"g2"}


def test_a_withdrawn_link_splits_the_person(stitched):
    early, late, _ = stitched
    # e1 -manual- e2 from 03-01, withdrawn on 03-20.
    assert early["e1"] == early["e2"] == "e1"
    assert late["e1"] == "e1"
    assert late["e2"] == "e2"


def test_a_phone_on_an_order_and_a_unionid_on_friend_events_link_their_customers(stitched):
    early, late, home = stitched
    # C3 and C5 share the unionid wx_u35 on their friend events (both by 03-10): one person,
    # named by C3 (registered 03-01; C5 is undated, first seen 03-10). O5's phone, digits only
    # and without +86, joins them too.
    assert early["C5"] == early["wx_u35"] == "C3"
    assert late["C3"] == late["C5"] == late["wx_u35"] == late["13800000005"] == "C3"
    assert query(
        home / "warehouse.duckdb",
        "select id_a, id_b, link_type, source_system, linked_at::varchar, link_status"
        " from marts.identity_link_status where source_system in ('orders', 'friend_events')"
        " order by id_a, id_b",
    ) == [
        ("13800000005", "C3", "phone", "orders", "2026-03-10 10:00:00", "joined"),
        ("C3", "wx_u35", "unionid", "friend_events", "2026-03-01 09:00:00", "joined"),
        ("C5", "wx_u35", "unionid", "friend_events", "2026-03-10 10:00:00", "joined"),
    ]


def test_person_merges_lists_each_id_whose_person_changed_since_the_night_before(stitched):
    _, late, home = stitched
    # The night before (03-30): h1 + h2, h3 + h4, h5 + h6 and k1 + k2, each named by its
    # earliest seen id (k1 and k2 by name, both link-only). On 03-31 h2 - h3 joins the first
    # two (h1 seen first); h5 - h6 is withdrawn; k2 registers as a customer and names its
    # person. The ids of every other person kept their person.
    assert late["h4"] == "h1"
    assert late["k1"] == "k2"
    assert query(
        home / "warehouse.duckdb",
        "select id, person_before, person_after, person_change, as_of_date"
        " from marts.person_merges order by id",
    ) == [
        ("h3", "h3", "h1", "merged", date(2026, 3, 31)),
        ("h4", "h3", "h1", "merged", date(2026, 3, 31)),
        ("h6", "h5", "h6", "split", date(2026, 3, 31)),
        ("k1", "k1", "k2", "renamed", date(2026, 3, 31)),
        ("k2", "k1", "k2", "renamed", date(2026, 3, 31)),
    ]


def test_every_id_maps_to_one_person_and_every_row_is_accounted(stitched):
    _, late, home = stitched
    warehouse = home / "warehouse.duckdb"
    # A person is one of its own ids.
    assert all(late[person] == person for person in late.values())
    # The customers of the sources with no link are their own persons.
    assert late["C4"] == "C4"
    accounting = query(
        warehouse,
        "select raw_rows, clean_rows, quarantined_rows, duplicate_rows, is_balanced"
        " from marts.raw_row_accounting where source_name = 'identity_links'",
    )
    # 33 rows: 5 quarantined, the repeated C1 - u_1 row a duplicate, 27 clean.
    assert accounting == [(33, 27, 5, 1, True)]
