"""Vocabulary alignment for `tokenizer_source`: re-index every model's embedding rows by token so that row i
means the same token in all of them (the output tokenizer's token i), as mergekit does.

A token missing from a model gets a stand-in row: the only model that has it, else the base model's row, else
the mean of the models that have it, else zeros.
"""

from __future__ import annotations

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
