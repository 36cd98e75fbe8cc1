"""Demo fine-tuning tasks for the lab (finetune, distill and merge stages), written deterministically, with
disjoint train and eval splits and a task metric each:

- `reading`: answer a question from three short documents with the exact words (token F1 / exact match).
  Sites, people and products are drawn from fixed lists with a seeded RNG; eval entities never occur in training.
- `sql`: text-to-SQL on the demo databases (`llmopt demo-data --only sql`): train on the bookshop questions,
  evaluate on the university ones (execution accuracy, from llmopt.sql).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from ...metrics import Score, answer_scores, score
from ...paths import atomic_write_text

CITIES = ["Lyon", "Turin", "Gent", "Brno", "Graz", "Malmo", "Bergen", "Aarhus", "Cork", "Bilbao", "Split", "Krakow",
          "Leipzig", "Utrecht", "Basel", "Tampere", "Kaunas", "Riga", "Nantes", "Seville", "Porto", "Bremen", "Pilsen",
          "Linz", "Varna", "Cluj", "Lodz", "Espoo", "Odense", "Namur"]
FIRST = ["Ada", "Bruno", "Clara", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Keiko", "Luca",
         "Maya", "Nils", "Olga", "Pablo", "Rosa", "Sven", "Tara", "Umar"]
LAST = ["Almeida", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ivanova", "Jensen",
        "Kowalski", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Schmidt", "Tanaka"]
STEMS = ["Aero", "Terra", "Falcon", "Orbit", "Vista", "Nova", "Pulse", "Ridge", "Cirrus", "Delta", "Echo", "Flux"]
READING_PROMPT = "Documents:\n{documents}\n\nQuestion: {question}\nAnswer with the exact words from the documents, nothing else."
SQL_PROMPT = "Schema:\n{schema}\n\nQuestion: {question}\nWrite one SQLite query and nothing else."


@dataclass
class Task:
    name: str
    train: Path
    eval: Path
    metric: str  # the task metric the lab reports: "f1", "em" or "execution_accuracy"
    max_tokens: int = 32  # answer length that fits every gold answer of the task

    def eval_rows(self) -> list[dict]:
        return [json.loads(line) for line in self.eval.read_text().splitlines() if line.strip()]

    def score(self, predictions: list[str], rows: list[dict]) -> Score:
        if self.metric == "execution_accuracy":
            return execution_accuracy(predictions, rows)
        metric = self.metric if self.metric in ("em", "f1") else "f1"
        return answer_scores(predictions, [[r["answer"]] for r in rows], (metric,))[metric]


def _sites(rng: random.Random, cities: list[str]) -> list[tuple]:
    names = rng.sample([f"{f} {l}" for f in FIRST for l in LAST], len(cities))
    return [(c, n, rng.randint(1995, 2023), rng.randrange(100, 5000, 50)) for c, n in zip(cities, names)]


def _products(rng: random.Random, stems: list[str]) -> list[tuple]:
    return [(f"{s}-{rng.randint(2, 9)}", rng.randrange(1000, 30000, 100), rng.randint(10, 90)) for s in stems]


def _facts(sites: list[tuple], products: list[tuple]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(sentence, [(question, answer), ...]) per entity."""
    facts = []
    for city, name, year, cap in sites:
        facts.append((f"The {city} site is run by {name}; it opened in {year} and assembles {cap:,} units a month.",
                      [(f"Who runs the {city} site?", name), (f"In which year did the {city} site open?", str(year)),
                       (f"How many units a month does the {city} site assemble?", f"{cap:,}")]))
    for product, price, minutes in products:
        facts.append((f"The {product} sells for EUR {price:,} and flies for {minutes} minutes.",
                      [(f"What does the {product} cost?", f"EUR {price:,}"),
                       (f"How long does the {product} fly?", f"{minutes} minutes")]))
    return facts


def reading_rows(seed: int, cities: list[str], stems: list[str], n: int) -> list[dict]:
    rng = random.Random(seed)
    facts = _facts(_sites(rng, cities), _products(rng, stems))
    rows = []
    for _ in range(n):
        sentence, pairs = rng.choice(facts)
        question, answer = rng.choice(pairs)
        others = rng.sample([f[0] for f in facts if f[0] != sentence], 2)
        documents = [sentence] + others
        rng.shuffle(documents)
        text = "\n".join(f"[{i}] {d}" for i, d in enumerate(documents, 1))
        rows.append({"prompt": READING_PROMPT.format(documents=text, question=question), "completion": answer,
                     "answer": answer})
    return rows


def _write(path: Path, rows: list[dict]) -> Path:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def reading_task(out: Path, quick: bool = False) -> Task:
    """Train and eval sites/products are disjoint halves of the lists (no eval entity is ever trained on)."""
    train = reading_rows(0, CITIES[:20], STEMS[:8], 24 if quick else 320)
    evaluation = reading_rows(1, CITIES[20:], STEMS[8:], 4 if quick else 40)
    return Task("reading", _write(out / "reading" / "train.jsonl", _dedup(train)),
                _write(out / "reading" / "eval.jsonl", _dedup(evaluation)), "f1", max_tokens=16)


def _dedup(rows: list[dict]) -> list[dict]:
    seen, out = set(), []
    for row in rows:
        if row["prompt"] not in seen:
            seen.add(row["prompt"])
            out.append(row)
    return out


def sql_task(out: Path, quick: bool = False) -> Task:
    from ...demo import write_demo_data
    from ...demo.sql import BOOKSHOP_SCHEMA, UNIVERSITY_SCHEMA

    write_demo_data(out, ["sql"])
    questions = json.loads((out / "sql" / "dev.json").read_text())
    schemas = {"bookshop": BOOKSHOP_SCHEMA.strip(), "university": UNIVERSITY_SCHEMA.strip()}

    def row(q: dict) -> dict:
        db = out / "sql" / "database" / q["db_id"] / f"{q['db_id']}.sqlite"
        return {"prompt": SQL_PROMPT.format(schema=schemas[q["db_id"]], question=q["question"]),
                "completion": q["query"], "answer": q["query"], "db": str(db)}

    train = [row(q) for q in questions if q["db_id"] == "bookshop"]
    evaluation = [row(q) for q in questions if q["db_id"] == "university"][: 4 if quick else None]
    return Task("sql", _write(out / "sql-task" / "train.jsonl", train), _write(out / "sql-task" / "eval.jsonl", evaluation),
                "execution_accuracy", max_tokens=64)


def extract_sql(text: str) -> str:
    """The first statement of an answer, without code fences or a trailing explanation."""
    fenced = re.search(r"```(?:sql)?\s*(.*?)```", text, re.S | re.I)
    body = fenced.group(1) if fenced else text
    return body.strip().split(";")[0].strip()


def execution_accuracy(predictions: list[str], rows: list[dict]) -> Score:
    from ...sql.evaluate import execution_match
    from ...sql.safe import SafeDatabase

    values = []
    for prediction, row in zip(predictions, rows):
        with SafeDatabase(row["db"]) as db:
            values.append(float(execution_match(db, row["answer"], extract_sql(prediction)).match))
    result = score("execution_accuracy", values)
    return result


def corpus_questions() -> list[dict]:
    """Questions over the demo corpus's facts (llmopt.demo.corpus) for retrieval-augmented fine-tuning; the lab's
    own demo questions are removed later by the eval-overlap check."""
    from ...demo.corpus import content as C

    pairs = []
    for city, product, manager, opened, capacity in C.PLANTS:
        pairs += [(f"Who manages the {city} plant?", manager), (f"Which product does the {city} plant build?", product),
                  (f"In which year did the {city} plant open?", str(opened)),
                  (f"How many units a month can the {city} plant build?", f"{capacity:,}")]
    for product, life, payload, price in C.SPECS:
        pairs.append((f"How much does the {product} cost?", price))
    for product, (y2023, y2024) in C.REVENUE.items():
        pairs += [(f"What was the {product} revenue in 2023?", f"EUR {y2023} million"),
                  (f"What was the {product} revenue in 2024?", f"EUR {y2024} million")]
    chart_questions = {
        "chart_units_2024": "How many units did {company} ship to {label} in 2024?",
        "chart_units_2023": "How many units did {company} ship to {label} in 2023?",
        "chart_battery": "How many charge cycles does the {label} battery last?",
        "chart_csat": "What was customer satisfaction in {label} 2024?",
        "chart_headcount": "How many research and development staff work at the {label} site?"}
    for stem, _, _, labels, values, unit in C.CHARTS:
        for label, value in zip(labels, values):
            if stem in chart_questions:
                pairs.append((chart_questions[stem].format(company=C.COMPANY, label=label), f"{value:,}"))
    pairs += [(f"Who is the {role.replace('_', ' ')} of {C.COMPANY}?", name) for role, name in C.PEOPLE.items()]
    return [{"prompt": q, "completion": a, "answer": a} for q, a in pairs]


def rag_task(out: Path, lab_questions: list[dict]) -> Task:
    """Train on corpus questions, evaluate on the lab's demo questions (inside the RAG pipeline)."""
    evaluation = [{"prompt": q["question"], "completion": q["answer"], "answer": q["answer"], "id": q["id"]}
                  for q in lab_questions]
    return Task("rag", _write(out / "rag" / "train.jsonl", corpus_questions()),
                _write(out / "rag" / "eval.jsonl", evaluation), "f1")


@dataclass
class TaskEval:
    """A model's answers to a task's eval questions, scored, with what they cost."""

    spec: str
    score: Score
    latency_s: float  # engine seconds per question (a batched call's time is shared by its questions)
    cost_usd: float  # per question
    predictions: list[str]


def evaluate_model(spec: str, task: Task, *, max_tokens: int | None = None, batch_size: int = 8) -> TaskEval:
    """Greedy answers through llmopt's backends (the chat template, the run log, the price table)."""
    from ...models.registry import get_model
    from ..distill.teacher import answer_batch

    rows = task.eval_rows()
    llm = get_model(spec, cache=False)
    try:
        gens = []
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            gens += answer_batch(llm, [[{"role": "user", "content": r["prompt"]}] for r in chunk],
                                 max_tokens or task.max_tokens)
    finally:
        llm.close()
    predictions = [g.text.strip() for g in gens]
    n = max(1, len(gens))
    return TaskEval(spec, task.score(predictions, rows), sum(g.compute_s or g.latency_s for g in gens) / n,
                    sum(g.cost_usd for g in gens) / n, predictions)


def build_tasks(out: Path, names: tuple[str, ...] = ("reading", "sql"), quick: bool = False) -> dict[str, Task]:
    makers = {"reading": reading_task, "sql": sql_task}
    return {name: makers[name](Path(out), quick) for name in names}
