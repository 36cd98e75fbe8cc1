"""What the base model makes of the experts' prompts: the I/O half of prompt gates (the math is in gates.py).

"hidden" modes run the base model forward on the CPU, one prompt at a time (no padding, so no position or
mask subtleties), in the checkpoint's own dtype (a bfloat16 model is not doubled in memory); "cheap_embed"
reads only the embedding matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ....errors import InputError
from .gates import GATE_MODES, Summaries, embedding_summary, hidden_summary


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except Exception as exc:  # missing or unreadable tokenizer files: the gates need the base model's tokenizer
        raise InputError(f"cannot load the tokenizer of the base model {folder} ({' '.join(str(exc).split())[:160]});"
                         " prompt gates need it: add its tokenizer files or use gate_mode: random") from None


def token_ids(tokenizer, prompt: str) -> list[int]:
    """The prompt's tokens, after the beginning-of-sequence token when the tokenizer has one."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    return ([bos] if bos is not None else []) + list(ids)


def summarizer(mode: str, folder: Path, embedding: torch.Tensor | None, layers: int) -> Summaries:
    """prompts -> (layers, hidden) for `mode`; the caller drops it (and the model it holds) when done."""
    tokenizer = load_tokenizer(folder)
    how = GATE_MODES[mode].summary
    if how == "embedding":
        assert embedding is not None
        return lambda prompts: embedding_summary(embedding, [token_ids(tokenizer, p) for p in prompts], layers)
    model = _load_model(folder)

    def summarize(prompts: Sequence[str]) -> torch.Tensor:
        passes = []
        for prompt in prompts:
            ids = torch.tensor([token_ids(tokenizer, prompt)])
            with torch.no_grad():
                output = model(input_ids=ids, output_hidden_states=True, use_cache=False)
            passes.append([h[0] for h in output.hidden_states[:-1]])  # the input of each layer
        return hidden_summary(passes, how)

    return summarize


def _load_model(folder: Path):
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype="auto")
    except Exception as exc:
        raise InputError(f"cannot load the base model {folder} with transformers for gate_mode hidden "
                         f"({' '.join(str(exc).split())[:160]}); use gate_mode: cheap_embed or random") from None
    return model.eval()
