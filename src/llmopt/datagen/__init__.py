"""Label-free question generation: a question set written from your documents by a generator model, kept only
where it passes automatic filters, split into disjoint eval / demonstration / training pools.

    from llmopt.datagen import generate_questions
    result = generate_questions(["docs/"], model="openai:MODEL@URL", out="qa/generated", count=40)
    result.files["eval"]            # generic JSONL: llmopt.eval.datasets.load_dataset reads it as it is

candidates.py picks the chunks (and the entity-linked pairs for multi-hop questions), prompts.py asks, filters.py
judges (pure functions), pools.py splits and writes, generate.py runs it all, resumably.
"""

from .config import GenerateConfig
from .generate import GeneratedSet, generate_questions

__all__ = ["GenerateConfig", "GeneratedSet", "generate_questions"]
