"""Engines benchmark: decode and prefill tokens/s of each local engine and quantization on the embedded model,
and llmopt's overhead against calling the same engine directly with the same prompt, side by side in one run.

    .venv/bin/python bench/engines.py [--repeats 5] [--out bench/results/engines.json]

Target: llmopt overhead <= 5%. Record results in bench/RESULTS.md (machine and date).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from llmopt.models.registry import get_model  # noqa: E402
from llmopt.models.speed import measure_speed, rag_prompt  # noqa: E402

CONFIGS = [
    "llamacpp:smollm2-135m?quant=shipped",  # the shipped Q4_1 file
    "llamacpp:smollm2-135m?quant=q8_0",
    "llamacpp:smollm2-135m?quant=q4_0",
    "default@llamacpp",  # the default: an f16 copy
    "default@hf",  # transformers fp32 (the GGUF dequantized once)
]


def direct_call(llm, prompt: str, max_tokens: int) -> float:
    """The same request straight to the engine, bypassing llmopt."""
    started = time.perf_counter()
    if llm.engine == "llamacpp":
        llm.llama.reset()
        llm.llama.create_completion(prompt, max_tokens=max_tokens, temperature=0.0)
    else:
        import torch

        ids = torch.tensor([llm.tokenize(prompt)])
        with torch.inference_mode():
            llm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens, do_sample=False,
                               pad_token_id=llm.pad_id)
    return time.perf_counter() - started


def llmopt_call(llm, prompt: str, max_tokens: int) -> float:
    started = time.perf_counter()
    if hasattr(llm, "reset_cache"):
        llm.reset_cache()
    llm.generate(prompt, max_tokens=max_tokens)
    return time.perf_counter() - started


def overhead(llm, repeats: int) -> dict:
    """Alternate direct and llmopt calls (A B A B ...) on a RAG-shaped prompt; compare medians pair by pair."""
    prompt = rag_prompt(llm, 512)
    # equal work: force the same number of generated tokens by using a prompt that does not stop early
    tokens = 32
    direct_call(llm, prompt, tokens), llmopt_call(llm, prompt, tokens)
    pairs = [(direct_call(llm, prompt, tokens), llmopt_call(llm, prompt, tokens)) for _ in range(repeats)]
    ratios = [b / a for a, b in pairs]
    return {"direct_median_s": statistics.median(a for a, _ in pairs),
            "llmopt_median_s": statistics.median(b for _, b in pairs),
            "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--out", default="bench/results/engines.json")
    args = parser.parse_args()
    rows = []
    for spec in args.configs.split(","):
        llm = get_model(spec)
        speed = measure_speed(llm, repeats=3)
        row = {"spec": spec, **speed.to_dict(), "overhead": overhead(llm, args.repeats)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
              "cores": __import__("os").cpu_count(), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"{'spec':40} {'prefill t/s':>12} {'decode t/s':>11} {'RAG call s':>11} {'overhead':>9}")
    for r in rows:
        print(f"{r['spec']:40} {r['prefill_tokens_per_s']:12.1f} {r['decode_tokens_per_s']:11.1f} "
              f"{r['rag_latency_s']:11.2f} {r['overhead']['ratio_median']:9.3f}")


if __name__ == "__main__":
    main()
