"""Servers for the serve tests: a real uvicorn server on 127.0.0.1 (a free port, in a background thread) over an
in-memory retriever and the fake backend, plus a gate that holds fake model calls (for queue and timeout tests)."""

from __future__ import annotations

import re
import threading

import pytest

from llmopt.types import Chunk, Hit

_WORD = re.compile(r"[a-z0-9]+")

CORPUS = [
    ("c1", "Harbor Labs was founded in 2011 by Mira Okafor in Lisbon.", "/data/secret/labs.md", 1, "text", None),
    ("c2", "Mira Okafor studied physics at the University of Porto.", "people.md", 2, "text", None),
    ("c3", "The Lisbon office of Harbor Labs employs 120 engineers.", "labs.md", 3, "text", None),
    ("c4", "Chart: Harbor Labs revenue by year, 39 then 48 million euros.", "report.pdf", 4, "picture", "IMAGE"),
]


class MemoryRetriever:
    """Best first by shared words with the query. Picture chunks point at a real image file when given one."""

    def __init__(self, image_path: str | None = None, fail: Exception | None = None):
        self.chunks = [Chunk(cid, text, source, page, kind, image=image_path if image == "IMAGE" else None)
                       for cid, text, source, page, kind, image in CORPUS]
        self.fail = fail
        self.images_dir = None

    def search(self, query, k=5, filters=None):
        if self.fail is not None:
            raise self.fail
        words = set(_WORD.findall(query.lower()))
        scored = sorted(((len(words & set(_WORD.findall(c.text.lower()))), -i, c) for i, c in enumerate(self.chunks)),
                        key=lambda t: (t[0], t[1]), reverse=True)
        return [Hit(c, float(s), rank) for rank, (s, _, c) in enumerate(scored[:k], start=1)]


class Gate:
    """A fake model script that waits until the test opens the gate (so requests pile up deterministically)."""

    def __init__(self):
        self.event = threading.Event()
        self.entered = threading.Semaphore(0)

    def __call__(self, prompt, params):
        self.entered.release()
        self.event.wait(timeout=30)
        return "Lisbon"


@pytest.fixture
def gate(monkeypatch):
    from llmopt.models import fake, registry

    gate = Gate()
    name = f"gate{id(gate)}"  # a fresh name: loaded models are cached per spec
    monkeypatch.setitem(fake.SCRIPTS, name, gate)
    gate.spec = f"fake:{name}"
    yield gate
    gate.event.set()
    registry._loaded.pop(f"fake:{name}@None?[]", None)


@pytest.fixture
def start():
    """start(**settings) -> base URL of a running server (stopped after the test)."""
    from contextlib import ExitStack

    from llmopt.serve import create_app, running

    with ExitStack() as stack:
        def _start(retriever=None, **settings):
            settings.setdefault("model", "fake:Lisbon")
            settings.setdefault("allow_models", ["fake:*"])
            app = create_app(retriever=retriever if retriever is not None else MemoryRetriever(), **settings)
            url = stack.enter_context(running(app))
            _start.app = app
            return url

        yield _start


@pytest.fixture
def memory_retriever():
    """The MemoryRetriever class (test modules cannot import a conftest by name)."""
    return MemoryRetriever
