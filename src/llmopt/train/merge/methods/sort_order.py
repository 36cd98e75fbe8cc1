"""Where torch's CPU sort puts equal values, found without sorting: of a group of equal keys that a cut at sorted
position `cut` splits, which entries land before the cut (pure math on NumPy arrays).

torch.sort / torch.argsort (stable=False) of a 1-D CPU tensor is libstdc++'s std::sort over (value, index) pairs
that compares values only (aten/src/ATen/native/cpu/SortingKernel.cpp in torch 2.x; the CPU wheels do not build
its x86-simd-sort branch, and float32, float64, float16, bfloat16 and integer keys get the same permutation).
std::sort is introsort: while a range holds more than 16 entries it is split by a Hoare partition around the
median of its second, middle and last entries (heapsort takes over once a depth budget of 2*floor(log2 n) levels
is spent), and one insertion sort over the whole array finishes. Which entries end before the cut is decided by
the partitions on the cut's path alone: a range wholly before (or after) the cut keeps its set of entries however
it is sorted later, and the closing insertion sort is stable and never moves an entry across a partition boundary,
so the last range on the path (16 entries or fewer) is finished by a stable sort. Following that one path is a
quickselect: O(n) work instead of O(n log n), done in place on one float32 copy of the keys, tracking original
indices only for the entries equal to the cut value (for all entries when those are many). `matches_torch` checks the whole premise against the torch
in use, once per process; where it fails, or the path would reach heapsort, or keys are NaN, callers sort fully.
"""

from __future__ import annotations

import functools

import numpy as np

WINDOW = 1 << 20  # entries scanned at a time while partitioning
_INSERTION = 16  # libstdc++'s _S_threshold: ranges this small are left to the final insertion sort


class _Equal:
    """Original indices of the entries equal to one value, kept up to date as the partitions swap entries: their
    current positions (sorted) when they are few, else an origin for every position (4 bytes an entry, but no
    re-sorting of a large group after every batch of swaps)."""

    def __init__(self, keys: np.ndarray, value: float):
        self.value = value
        self.pos = np.flatnonzero(keys == value)
        self.origin = None
        if self.pos.size > keys.size // 32:
            self.origin = np.arange(keys.size, dtype=np.int32 if keys.size < 2 ** 31 else np.int64)
            self.pos = None
        else:
            self.index = self.pos.copy()

    def swapped(self, left: np.ndarray, right: np.ndarray, left_keys: np.ndarray, right_keys: np.ndarray) -> None:
        """Entries at positions left[i] and right[i] (keys before the swap given) traded places."""
        if self.origin is not None:
            self.origin[left], self.origin[right] = self.origin[right], self.origin[left]
            return
        from_left, from_right = left_keys == self.value, right_keys == self.value
        if not (from_left.any() or from_right.any()):
            return
        old = np.concatenate([left[from_left], right[from_right]])
        new = np.concatenate([right[from_left], left[from_right]])
        self.pos[np.searchsorted(self.pos, old)] = new
        order = np.argsort(self.pos, kind="stable")
        self.pos, self.index = self.pos[order], self.index[order]

    def within(self, keys: np.ndarray, first: int, last: int) -> np.ndarray:
        """Those now at positions [first, last)."""
        if self.origin is not None:
            return self.origin[first:last][keys[first:last] == self.value].astype(np.int64)
        a, b = np.searchsorted(self.pos, [first, last])
        return self.index[a:b]

    def at(self, keys: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Those now at the given positions."""
        if self.origin is not None:
            return self.origin[positions[keys[positions] == self.value]].astype(np.int64)
        return self.index[np.isin(self.pos, positions)]


def _swap(keys: np.ndarray, equal: _Equal, left: np.ndarray, right: np.ndarray) -> None:
    left_keys, right_keys = keys[left], keys[right]
    keys[left], keys[right] = right_keys, left_keys
    equal.swapped(left, right, left_keys, right_keys)


def _median_to_first(keys: np.ndarray, equal: _Equal, first: int, last: int) -> None:
    """libstdc++'s __move_median_to_first(first, first + 1, mid, last - 1)."""
    a, b, c = first + 1, first + (last - first) // 2, last - 1
    x, y, z = keys[a], keys[b], keys[c]
    if x < y:
        median = b if y < z else (c if x < z else a)
    elif x < z:
        median = a
    else:
        median = c if y < z else b
    _swap(keys, equal, np.array([first]), np.array([median]))


def _partition(keys: np.ndarray, equal: _Equal, first: int, last: int) -> int:
    """libstdc++'s __unguarded_partition_pivot on keys[first:last]; returns the cut.

    The scan pairs the i-th entry from the left that is not below the pivot with the i-th entry from the right that
    is not above it, and swaps them while the left one comes first. Both lists are read off the unswapped keys a
    window at a time (positions between the two frontiers have not been touched yet)."""
    _median_to_first(keys, equal, first, last)
    pivot = keys[first]
    scan_left, scan_right = first + 1, last  # next unread position from the left; end of the unread part on the right
    last_left = last_right = -1  # positions of the last swapped pair
    lefts = rights = np.empty(0, dtype=np.int64)
    while True:
        left_limit = last if last_right < 0 else last_right  # the left scan stops at the last swapped right entry
        while not lefts.size and scan_left < left_limit:
            end = min(scan_left + WINDOW, left_limit)
            lefts = np.flatnonzero(keys[scan_left:end] >= pivot) + scan_left
            scan_left = end
        if not lefts.size:
            return left_limit
        right_limit = first if last_left < 0 else last_left + 1  # the pivot itself stops the first right scan
        while not rights.size and scan_right > right_limit:
            start = max(scan_right - WINDOW, right_limit)
            rights = (np.flatnonzero(keys[start:scan_right] <= pivot) + start)[::-1]
            scan_right = start
        if not rights.size:
            return min(int(lefts[0]), left_limit)
        pairs = min(lefts.size, rights.size)
        crossing = int(np.count_nonzero(lefts[:pairs] < rights[:pairs]))  # true for a prefix of the pairs
        if crossing:
            _swap(keys, equal, lefts[:crossing], rights[:crossing])
            last_left, last_right = int(lefts[crossing - 1]), int(rights[crossing - 1])
        if crossing < pairs:
            return min(int(lefts[crossing]), last if last_right < 0 else last_right)
        lefts, rights = lefts[pairs:], rights[pairs:]


def equal_before(keys: np.ndarray, cut: int, value: float) -> np.ndarray | None:
    """Original indices of the entries equal to `value` that an ascending torch.sort of `keys` (1-D, on CPU) places
    at positions below `cut`. `keys` (float32 with no NaN for a cheap run) is overwritten. None where the sort
    would switch to heapsort on the cut's path (adversarial inputs): sort fully then."""
    n = keys.size
    equal = _Equal(keys, value)
    first, last = 0, n
    depth = 2 * (n.bit_length() - 1) if n else 0
    before = []
    while last - first > _INSERTION and first < cut < last:
        if depth == 0:
            return None
        depth -= 1
        middle = _partition(keys, equal, first, last)
        if cut <= middle:
            last = middle
        else:
            before.append(equal.within(keys, first, middle))
            first = middle
    if cut >= last:
        before.append(equal.within(keys, first, last))
    elif cut > first:
        order = np.argsort(keys[first:last], kind="stable")[:cut - first] + first  # the final insertion sort
        before.append(equal.at(keys, order))
    return np.concatenate(before) if before else np.empty(0, dtype=np.int64)


@functools.lru_cache(maxsize=1)
def matches_torch() -> bool:
    """Whether torch's CPU sort orders equal keys as `equal_before` predicts (checked once, on crafted ties)."""
    import torch

    rng = np.random.default_rng(0)
    for n, distinct in ((1_000, 7), (5_000, 300), (70_000, 40)):
        keys = rng.integers(0, distinct, n).astype(np.float32)
        for descending in (False, True):
            order = torch.argsort(torch.from_numpy(keys), descending=descending).numpy()
            sort_keys = -keys if descending else keys
            for cut in (1, n // 3, n // 2 + 1, n - 1):
                value = float(sort_keys[order[cut - 1]])
                expected = np.sort(order[:cut][sort_keys[order[:cut]] == value])
                found = equal_before(sort_keys.copy(), cut, value)
                if found is None or not np.array_equal(np.sort(found), expected):
                    return False
    return True
