"""Vocabulary alignment for `tokenizer_source`: re-index every model's embedding rows by token so that row i
means the same token in all of them (the output tokenizer's token i), as mergekit does.

A token missing from a model gets a stand-in row: the only model that has it, else the base model's row, else
the mean of the models that have it, else zeros.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ...errors import InputError
from .io import read_json


def read_vocab(folder: Path) -> dict[str, int]:
    """token -> id of a model's tokenizer, read from tokenizer.json (falls back to transformers)."""
    path = Path(folder) / "tokenizer.json"
    if path.is_file():
        data = read_json(path, "a tokenizer")
        model = data.get("model")
        vocab = model.get("vocab") if isinstance(model, dict) else None
        try:
            if isinstance(vocab, list):  # unigram: [[piece, score], ...]
                vocab = {piece: i for i, (piece, _score) in enumerate(vocab)}
            if isinstance(vocab, dict):
                vocab = dict(vocab)
                for added in data.get("added_tokens") or []:
                    vocab[added["content"]] = added["id"]
                return vocab
        except (TypeError, KeyError, ValueError) as exc:
            raise InputError(f"{path}: its vocabulary is not a tokenizer.json vocabulary ({type(exc).__name__}: "
                             f"{exc}); re-download or re-save the tokenizer") from None
    try:
        from transformers import AutoTokenizer

        return dict(AutoTokenizer.from_pretrained(folder).get_vocab())
    except Exception as exc:
        reason = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise InputError(f"{folder}: cannot read its tokenizer ({reason}); tokenizer_source re-indexes every "
                         "model's embeddings by token, so copy the tokenizer files of the model it was fine-tuned "
                         "from (tokenizer.json, tokenizer_config.json) into that folder, or drop tokenizer_source "
                         "if the models share one vocabulary") from None


@dataclass(frozen=True)
class VocabAlignment:
    """Per model, the source row of each output row (-1: the model lacks that token), and how to fill gaps."""

    rows: int  # output vocabulary rows (padded)
    real_rows: int  # rows that hold a token of the output vocabulary
    permutations: dict[str, list[int]]  # model key -> output row -> model row or -1
    identity: bool  # every permutation is 0..rows-1 with nothing missing: alignment changes nothing

    def to_dict(self) -> dict:
        missing = {key: sum(1 for r in p if r < 0) for key, p in self.permutations.items()}
        return {"rows": self.rows, "real_rows": self.real_rows, "identity": self.identity, "missing_tokens": missing}


def build_alignment(out_vocab: dict[str, int], vocabs: dict[str, dict[str, int]], model_rows: dict[str, int],
                    pad_to_multiple_of: int | None = None) -> VocabAlignment:
    """Align each model (its vocab and number of embedding rows) to the output vocabulary."""
    rows = real_rows = max(len(out_vocab), max(out_vocab.values(), default=-1) + 1)
    if pad_to_multiple_of and rows % pad_to_multiple_of:
        rows += pad_to_multiple_of - rows % pad_to_multiple_of
    permutations = {}
    for key, vocab in vocabs.items():
        limit = model_rows[key]
        permutation = [-1] * rows
        for token, out_id in out_vocab.items():
            source = vocab.get(token, -1)
            permutation[out_id] = source if 0 <= source < limit else -1
        permutations[key] = permutation
    identity = all(p == list(range(rows)) and model_rows[k] == rows for k, p in permutations.items())
    return VocabAlignment(rows, real_rows, permutations, identity)


def align_rows(tensors: list[torch.Tensor], permutations: list[list[int]], rows: int,
               base_index: int | None, real_rows: int) -> list[torch.Tensor]:
    """Re-index the first axis of each tensor by its permutation; fill missing rows with stand-ins (pure).
    Rows past `real_rows` (padding to a multiple) get the mean of the real rows, as mergekit does."""
    index = torch.stack([torch.tensor(p, dtype=torch.long) for p in permutations])  # [models, rows]
    present = index >= 0
    gaps = (~present[:, :real_rows]).any(dim=0).nonzero().flatten()  # rows some model lacks
    fill = _stand_in_rows(tensors, index[:, gaps], present[:, gaps], base_index)
    aligned = []
    for m, tensor in enumerate(tensors):
        out = tensor.new_zeros((rows, *tensor.shape[1:]))
        has = present[m]
        out[has] = tensor[index[m][has]]
        lacks = ~present[m, gaps]
        out[gaps[lacks]] = fill[lacks].to(tensor.dtype)
        if rows > real_rows:
            out[real_rows:] = out[:real_rows].mean(dim=0)
        aligned.append(out)
    return aligned


def _stand_in_rows(tensors, index, present, base_index) -> torch.Tensor:
    """The stand-in for each gap row (see the module docstring); index/present are restricted to those rows."""
    count = present.sum(dim=0)
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    total = torch.zeros((index.shape[1], *tensors[0].shape[1:]), dtype=dtype)
    for tensor, idx, has in zip(tensors, index, present):
        total[has] += tensor[idx[has]].to(dtype)
    fill = total / count.clamp(min=1).reshape(-1, *([1] * (total.dim() - 1)))
    if base_index is not None:
        use_base = present[base_index] & (count > 1)  # one holder: the mean already is that model's row
        fill[use_base] = tensors[base_index][index[base_index][use_base]].to(dtype)
    return fill


@dataclass(frozen=True)
class UnionTokenizer:
    """tokenizer_source: union. The base tokenizer with every other model's missing tokens appended (regular tokens
    first, then added/special tokens, model by model in id order, as mergekit orders them), so that each input
    token has a row in the merged embedding."""

    files: dict[str, str]  # file name -> text to write over the copied base tokenizer files
    vocab: dict[str, int]  # the output vocabulary (token -> id)
    added: list[str]  # tokens the base lacked

    def to_dict(self) -> dict:
        return {"tokens": len(self.vocab), "added_from_other_models": len(self.added)}


def _regular_and_added(data: dict) -> tuple[list[tuple[int, str]], list[dict]]:
    """(regular (id, token) pairs, added-token entries) of a tokenizer.json."""
    added = [entry for entry in data.get("added_tokens") or [] if isinstance(entry, dict)]
    contents = {entry.get("content") for entry in added}
    vocab = data["model"]["vocab"]
    pairs = list(enumerate(piece for piece, _score in vocab)) if isinstance(vocab, list) else \
        [(i, token) for token, i in vocab.items()]
    return sorted((i, t) for i, t in pairs if t not in contents), sorted(added, key=lambda e: e["id"])


def union_tokenizer(base: dict, others: list[tuple[dict, int]], base_name: str = "the base model",
                    config: dict | None = None) -> UnionTokenizer:
    """Pure: the union of tokenizer.json `base` and `others` ((tokenizer.json, embedding rows) each; tokens whose
    id has no embedding row are skipped, as mergekit skips them). New regular tokens join the model's vocabulary
    (so a byte-level BPE decodes them as text, which mergekit's added-token route does not); new added tokens keep
    their flags (special, lstrip, ...). `config` (tokenizer_config.json) gets the new added tokens in its
    added_tokens_decoder."""
    out = json.loads(json.dumps(base))
    model = out.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("vocab"), (dict, list)):
        raise InputError(f"{base_name}: its tokenizer.json has no model vocabulary; tokenizer_source: union needs "
                         "fast tokenizers (tokenizer.json) -- use tokenizer_source: base or a model path")
    vocab = model["vocab"]
    out.setdefault("added_tokens", [])
    known = read_vocab_data(out)
    next_id = max(known.values(), default=-1) + 1
    if isinstance(vocab, list) and next_id != len(vocab):
        raise InputError(f"{base_name}: its Unigram tokenizer has added tokens past its vocabulary list, which "
                         "tokenizer_source: union cannot extend; use tokenizer_source: base or a model path")
    added: list[str] = []
    floor = min((score for _piece, score in vocab), default=0.0) - 1.0 if isinstance(vocab, list) else 0.0
    parsed = [(_regular_and_added(data), rows) for data, rows in others]
    for (regular, _entries), rows in parsed:
        for i, token in regular:
            if i < rows and token not in known:
                if isinstance(vocab, list):
                    vocab.append([token, floor])
                else:
                    vocab[token] = next_id
                known[token] = next_id
                added.append(token)
                next_id += 1
    new_entries = []
    for (_regular, entries), rows in parsed:
        for entry in entries:
            token = entry.get("content")
            if entry["id"] < rows and isinstance(token, str) and token not in known:
                new = {**entry, "id": next_id}
                out["added_tokens"].append(new)
                new_entries.append(new)
                if isinstance(vocab, list):
                    vocab.append([token, 0.0])
                known[token] = next_id
                added.append(token)
                next_id += 1
    files = {"tokenizer.json": json.dumps(out, ensure_ascii=False, indent=2)}
    if config is not None and new_entries:
        config = json.loads(json.dumps(config))
        decoder = config.setdefault("added_tokens_decoder", {})
        for entry in new_entries:
            decoder[str(entry["id"])] = {k: v for k, v in entry.items() if k != "id"}
        files["tokenizer_config.json"] = json.dumps(config, ensure_ascii=False, indent=2)
    return UnionTokenizer(files, known, added)


def read_vocab_data(data: dict) -> dict[str, int]:
    """token -> id of a parsed tokenizer.json (its model vocabulary and its added tokens)."""
    vocab = data["model"]["vocab"]
    out = {piece: i for i, (piece, _score) in enumerate(vocab)} if isinstance(vocab, list) else dict(vocab)
    for entry in data.get("added_tokens") or []:
        out[entry["content"]] = entry["id"]
    return out
