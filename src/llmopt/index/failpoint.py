"""Fault injection for crash tests: named points in the write path where a test can kill the process.

    LLMOPT_FAILPOINT=mid_insert        SIGKILL the process the first time it reaches `mid_insert`
    LLMOPT_FAILPOINT=mid_insert:3      ... the third time

Points: begin, mid_insert (after the first insert batch of a source, before the rest), before_commit,
after_commit (before the old version's rows are deleted), after_delete_old. In-process tests may set
`raise_at` instead to get a SimulatedCrash (a BaseException, like a kill nothing catches).
"""

from __future__ import annotations

import os
import signal

raise_at: str | None = None  # in-process crash simulation for unit tests
_counts: dict[str, int] = {}


class SimulatedCrash(BaseException):
    """Raised at a fail point when raise_at names it."""


def failpoint(name: str) -> None:
    if raise_at == name:
        raise SimulatedCrash(name)
    target = os.environ.get("LLMOPT_FAILPOINT")
    if not target:
        return
    point, _, nth = target.partition(":")
    if point != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
