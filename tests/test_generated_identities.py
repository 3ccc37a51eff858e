"""The simulated persons the identity benchmark measures the stitcher against."""

import pyarrow.compute as pc

from orchestration.generated_identities import WALK_IN_BUYERS, WALK_IN_PHONES, generate_identities


def test_every_linked_id_has_a_true_person_and_the_same_seed_gives_the_same_data():
    first = generate_identities(2_000, seed=3)
    assert first.links.equals(generate_identities(2_000, seed=3).links)
    truth = set(first.truth.column("id").to_pylist())
    linked = set(first.links.column("id_a").to_pylist()) | set(
        first.links.column("id_b").to_pylist()
    )
    assert linked <= truth
    assert set(first.customers.column("customer_id").to_pylist()) <= truth
    assert len(first.truth.column("id").unique()) == first.truth.num_rows


def test_walk_in_phones_link_hundreds_of_buyers_of_different_persons():
    generated = generate_identities(2_000, seed=3)
    persons = dict(
        zip(
            generated.truth.column("id").to_pylist(),
            generated.truth.column("person").to_pylist(),
            strict=True,
        )
    )
    for phone in WALK_IN_PHONES:
        buyers = generated.links.filter(pc.equal(generated.links.column("id_b"), phone))
        assert buyers.num_rows == WALK_IN_BUYERS
        # Buyers of many persons, and the phone is nobody's.
        assert len({persons[buyer] for buyer in buyers.column("id_a").to_pylist()}) > 100
        assert persons[phone] < 0


def test_a_person_s_ids_are_linked_through_their_unionid():
    generated = generate_identities(2_000, seed=3)
    unionid_links = generated.links.filter(pc.equal(generated.links.column("link_type"), "unionid"))
    # A shop id yz_12 (person 12) is linked to the unionid oU12 of the same person.
    for shop_id, unionid in zip(
        unionid_links.column("id_a").to_pylist()[:50],
        unionid_links.column("id_b").to_pylist()[:50],
        strict=True,
    ):
        assert shop_id.split("_")[1] == unionid.removeprefix("oU")
