"""What the teacher contributes, computed once and cached on disk so a crashed run resumes without redoing it:

- its answers (sequence-level KD, and token-level KD on rows without a gold answer): OUT/teacher_answers.jsonl,
  one line appended per answer;
- its top-k next-token log-probabilities on every trained position: OUT/teacher_topk/shard-*.safetensors.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ...jsonl import append_jsonl, read_jsonl
from ..finetune.data import Example
from ..finetune.loss import causal_lm_parts, selected_hidden
from ..finetune.packing import collate
from ..finetune.template import Tokenized
from .losses import SparseTeacher, sparsify

Progress = Callable[[str, dict], None]


def prompt_key(messages: Sequence[dict]) -> str:
    return hashlib.sha256(json.dumps(list(messages), sort_keys=True).encode()).hexdigest()[:20]


def answer_batch(llm, conversations: list[list[dict]], max_new_tokens: int) -> list:
    """Greedy answers to several conversations through the backend's own chat batching (one padded batch on
    transformers, concurrent requests to an endpoint, which applies its own chat template)."""
    return llm.chat_batch(conversations, max_tokens=max_new_tokens, temperature=0.0)


def teacher_answers(spec: str, prompts: list[list[dict]], cache: Path, *, max_new_tokens: int, batch_size: int,
                    on_progress: Progress | None = None) -> list[dict]:
    """The teacher's greedy answer to each prompt (any llmopt backend), appended to `cache` as it goes."""
    from ...models.registry import get_model

    done = {row["key"]: row for row in read_jsonl(cache)}  # a line cut by a crash is simply answered again
    todo = [m for m in prompts if prompt_key(m) not in done]
    if todo:
        llm = get_model(spec)
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            rows = [{"key": prompt_key(messages), "answer": gen.text.strip(), "model": gen.model,
                     "prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens,
                     "latency_s": gen.latency_s, "cost_usd": gen.cost_usd}
                    for messages, gen in zip(chunk, answer_batch(llm, chunk, max_new_tokens))]
            append_jsonl(cache, *rows)
            done.update((row["key"], row) for row in rows)
            if on_progress:
                on_progress("teacher_answers", {"done": min(start + batch_size, len(todo)), "total": len(todo)})
    return [done[prompt_key(m)] for m in prompts]


def answered(examples: list[Example], answers: list[dict]) -> list[Example]:
    return [e.with_answer(a["answer"]) for e, a in zip(examples, answers)]


class TopKCache:
    """The teacher's top-k log-probabilities per trained position, keyed by example, stored in shards."""

    def __init__(self, folder: Path, *, k: int, temperature: float, teacher: str, vocab: int):
        self.folder = Path(folder)
        self.meta = {"k": k, "temperature": temperature, "teacher": teacher, "vocab": vocab}
        self.entries: dict[str, SparseTeacher] = {}
        meta_path = self.folder / "meta.json"
        if meta_path.is_file() and _read_meta(meta_path) != self.meta:
            for shard in self.folder.glob("shard-*.safetensors"):  # another teacher/k/T (or unreadable): start over
                shard.unlink()
        self.folder.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(json.dumps(self.meta))
        self._load()

    def _load(self) -> None:
        from safetensors.torch import load_file

        for shard in sorted(self.folder.glob("shard-*.safetensors")):
            try:
                tensors = load_file(str(shard))
                found = {name[:-4]: SparseTeacher(tensors[name], tensors[f"{name[:-4]}.logprobs"])
                         for name in tensors if name.endswith(".ids")}
            except Exception as exc:  # safetensors' own error type, a missing partner, an OS error: all the same here
                # a cache: its entries are recomputed; the damaged file is kept aside for a look, never read again
                aside = shard.with_name(shard.name + ".damaged")
                os.replace(shard, aside)
                warnings.warn(f"teacher cache shard {shard} is unreadable ({type(exc).__name__}); moved to "
                              f"{aside.name}, its entries are recomputed", stacklevel=2)
                continue
            self.entries.update(found)

    def missing(self, rows: list[Tokenized]) -> list[Tokenized]:
        return [r for r in rows if r.key not in self.entries]

    def add(self, new: dict[str, SparseTeacher]) -> None:
        from safetensors.torch import save_file

        if not new:
            return
        blob = {}
        for key, sparse in new.items():
            blob[f"{key}.ids"] = sparse.ids.contiguous()
            blob[f"{key}.logprobs"] = sparse.logprobs.to(torch.float16).contiguous()  # half the disk, ample precision
        # past the highest shard number, not the count: a shard set aside or deleted must not make the next one
        # overwrite a live shard
        index = 1 + max((int(p.name[6:11]) for p in self.folder.glob("shard-[0-9][0-9][0-9][0-9][0-9].safetensors")),
                        default=-1)
        tmp = self.folder / f".shard-{index:05d}.{os.getpid()}.tmp"
        save_file(blob, str(tmp))
        os.replace(tmp, self.folder / f"shard-{index:05d}.safetensors")
        self.entries.update({k: SparseTeacher(v.ids, v.logprobs.to(torch.float16)) for k, v in new.items()})

    def targets(self, keys: Sequence[str]) -> SparseTeacher:
        """Concatenated in batch order (the order in which the student's trained positions are selected)."""
        parts = [self.entries[k] for k in keys]
        return SparseTeacher(torch.cat([p.ids for p in parts]), torch.cat([p.logprobs.float() for p in parts]))


def _read_meta(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@torch.no_grad()
def teacher_logits(teacher, batch, vocab: int, chunk: int = 256, varlen: bool = True):
    """Yield the teacher's logits (first `vocab` columns) at the batch's trained positions, a chunk at a time."""
    hidden, _ = selected_hidden(teacher, batch, varlen)
    _, head, post = causal_lm_parts(teacher)
    for start in range(0, hidden.shape[0], chunk):
        logits = head(hidden[start:start + chunk]).float()
        yield (post(logits) if post else logits)[:, :vocab]


def fill_topk(cache: TopKCache, teacher, rows: list[Tokenized], *, batch_size: int, pad_id: int, varlen: bool,
              on_progress: Progress | None = None, shard_rows: int = 256) -> None:
    """Run the teacher over the rows the cache lacks; write a shard every `shard_rows` rows."""
    todo = cache.missing(rows)
    teacher.eval()
    pending: dict[str, SparseTeacher] = {}
    for start in range(0, len(todo), batch_size):
        chunk_rows = todo[start:start + batch_size]
        batch = collate(chunk_rows, varlen, pad_id)
        sparse = [sparsify(logits, cache.meta["k"], cache.meta["temperature"])
                  for logits in teacher_logits(teacher, batch, cache.meta["vocab"], varlen=varlen)]
        ids = torch.cat([s.ids for s in sparse])
        logprobs = torch.cat([s.logprobs for s in sparse])
        offset = 0
        for row in chunk_rows:
            n = row.trained_tokens
            pending[row.key] = SparseTeacher(ids[offset:offset + n], logprobs[offset:offset + n])
            offset += n
        if len(pending) >= shard_rows:
            cache.add(pending)
            pending = {}
        if on_progress:
            on_progress("teacher_topk", {"done": min(start + batch_size, len(todo)), "total": len(todo)})
    cache.add(pending)
