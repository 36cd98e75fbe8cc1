"""BM25 as sparse vectors, with corpus statistics kept in the manifest.

Why not Milvus's built-in BM25 function: Milvus Lite scores BM25 with per-segment statistics (its own source
says so), so one index's scores are not comparable across segments, and a chart chunk can rank 18th for a
query that names all its words. Here the corpus statistics (document frequency per term, document count, total
length) live in the manifest, updated in the same SQLite transaction that commits or retires a version, so they
describe exactly the committed chunks. Documents are stored as BM25-saturated term weights; a query carries
IDF weights; Milvus computes the inner product. The same vectors work on Milvus Lite and on any Milvus server.

    weight(t, d) = tf·(k1+1) / (tf + k1·(1 − b + b·|d|/avgdl))      (avgdl as committed when d is written)
    weight(t, q) = ln(1 + (N − df + 0.5) / (df + 0.5))               (Robertson–Spärck Jones IDF, always > 0)
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections import Counter

K1 = 1.2
B = 0.75
_TOKEN = re.compile(r"\w+")
STOP_WORDS = frozenset(
    "a an and are as at be been but by can could did do does for from had has have how i if in into is it its "
    "may might of on or our shall should so such than that the their them then there these they this those to "
    "was we were what when where which while who whom why will with would you your".split())


@functools.lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word) if word.isascii() and word.isalpha() else word


def analyze(text: str) -> list[str]:
    """Lower-cased word tokens without English stop words, Snowball-stemmed ("shipped" -> "ship")."""
    return [_stem(w) for w in _TOKEN.findall(text.lower()) if w not in STOP_WORDS]


@functools.lru_cache(maxsize=200_000)
def term_id(term: str) -> int:
    """A stable 31-bit id per term: sparse vectors need integer dimensions, and no vocabulary file is kept."""
    value = int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little") & 0x7FFFFFFF
    return value or 1  # 0 is reserved for EMPTY


EMPTY = {0: 1e-9}  # Milvus refuses an all-zero sparse row; a chunk of stop words gets this, which no query has


def term_counts(text: str) -> tuple[Counter, int]:
    """Term frequencies (by term id) and the document length in terms."""
    terms = analyze(text)
    return Counter(term_id(t) for t in terms), len(terms)


def doc_vector(counts: Counter, length: int, avgdl: float) -> dict[int, float]:
    norm = K1 * (1 - B + B * length / max(avgdl, 1.0))
    return {t: tf * (K1 + 1) / (tf + norm) for t, tf in counts.items()}


def idf(df: int, n: int) -> float:
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def query_vector(text: str, stats) -> dict[int, float]:
    """IDF weights of the query's terms (repeated terms count once per occurrence), from corpus statistics."""
    counts, _ = term_counts(text)
    if not counts:
        return {}
    n, _ = stats.bm25_totals()
    df = stats.bm25_df(list(counts))
    return {t: tf * idf(df.get(t, 0), max(n, 1)) for t, tf in counts.items()}


class VersionTerms:
    """What one source version adds to the corpus statistics: chunks, total length, and per term the number of
    chunks containing it. Stored with the version so retiring it subtracts exactly what committing it added."""

    def __init__(self) -> None:
        self.n = 0
        self.length = 0
        self.df: Counter = Counter()

    def add(self, counts: Counter, length: int) -> None:
        self.n += 1
        self.length += length
        self.df.update(counts.keys())

    def encode(self) -> bytes:
        import json
        import zlib

        return zlib.compress(json.dumps([self.n, self.length, sorted(self.df.items())]).encode())

    @classmethod
    def decode(cls, blob: bytes) -> "VersionTerms":
        import json
        import zlib

        n, length, pairs = json.loads(zlib.decompress(blob))
        terms = cls()
        terms.n, terms.length, terms.df = n, length, Counter(dict(pairs))
        return terms
