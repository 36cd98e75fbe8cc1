"""Evaluation: QA datasets and splits, metrics with confidence intervals, resumable sweeps over models, prompts,
strategies and budgets, the computation allocation model, and reports.

    from llmopt.eval import evaluate, allocate_from
    summary = evaluate(dataset="hotpot.jsonl", out="runs/hotpot", strategies=["rag", "drag"], k=[1, 5])
    summary.best_config.label, summary.to_json()       # a typed EvalSummary; its JSON is summary.json
    choice = allocate_from(["runs/hotpot"], budget=4000)
"""

from .api import allocate_from
from .datasets import QADataset, QAItem, load_dataset
from .grid import GridPoint, SweepConfig
from .metrics import accuracy, exact_match, f1, normalize_answer, recall_at_k
from .results import ConfigSummary, EvalRecord, EvalSummary
from .runner import evaluate
from .splits import Splits, make_splits

__all__ = ["ConfigSummary", "EvalRecord", "EvalSummary", "GridPoint", "QADataset", "QAItem", "Splits", "SweepConfig",
           "accuracy", "allocate_from", "evaluate", "exact_match", "f1", "load_dataset", "make_splits",
           "normalize_answer", "recall_at_k"]
