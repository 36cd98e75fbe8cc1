"""Engine quality: does an engine or quantization change the embedded model's answers? Reading-comprehension
F1 on the committed HotpotQA subset (bench/qa_hotpotqa_ids.json, 50 questions) with the two gold paragraphs in
the prompt, greedy, for each local engine/quantization of the embedded SmolLM2-135M, plus how often each
engine's answer is identical to the fp32 transformers reference (the pack's weights, dequantized once).

    .venv/bin/python bench/engine_quality.py [--limit 50] [--out bench/results/engine_quality.json]

Needs ../shared/data/multihop. Read together with bench/engines.py (speed) in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from llmopt.eval.metrics import f1  # noqa: E402
from llmopt.models.registry import get_model  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "multihop" / "hotpotqa_dev_distractor_200.jsonl"
CONFIGS = ["default@hf", "llamacpp:smollm2-135m?quant=shipped", "llamacpp:smollm2-135m?quant=q8_0",
           "llamacpp:smollm2-135m?quant=q4_0", "default@llamacpp"]


def prompts(limit: int) -> list[tuple[str, list[dict]]]:
    ids = json.loads((ROOT / "bench" / "qa_hotpotqa_ids.json").read_text())["ids"][:limit]
    rows = {r["_id"]: r for r in map(json.loads, DATA.read_text().splitlines())}
    out = []
    for qid in ids:
        row = rows[qid]
        gold = {title for title, _ in row["supporting_facts"]}
        context = "\n\n".join(f"{title}: {''.join(sentences)}" for title, sentences in row["context"] if title in gold)
        content = (f"Answer the question using the passages. Reply with the answer only, a few words.\n\n{context}\n\n"
                   f"Question: {row['question']}")
        out.append((row["answer"], [{"role": "user", "content": content}]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "engine_quality.json"))
    args = parser.parse_args()
    items = prompts(args.limit)
    answers: dict[str, list[str]] = {}
    rows = []
    for spec in args.configs.split(","):
        llm = get_model(spec)
        started = time.perf_counter()
        answers[spec] = [llm.chat(messages, max_tokens=24).text.strip() for _, messages in items]
        seconds = time.perf_counter() - started
        scores = [f1(answer, gold) for answer, (gold, _) in zip(answers[spec], items)]
        reference = answers[CONFIGS[0]] if CONFIGS[0] in answers else None
        same = (sum(a == b for a, b in zip(answers[spec], reference)) / len(items)) if reference else None
        rows.append({"spec": spec, "model": llm.model_id, "f1": sum(scores) / len(scores), "n": len(items),
                     "same_as_fp32": same, "seconds": seconds})
        print(json.dumps(rows[-1]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "rows": rows, "answers": answers},
                                         indent=1))
    print(f"{'spec':40} {'F1':>6} {'same as fp32':>13} {'seconds':>8}")
    for r in rows:
        same = f"{r['same_as_fp32']:.2f}" if r["same_as_fp32"] is not None else "-"
        print(f"{r['spec']:40} {r['f1']:6.3f} {same:>13} {r['seconds']:8.1f}")


if __name__ == "__main__":
    main()
