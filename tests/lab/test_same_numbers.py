"""The lab and `llmopt eval` report the same numbers for the same answers: both score answers with llmopt.metrics
and take intervals from llmopt.stats.bootstrap_ci.

The lab's ask stage runs for real, with a scripted Asker standing in for the model and the index; eval's own
runner (answer_item) and summary (summarize_config) then score the very same answers, and the two must agree to
the last digit: Acc, its 95% CI, token F1, n."""

import llmopt.eval.runner as eval_runner
import llmopt.eval.summary as eval_summary
import llmopt.metrics as metrics
import llmopt.stats as stats
from llmopt.eval.datasets import QAItem
from llmopt.eval.grid import GridPoint
from llmopt.lab.registry import LabContext
from llmopt.lab.stages import ask as ask_stage
from llmopt.rag.types import Answer, AnswerUsage
from llmopt.report import percent

QUESTIONS = [
    {"id": "q1", "question": "Who runs the Lyon site?", "answer": "Ada Berg"},
    {"id": "q2", "question": "Which drone flies longest?", "answer": "Tern-3"},
    {"id": "q3", "question": "What does the Nova-4 cost?", "answer": "EUR 12,400"},
    {"id": "q4", "question": "Where is the head office?", "answer": "Gdansk"},
    {"id": "q5", "question": "Who is the CFO?", "answer": "Mira Okafor"},
    {"id": "q6", "question": "When did Porto open?", "answer": "2011"},
    {"id": "q7", "question": "How long does the Tern-3 fly?", "answer": "55 minutes"},
]
ANSWERS = {  # verbose but right, partly right, wrong, and curly quotes (SQuAD keeps them: not a match)
    "q1": "It is run by Ada Berg.", "q2": "the Tern-3", "q3": "12,400 euros", "q4": "Lisbon",
    "q5": "\u201cMira Okafor\u201d", "q6": "It opened in 2011", "q7": "about 50 minutes",
}
NO_RETRIEVAL = {**ANSWERS, "q1": "I do not know"}  # the model alone does worse


class ScriptedAsker:
    """Answers from the tables above, with a fixed usage; `config` is what the stage or the runner passes."""

    def __init__(self, config):
        self.strategy = config["strategy"] if isinstance(config, dict) else config.strategy

    def ask(self, question, *, question_id=None, filters=None):
        text = (NO_RETRIEVAL if self.strategy == "none" else ANSWERS)[question_id]
        usage = AnswerUsage(prompt_tokens=100, completion_tokens=5, latency_s=0.5, cost_usd=1e-5, calls=1,
                            effective_context_tokens=100)
        return Answer(text, [], self.strategy, {}, usage, model="scripted", question=question)


class ConfigAsIs:
    @staticmethod
    def make(**values):
        return values


def run_ask_stage(tmp_path, monkeypatch):
    import llmopt.rag.api
    import llmopt.rag.config

    monkeypatch.setattr(ask_stage, "demo_set", lambda ctx: (QUESTIONS, tmp_path / "demos.jsonl", "index"))
    monkeypatch.setattr(llmopt.rag.api, "Asker", ScriptedAsker)
    monkeypatch.setattr(llmopt.rag.config, "AskConfig", ConfigAsIs)
    return ask_stage.run(LabContext(out_dir=tmp_path / "lab", quick=True, model="scripted"))


def eval_summary_of(strategy: str):
    point = GridPoint(model="scripted", prompt="basic", strategy=strategy, k=2, m=0, n=1)
    asker = ScriptedAsker({"strategy": strategy})
    records = [eval_runner.answer_item(asker, point, QAItem(q["id"], q["question"], [q["answer"]]), None)
               for q in QUESTIONS]
    return eval_summary.summarize_config(point, records, len(records))


def test_the_lab_and_eval_report_the_same_acc_ci_and_f1(tmp_path, monkeypatch):
    result = run_ask_stage(tmp_path, monkeypatch)
    table = result.tables[0]
    assert [r.rung for r in result.ladder] == ["baseline prompt", "RAG", "DRAG", "IterDRAG"]
    for row, table_row in zip(result.ladder, table.rows):
        summary = eval_summary_of(row.config.split()[0])
        assert row.metric == "acc" and row.n == summary.count == len(QUESTIONS)
        assert row.value == summary.acc
        assert [row.ci_low, row.ci_high] == summary.acc_ci
        assert result.metrics[table_row[0]]["token F1"] == summary.f1  # report.json: the number itself
        assert table_row[table.columns.index("token F1")] == percent(summary.f1)  # the table: written for people
        assert table_row[table.columns.index("accuracy (95% CI)")] == percent(summary.acc, summary.acc_ci)
        assert row.ci_low < row.value < row.ci_high  # a real interval, not a degenerate one
    # the answers above were chosen so that a different normalizer or interval would show
    rag = next(r for r in result.ladder if r.rung == "RAG")
    assert rag.value == 3 / 7  # q1, q2, q6: a curly-quoted answer is not an exact string match under SQuAD


def test_every_rung_scores_with_the_same_functions():
    from llmopt.lab.stages import ask

    assert eval_runner.score_answer is metrics.score_answer
    assert eval_summary.bootstrap_ci is stats.bootstrap_ci
    assert metrics.bootstrap_ci is stats.bootstrap_ci  # the lab's and training's Score intervals
    assert ask.accuracy is metrics.accuracy and ask.f1 is metrics.f1 and ask.score is metrics.score
