"""Lab stage `models`: the local models that resolve here, with measured prefill/decode speed and cost per 1k
tokens. Quick mode measures the default model on its default engine with a short prompt."""

from __future__ import annotations

from ...models.packs import DEFAULT_PACK, PACKS, available
from ...models.registry import get_model, list_models
from ...models.speed import measure_speed
from ...report import bar_chart, seconds
from ...report.format import significant
from ..registry import LabContext, StageResult, Table, stage


def _specs(ctx: LabContext) -> list[str]:
    if ctx.quick:
        return [ctx.model]
    specs = [i.spec for i in list_models() if i.spec.startswith("default")]
    specs.append(f"llamacpp:{DEFAULT_PACK}?quant=q8_0")
    specs += [f"{p.name}@llamacpp" for p in PACKS.values() if p.name != DEFAULT_PACK and available(p)]
    return specs


@stage("models", order=10, budget_s=600,
       description="local models that resolve here: measured prefill/decode speed and cost per 1k tokens")
def run(ctx: LabContext) -> StageResult:
    rows, speeds = [], []
    specs = _specs(ctx)
    for done, spec in enumerate(specs):
        ctx.progress(f"models: {spec}", done, len(specs))
        llm = get_model(spec)
        speed = measure_speed(llm, prompt_tokens=256 if ctx.quick else 1024, decode_tokens=16 if ctx.quick else 64,
                              repeats=1 if ctx.quick else 3)
        speeds.append((spec, speed))
        rows.append([spec, llm.model_id, speed.prompt_tokens, round(speed.prefill_tokens_per_s, 1),
                     round(speed.decode_tokens_per_s, 1), seconds(speed.rag_latency_s),
                     _per_million(speed.usd_per_1k_prompt_tokens), _per_million(speed.usd_per_1k_completion_tokens)])
    ctx.progress("models", len(specs), len(specs))
    plot = bar_chart(ctx.path("plots", "models_speed.png"), [s for s, _ in speeds],
                     {"prefill tok/s": [sp.prefill_tokens_per_s for _, sp in speeds],
                      "decode tok/s": [sp.decode_tokens_per_s for _, sp in speeds]},
                     "Local engines on this machine", "tokens / second")
    fastest = min(speeds, key=lambda s: s[1].rag_latency_s)
    summary = (f"{len(speeds)} local model configuration(s) measured. Fastest for a RAG-shaped call "
               f"({fastest[1].prompt_tokens}-token prompt, 16-token answer): {fastest[0]} at "
               f"{seconds(fastest[1].rag_latency_s)}. Local cost = engine-busy seconds x the CPU-hour rate in "
               "prices.yaml.")
    table = Table(["spec", "model id", "prompt tokens", "prefill tok/s", "decode tok/s", "RAG call",
                   "$ per 1M prompt tokens", "$ per 1M completion tokens"], rows)
    return StageResult(summary, [table], [("Prefill and decode speed", plot)],
                       metrics={s: sp.to_dict() for s, sp in speeds})


def _per_million(usd_per_1k_tokens: float | None) -> str:
    return "–" if usd_per_1k_tokens is None else f"${significant(1000 * usd_per_1k_tokens)}"
