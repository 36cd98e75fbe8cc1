"""Test helpers other modules' tests and benchmarks use: tiny random Llama-architecture models saved as HF
folders (no downloads), and the scripted fake backend (llmopt.models.fake.FakeLLM).

    path = make_tiny_llama(tmp_path / "tiny", seed=0)          # config.json, model.safetensors, tokenizer
    path = make_tiny_llama(tmp_path / "tiny", layers=4, shard_size="200KB")   # sharded *.index.json
"""

from __future__ import annotations

import functools
from pathlib import Path

from .models.fake import BatchingFakeLLM, FakeLLM

__all__ = ["BatchingFakeLLM", "FakeLLM", "make_tiny_llama", "tiny_tokenizer"]

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "SELECT name FROM singer WHERE age > 30 ORDER BY name;",
    "Question: What is the capital of France? Answer: Paris.",
    "Revenue grew 12% to $4.2 billion in the second quarter of 2023.",
    "Follow up: Who wrote the novel? Intermediate answer: Jane Austen. So the final answer is: 1813.",
    "user assistant system 0 1 2 3 4 5 6 7 8 9 table chart figure page document retrieval answer",
]


@functools.lru_cache(maxsize=4)
def _trained_tokenizer_json(vocab_size: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return tok.to_str()


def tiny_tokenizer(vocab_size: int = 512):
    """A small byte-level BPE tokenizer with a ChatML chat template (deterministic, built offline)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(_trained_tokenizer_json(vocab_size)),
                                  eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None)
    tok.chat_template = CHAT_TEMPLATE
    return tok


def make_tiny_llama(path: str | Path, *, seed: int = 0, hidden_size: int = 64, layers: int = 2, heads: int = 4,
                    kv_heads: int = 2, intermediate_size: int = 128, vocab_size: int = 512,
                    max_position_embeddings: int = 512, tie_word_embeddings: bool = False,
                    dtype: str = "float32", shard_size: str | None = None, tokenizer: bool = True) -> Path:
    """Save a randomly initialised LlamaForCausalLM (and its tokenizer) as an HF folder; return the folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        max_position_embeddings=max_position_embeddings, tie_word_embeddings=tie_word_embeddings,
        bos_token_id=None, eos_token_id=2, pad_token_id=0,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(getattr(torch, dtype))
    kwargs = {"max_shard_size": shard_size} if shard_size else {}
    model.save_pretrained(path, safe_serialization=True, **kwargs)
    if tokenizer:
        tiny_tokenizer(vocab_size).save_pretrained(path)
    return path
