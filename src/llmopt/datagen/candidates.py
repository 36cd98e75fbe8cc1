"""Which chunks a question is written from, as pure functions over a list of chunks.

    single    one text chunk with enough words to ask about
    table     one table chunk
    picture   one picture chunk (its caption and the text OCR or a VLM read from it)
    multi     two chunks of different documents or pages that share an entity (the bridge)

The entity linker is deliberately simple and explainable: two chunks are linked by a capitalised name ("Harbor
Labs", "Lisbon"), a number with its unit ("48 million euros", "120 engineers") or a rare word (one that occurs in
no other chunk), in that order of preference, and the rarer the entity the better the link.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

from ..types import Chunk

MIN_WORDS = {"single": 8, "table": 4, "picture": 3}
MAX_LINKED = 6  # an entity in more chunks than this is too common to make a question need both
PAIRS_PER_CHUNK = 2  # so one well-connected chunk does not make every multi-hop question
PROMPT_VERSION = "1"  # part of every candidate's key: a changed prompt is a new candidate, not a resumed one

STOPWORDS = frozenset("""a an the and or but if of in on at to for from by with as is are was were be been being it its
this that these those there their they them he she his her we our you your i not no yes than then so such into over
under after before about above below between during while which who whom whose what when where why how all any each
both more most other some only own same too very can will would should could may might must shall do does did done
has have had having also per new january february march april may june july august september october november
december monday tuesday wednesday thursday friday saturday sunday""".split())  # months link everything: no bridge
_CONNECTORS = frozenset({"of", "de", "da", "van", "von", "&"})
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n\s*)$")
_NAME = re.compile(r"\b[A-Z][\w'&-]*(?:[ \t]+(?:(?:of|de|da|van|von|&)[ \t]+)?[A-Z][\w'&-]*)*")
_MAGNITUDE = r"(?:thousand|million|billion|trillion|k|m|bn)"
_UNIT = rf"(?:%|percent\b|{_MAGNITUDE}\b(?:[ \t]+[a-zA-Z€$£]+)?|[a-zA-Z€$£]{{2,}})"
_QUANTITY = re.compile(rf"[$€£]?\d+(?:[.,]\d+)*[ \t]*{_UNIT}")
_WORD = re.compile(r"[a-z][a-z'-]{5,}")


@dataclass
class Candidate:
    """One question to write: its kind, the chunk(s) it is written from, and for multi-hop the linking entity."""

    kind: str
    chunks: tuple[Chunk, ...]
    bridge: str | None = None
    link: str | None = None  # how the bridge was found: name | quantity | rare word

    def key(self, generator: str) -> str:
        """Stable across runs for the same chunks, kind and generator (what a resumed run looks up)."""
        parts = [PROMPT_VERSION, self.kind, generator, self.bridge or "",
                 *(f"{c.source}\0{c.chunk_id}\0{c.content_hash or c.text}" for c in self.chunks)]
        return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class Entity:
    text: str  # as written in the first chunk that has it
    link: str  # name | quantity | rare word

    @property
    def norm(self) -> str:
        return " ".join(self.text.lower().split())


@dataclass
class Plan:
    """Candidates in the order they are tried (kinds interleaved), and the kinds the corpus cannot give."""

    candidates: list[Candidate]
    missing: list[str] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(c.kind == kind for c in self.candidates)


# -- entities ---------------------------------------------------------------------------------------------------
def names(text: str) -> list[str]:
    """Capitalised names; a single capitalised word that only starts a sentence is not taken for one."""
    found = []
    for match in _NAME.finditer(text):
        words = match.group(0).split()
        stripped = 0
        while words and words[0].lower() in STOPWORDS:
            words.pop(0)
            stripped += 1
        while words and words[-1].lower() in STOPWORDS | _CONNECTORS:
            words.pop()
        if not words:
            continue
        starts_sentence = not stripped and bool(_SENTENCE_START.search(text[:match.start()]))
        if starts_sentence and len(words) >= 3 and words[1].lower() in _CONNECTORS:
            words, starts_sentence = words[2:], False  # "Revenue of Harbor Labs": a sentence's first word
        if len(words) >= 2 or not starts_sentence:
            found.append(" ".join(words))
    return found


def quantities(text: str) -> list[str]:
    """Numbers with a unit ("48 million euros", "12%", "120 engineers"); bare numbers are too ambiguous."""
    out = []
    for match in _QUANTITY.finditer(text):
        value = " ".join(match.group(0).split()).rstrip(".,")
        unit = re.sub(r"^[$€£]?[\d,.]+\s*", "", value).split(" ")[0]
        if unit.lower() not in STOPWORDS and unit:
            out.append(value)
    return out


def entities(text: str, rare: set[str] | frozenset[str] = frozenset()) -> dict[str, Entity]:
    """{normalized text: Entity} of a chunk: its names, quantities, and the words of `rare` it contains."""
    found: dict[str, Entity] = {}
    for kind, values in (("name", names(text)), ("quantity", quantities(text))):
        for value in values:
            entity = Entity(value, kind)
            found.setdefault(entity.norm, entity)
    for word in set(_WORD.findall(text.lower())) & rare:
        found.setdefault(word, Entity(word, "rare word"))
    return found


def rare_words(chunks: list[Chunk]) -> set[str]:
    """Words (6+ letters, not stopwords) that occur in exactly two chunks: a link only those two share."""
    frequency: dict[str, int] = defaultdict(int)
    for chunk in chunks:
        for word in set(_WORD.findall(chunk.text.lower())) - STOPWORDS:
            frequency[word] += 1
    return {word for word, n in frequency.items() if n == 2}


# -- multi-hop pairs --------------------------------------------------------------------------------------------
def _place(chunk: Chunk) -> tuple[str, int | None]:
    return chunk.source, chunk.page


def link_pairs(chunks: list[Chunk], *, per_chunk: int = PAIRS_PER_CHUNK,
               max_linked: int = MAX_LINKED) -> list[Candidate]:
    """Multi-hop candidates: pairs of chunks from different documents or pages that share an entity, best
    first (names before quantities before rare words, names of several words before one-word names; the fewer
    chunks an entity is in, the better)."""
    rare = rare_words(chunks)
    postings: dict[str, list[int]] = defaultdict(list)
    known: dict[str, Entity] = {}
    for i, chunk in enumerate(chunks):
        for norm, entity in entities(chunk.text, rare).items():
            postings[norm].append(i)
            known.setdefault(norm, entity)
    preference = {"name": 0, "quantity": 1, "rare word": 2}
    best: dict[tuple[int, int], tuple[tuple, Entity]] = {}
    for norm, members in postings.items():
        if not 2 <= len(members) <= max_linked:
            continue
        entity = known[norm]
        rank = (preference[entity.link], " " not in norm, len(members), -len(norm), norm)  # full names first
        for a, b in combinations(members, 2):
            if _place(chunks[a]) != _place(chunks[b]) and ((a, b) not in best or rank < best[(a, b)][0]):
                best[(a, b)] = (rank, entity)
    used: dict[int, int] = defaultdict(int)
    out = []
    for (a, b), (_, entity) in sorted(best.items(), key=lambda item: (item[1][0], item[0])):
        if used[a] < per_chunk and used[b] < per_chunk:
            used[a] += 1
            used[b] += 1
            out.append(Candidate("multi", (chunks[a], chunks[b]), entity.text, entity.link))
    return out


# -- the plan ---------------------------------------------------------------------------------------------------
def _enough(chunk: Chunk, kind: str) -> bool:
    return len(chunk.text.split()) >= MIN_WORDS[kind]


def plan_candidates(chunks: list[Chunk], kinds: list[str] | tuple[str, ...], seed: int = 0) -> Plan:
    """Every candidate of the asked kinds, interleaved kind by kind (so a short run still gets some of each);
    single, table and picture candidates in a seeded order, multi-hop ones best link first."""
    rng = random.Random(seed)
    by_kind: dict[str, list[Candidate]] = {}
    for kind in kinds:
        if kind == "multi":
            by_kind[kind] = link_pairs([c for c in chunks if c.text.strip()])
            continue
        chunk_type = "text" if kind == "single" else kind
        pool = [Candidate(kind, (c,)) for c in chunks if c.type == chunk_type and _enough(c, kind)]
        rng.shuffle(pool)
        by_kind[kind] = pool
    ordered: list[Candidate] = []
    for round_ in range(max((len(v) for v in by_kind.values()), default=0)):
        ordered += [pool[round_] for pool in by_kind.values() if round_ < len(pool)]
    return Plan(ordered, [kind for kind, pool in by_kind.items() if not pool])
