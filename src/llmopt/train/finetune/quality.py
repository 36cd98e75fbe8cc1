"""Data quality before training: exact and near-duplicate removal, and the train/eval overlap check.

Near-duplicates are found with MinHash over character 5-grams of the normalised text and LSH banding (the approach
of large-scale dedup pipelines), then confirmed with the exact Jaccard similarity, so the cost stays near-linear
in the data size. Character n-grams suit short training examples: one changed word in a 25-word answer leaves a
similarity near 0.85, where word 5-grams would drop it to 0.65.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np

from ...errors import InputError
from .data import Example

SHINGLE = 5  # characters per shingle
PERMUTATIONS = 128
BANDS = 16  # 16 bands x 8 rows: pairs above ~0.8 almost always become candidates, below ~0.5 rarely
_PRIME = np.uint64(4294967311)  # > 2^32, so (a*x + b) mod p never overflows uint64 for 32-bit a, x, b


class EvalOverlapError(InputError):
    """Training examples that match evaluation examples: the eval score would measure memorisation."""


@dataclass
class DataReport:
    """What data-quality filtering kept and dropped, with a few examples of each."""

    read: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    too_long: int = 0
    empty_answers: int = 0
    eval_overlap: int = 0
    overlap_allowed: bool = False  # eval_overlap counts examples kept on purpose (--eval-overlap allow)
    kept: int = 0
    samples: dict[str, list[str]] = field(default_factory=dict)  # reason -> up to 3 "where" of dropped rows

    def note(self, reason: str, where: str) -> None:
        bucket = self.samples.setdefault(reason, [])
        if len(bucket) < 3:
            bucket.append(where)

    def lines(self) -> list[str]:
        parts = [f"read {self.read}"]
        for name in ("exact_duplicates", "near_duplicates", "too_long", "empty_answers", "eval_overlap"):
            count = getattr(self, name)
            if count:
                seen = ", ".join(self.samples.get(name, []))
                verb = "kept (allowed)" if name == "eval_overlap" and self.overlap_allowed else "dropped"
                parts.append(f"{verb} {count} {name.replace('_', ' ')}" + (f" (e.g. {seen})" if seen else ""))
        parts.append(f"kept {self.kept}")
        return parts

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def normalize_text(text: str) -> str:
    """Text for duplicate and overlap detection: lower case, punctuation as spaces, single spaces. Not the answer
    normalization of llmopt.metrics (which scores answers): articles stay, being part of a text's wording, and
    punctuation separates words ("Lyon,Porto" is two words) instead of vanishing."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def example_text(example: Example) -> str:
    return "\n".join(m["content"] for m in example.messages)


def shingles(text: str) -> set[str]:
    text = normalize_text(text)
    if len(text) <= SHINGLE:
        return {text} if text else set()
    return {text[i:i + SHINGLE] for i in range(len(text) - SHINGLE + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _hash32(items: set[str]) -> np.ndarray:
    return np.array([int.from_bytes(hashlib.blake2b(s.encode(), digest_size=4).digest(), "little") for s in items],
                    dtype=np.uint64)


_rng = np.random.default_rng(1)
_A = _rng.integers(1, 2**32 - 1, PERMUTATIONS, dtype=np.uint64)
_B = _rng.integers(0, 2**32 - 1, PERMUTATIONS, dtype=np.uint64)


def minhash(items: set[str]) -> np.ndarray:
    if not items:
        return np.full(PERMUTATIONS, np.iinfo(np.uint64).max, dtype=np.uint64)
    x = _hash32(items)[:, None]
    return ((x * _A[None, :] + _B[None, :]) % _PRIME).min(axis=0)


def _buckets(signature: np.ndarray) -> list[tuple[int, bytes]]:
    rows = PERMUTATIONS // BANDS
    return [(band, signature[band * rows:(band + 1) * rows].tobytes()) for band in range(BANDS)]


class NearDuplicateIndex:
    """Texts added so far, searchable for one with Jaccard similarity >= threshold."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self._sets: list[set[str]] = []
        self._buckets: dict[tuple[int, bytes], list[int]] = {}

    def find(self, items: set[str]) -> int | None:
        seen: set[int] = set()
        for key in _buckets(minhash(items)):
            for other in self._buckets.get(key, ()):
                if other not in seen:
                    seen.add(other)
                    if jaccard(items, self._sets[other]) >= self.threshold:
                        return other
        return None

    def add(self, items: set[str]) -> None:
        self._sets.append(items)
        for key in _buckets(minhash(items)):
            self._buckets.setdefault(key, []).append(len(self._sets) - 1)


def deduplicate(examples: list[Example], threshold: float, report: DataReport) -> list[Example]:
    """Keep the first of every group of exact or near-duplicate examples."""
    exact: set[str] = set()
    near = NearDuplicateIndex(threshold)
    kept = []
    for example in examples:
        text = example_text(example)
        key = hashlib.sha256(normalize_text(text).encode()).hexdigest()
        if key in exact:
            report.exact_duplicates += 1
            report.note("exact_duplicates", example.where)
            continue
        items = shingles(text)
        if threshold < 1 and near.find(items) is not None:
            report.near_duplicates += 1
            report.note("near_duplicates", example.where)
            continue
        exact.add(key)
        near.add(items)
        kept.append(example)
    return kept


def eval_overlap(train: list[Example], evaluation: list[Example], threshold: float) -> list[tuple[Example, Example]]:
    """(train, eval) pairs whose questions are the same or nearly the same (after normalisation)."""
    exact = {normalize_text(e.question): e for e in evaluation}
    index = NearDuplicateIndex(threshold)
    for e in evaluation:
        index.add(shingles(e.question))
    pairs = []
    for example in train:
        question = normalize_text(example.question)
        if question in exact:
            pairs.append((example, exact[question]))
            continue
        hit = index.find(shingles(example.question))
        if hit is not None:
            pairs.append((example, evaluation[hit]))
    return pairs


def check_overlap(train: list[Example], evaluation: list[Example], threshold: float, policy: str,
                  report: DataReport) -> list[Example]:
    """Refuse (default), drop, or allow training examples that overlap the evaluation set."""
    pairs = eval_overlap(train, evaluation, threshold)
    if not pairs:
        return train
    if policy == "refuse":
        shown = "; ".join(f"{t.where} ~ {e.where}" for t, e in pairs[:3])
        raise EvalOverlapError(
            f"{len(pairs)} training example(s) overlap the evaluation set ({shown}); the eval score would measure "
            "memorisation. Remove them, or pass --eval-overlap drop (remove them here) or --eval-overlap allow")
    report.eval_overlap = len(pairs)
    for t, _ in pairs:
        report.note("eval_overlap", t.where)
    if policy == "allow":
        report.overlap_allowed = True
        return train
    bad = {id(t) for t, _ in pairs}
    return [e for e in train if id(e) not in bad]
