"""Fine-tuning: full or LoRA, plain or retrieval-augmented, with data-quality checks and before/after evaluation.

    from llmopt.train.finetune import finetune
    result = finetune({"model": "default", "data": "train.jsonl", "method": "lora", "max_steps": 100, "out": "ft"})
    result.summary()  # out, steps, train_tokens, tokens_per_s, eval_loss_before, eval_loss_after, ...

Layout: config.py (options) · data.py (JSONL rows) · quality.py (dedup, eval overlap) · template.py (chat
template, loss mask) · packing.py + attention.py (padding-free batches) · loss.py (chunked cross-entropy) ·
modelio.py (load, LoRA, save) · trainer.py (the loop) · checkpoint.py · evaluate.py · rag.py · api.py.
"""

from ...lazy import lazy_exports

# resolved lazily: the CLI imports the config (for its flags) without paying for torch at every `llmopt` call
_LAZY = {
    "FinetuneResult": ".api:FinetuneResult",
    "finetune": ".api:finetune",
    "FinetuneConfig": ".config:FinetuneConfig",
    "TrainSettings": ".config:TrainSettings",
    "load_config": ".config:load_config",
}
__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
