"""Lab stage `ask`: the demo questions under each answering strategy — the model alone, RAG, a step-by-step
prompt, DRAG, IterDRAG and self-consistency — with accuracy, token F1, effective context, latency and cost per
question.

The questions, their gold answers and the demonstration pool are the demo QA set (`llmopt demo-data DIR --only
qa`), written from the demo corpus's own facts. The index is the ingest stage's (ctx.shared["index"]) when it
ran; otherwise this stage ingests the corpus itself (quick mode: only the three text documents its quick
questions need).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ...metrics import Score, accuracy, f1, score
from ...paths import atomic_write_text
from ...report import percent, scatter, seconds, tokens, usd_per_1k
from ..registry import LabContext, LadderRow, StageResult, Table, stage


@dataclass(frozen=True)
class Setting:
    rung: str
    settings: dict

    @property
    def label(self) -> str:
        s = self.settings
        parts = [s["strategy"]] + [f"{key}={s[key]}" for key in ("k", "m", "n", "samples") if key in s]
        if s.get("prompt"):
            parts.append(f"prompt={s['prompt']}")
        return " ".join(parts)


def settings(quick: bool) -> list[Setting]:
    k = 2 if quick else 3
    chosen = [Setting("baseline prompt", {"strategy": "none"}),
              Setting("RAG", {"strategy": "rag", "k": k}),
              Setting("DRAG", {"strategy": "drag", "k": k, "m": 2}),
              Setting("IterDRAG", {"strategy": "iterdrag", "k": k, "m": 2, "n": 2 if quick else 3})]
    if not quick:
        chosen.insert(2, Setting("RAG + step by step", {"strategy": "rag", "k": k, "prompt": "cot",
                                                          "max_tokens": 128}))
        chosen.append(Setting("RAG + self-consistency", {"strategy": "rag", "k": k, "samples": 3}))
    return chosen


QUICK_QUESTIONS = ("q-cfo", "q-gdansk-flight", "q-lead-plant")


def demo_set(ctx: LabContext) -> tuple[list[dict], Path, str]:
    """The questions, the demonstration pool file, and an index over the demo corpus."""
    from ...demo import write_demo_data
    from ...demo.qa import TEXT_DOCUMENTS

    data = ctx.out_dir / "data"
    write_demo_data(data, ["qa"])
    index = ctx.shared.get("index")
    if index is None:
        from ...ingest import ingest

        write_demo_data(data, ["corpus"])
        corpus = data / "corpus"
        paths = [corpus / name for name in TEXT_DOCUMENTS] if ctx.quick else \
            sorted(p for p in corpus.iterdir() if p.suffix != ".json")
        from .ingest import ingest_progress

        index = str(ctx.out_dir / "ask-index")
        ingest(paths, index=index, callback=ingest_progress(ctx, "ask: ingest"))
    questions = [json.loads(line) for line in (data / "qa" / "questions.jsonl").read_text().splitlines() if line]
    if ctx.quick:
        questions = [q for q in questions if q["id"] in QUICK_QUESTIONS]
    return questions, data / "qa" / "demos.jsonl", index


def quality(answers: list, questions: list[dict]) -> tuple[Score, Score, list[bool]]:
    """Acc and token F1 over the questions (llmopt.metrics, the definitions `llmopt eval` uses, with the same
    bootstrap interval), and whether each answer counts as correct."""
    golds = [q["answer"] for q in questions]
    correct = [accuracy(a.answer, gold) for a, gold in zip(answers, golds)]
    token_f1 = [f1(a.answer, gold) for a, gold in zip(answers, golds)]
    return score("acc", correct), score("f1", token_f1), [ok == 1.0 for ok in correct]


@stage("ask", order=30, budget_s=900,
       description="demo questions under each strategy: none, RAG, step-by-step, DRAG, IterDRAG, self-consistency")
def run(ctx: LabContext) -> StageResult:
    from ...rag.api import Asker, close_retrievers
    from ...rag.config import AskConfig
    from ...rag.strategy import strategy_class

    questions, pool, index = demo_set(ctx)
    rows, ladder, points, records = [], [], {}, []
    chosen = settings(ctx.quick)
    for number, setting in enumerate(chosen):
        declared = strategy_class(setting.settings["strategy"])
        extra = {"max_tokens": 16, "step_tokens": 24} if ctx.quick else {"max_tokens": 32}
        config = AskConfig.make(**{**extra, **setting.settings}, model=ctx.model,
                                index=index if declared.uses_retrieval else None,
                                demos=str(pool) if declared.uses_demonstrations else None)
        asker = Asker(config)
        answers = answer_all(ctx, f"ask {number + 1}/{len(chosen)}: {setting.label}", asker, questions,
                             number * len(questions), len(chosen) * len(questions))
        acc, token_f1, correct = quality(answers, questions)
        records += [{"setting": setting.label, "id": q["id"], "gold": q["answer"], "correct": ok, **a.to_dict()}
                    for a, q, ok in zip(answers, questions, correct)]
        rows.append(_row(setting, answers, acc, token_f1))
        mean = lambda key: sum(getattr(a.usage, key) for a in answers) / len(answers)
        ladder.append(LadderRow(setting.rung, f"{setting.label} {ctx.model}", "acc", acc.value, acc.ci_low,
                                acc.ci_high, mean("latency_s"), mean("cost_usd"), acc.n))
        points[setting.label] = ([mean("effective_context_tokens")], [acc.value])
    close_retrievers()
    atomic_write_text(ctx.path("ask", "answers.jsonl"), "".join(json.dumps(r, default=str) + "\n" for r in records))
    plot = scatter(ctx.path("plots", "ask_accuracy_vs_context.png"), points, "Accuracy against effective context",
                   "effective context tokens per question", "accuracy", logx=True, frontier=True)
    table = Table(["setting", "accuracy (95% CI)", "token F1", "effective context", "cached tokens", "calls",
                   "latency", "cost", "parse failures"], [_for_people(row) for row in rows],
                  f"Means per question over {len(questions)} demo questions (accuracy: the gold answer, normalised, "
                  "is the answer or inside it); answers in ask/answers.jsonl.")
    best = max(ladder, key=lambda r: (r.value, -(r.latency_s or 0)))
    summary = (f"{len(questions)} demo questions under {len(ladder)} settings with {ctx.model}. Best: "
               f"{best.config} at accuracy {best.value:.2f}. Effective context counts every input token of every "
               "call (samples, sub-questions, judge calls); cached tokens were served by the prefix cache.")
    return StageResult(summary, [table], [("Accuracy against effective context", plot)], ladder,
                       metrics={r[0]: dict(zip(METRIC_KEYS, r[1:])) for r in rows})


def answer_all(ctx: LabContext, label: str, asker, questions: list[dict], done: int, total: int) -> list:
    """Every question's answer, reporting ctx.progress after each (done/total over the whole stage)."""
    answers = []
    for question in questions:
        ctx.progress(label, done + len(answers), total)
        answers.append(asker.ask(question["question"], question_id=question["id"]))
    ctx.progress(label, done + len(answers), total)
    return answers


METRIC_KEYS = ("accuracy", "95% CI", "token F1", "effective context", "cached tokens", "calls", "latency s", "cost $",
               "parse failures")  # report.json's numbers per setting; the table shows them written for people


def _row(setting: Setting, answers: list, acc: Score, token_f1: Score) -> list:
    n = len(answers)
    mean = lambda key: sum(getattr(a.usage, key) for a in answers) / n
    return [setting.label, acc.value, [acc.ci_low, acc.ci_high], token_f1.value, mean("effective_context_tokens"),
            mean("cached_prompt_tokens"), round(mean("calls"), 1), mean("latency_s"), mean("cost_usd"),
            sum(a.parse_failures for a in answers)]


def _for_people(row: list) -> list:
    label, acc, ci, token_f1, context, cached, calls, latency, cost, failures = row
    return [label, percent(acc, ci), percent(token_f1), tokens(context), tokens(cached), calls, seconds(latency),
            usd_per_1k(cost), failures]
