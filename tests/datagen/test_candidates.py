"""Candidate selection as pure functions: the entity linker, multi-hop pairing and the interleaved plan."""

from llmopt.datagen.candidates import link_pairs, names, plan_candidates, quantities
from llmopt.types import Chunk


def test_names_skip_sentence_openers_but_keep_real_names():
    assert names("Harbor Labs was founded by Mira Okafor in Lisbon.") == ["Harbor Labs", "Mira Okafor", "Lisbon"]
    assert names("Revenue of Harbor Labs grew. The Lisbon office is new.") == ["Harbor Labs", "Lisbon"]
    assert names("Revenue grew. Costs fell.") == []
    assert names("Sales rose in March and fell on Monday. In March Harbor Labs grew.") == ["Harbor Labs"]


def test_quantities_need_a_unit():
    assert quantities("Revenue reached 48 million euros in 2023, up 12%, with 120 engineers.") == [
        "48 million euros", "12%", "120 engineers"]
    assert quantities("It opened in 2011 in Tartu and in 2015. It grew") == []


def chunk(cid, text, source, page=None, type="text"):
    return Chunk(cid, text, source, page, type=type)


TINY = [
    chunk("a", "Harbor Labs was founded in 2011 by Mira Okafor in Lisbon.", "labs.md", 1),
    chunk("b", "Mira Okafor studied physics at the University of Porto.", "people.md", 2),
    chunk("c", "The University of Porto was founded in 1911 and teaches astronomy.", "porto.html"),
    chunk("d", "Blue Finch Robotics builds warehouse robots in Oslo.", "finch.md", 1),
    chunk("e", "Jonas Lie founded Blue Finch Robotics.", "finch.md", 1),   # same page as d: no pair
    chunk("f", "Our astronomy courses cost 900 euros per term.", "courses.md", 1),
]


def test_pairs_link_chunks_of_different_places_by_their_rarest_shared_entity():
    pairs = {(p.chunks[0].chunk_id, p.chunks[1].chunk_id): (p.bridge, p.link) for p in link_pairs(TINY)}
    assert pairs[("a", "b")] == ("Mira Okafor", "name")
    assert pairs[("b", "c")] == ("University of Porto", "name")
    assert pairs[("c", "f")] == ("astronomy", "rare word")          # a word only these two chunks use
    assert ("d", "e") not in pairs                                    # same document and page
    assert all(p.kind == "multi" and len(p.chunks) == 2 for p in link_pairs(TINY))


def test_a_common_entity_links_nothing_and_each_chunk_is_in_few_pairs():
    many = [chunk(str(i), f"Acme Corp opened office number {i} this year.", f"d{i}.md") for i in range(10)]
    assert link_pairs(many) == []                     # Acme Corp is in every chunk: no question needs two of them
    hub = [chunk("hub", "Mira Okafor met Jonas Lie and Ada Byron and Alan Kay.", "hub.md")] + [
        chunk(n, f"{name} lives in town {n}.", f"{n}.md") for n, name in
        (("m", "Mira Okafor"), ("j", "Jonas Lie"), ("y", "Ada Byron"), ("k", "Alan Kay"))]
    assert sum("hub" in (p.chunks[0].chunk_id, p.chunks[1].chunk_id) for p in link_pairs(hub, per_chunk=2)) == 2


def test_plan_interleaves_kinds_and_names_the_missing_ones():
    corpus = TINY + [chunk("t", "| Year | Revenue |\n| 2023 | 48 |", "r.pdf", 4, type="table")]
    plan = plan_candidates(corpus, ["single", "table", "picture", "multi"], seed=0)
    assert plan.missing == ["picture"]
    assert [c.kind for c in plan.candidates[:3]] == ["single", "table", "multi"]
    assert plan.count("single") == 5 and plan.count("table") == 1       # "e" has too few words
    again = plan_candidates(corpus, ["single", "table", "picture", "multi"], seed=0)
    assert [c.key("m") for c in again.candidates] == [c.key("m") for c in plan.candidates]   # seeded
    other = plan_candidates(corpus, ["single"], seed=1)
    assert {c.key("m") for c in other.candidates} == {c.key("m") for c in plan.candidates if c.kind == "single"}
    assert plan.candidates[0].key("m") != plan.candidates[0].key("other-model")


def test_a_full_name_is_a_better_bridge_than_a_one_word_name():
    corpus = [chunk("a", "Veltora Dynamics opened a plant in Tartu last spring.", "a.md"),
              chunk("b", "Veltora Dynamics pays its staff in Tartu well, they say.", "b.md")]
    (pair,) = link_pairs(corpus)
    assert pair.bridge == "Veltora Dynamics"
