"""The budgeted search over RAG configurations: successive halving over Optuna-proposed configurations, every
answer kept and reused, and the choice on the Pareto front of quality against cost and latency.

    from llmopt.optimize import Space, run_search, QAEvaluator, Budget
    space = Space.from_axes(models=["default"], prompts=["basic"], strategies=["none", "rag", "drag"],
                            k=[1, 3, 5], m=[0, 2], n=[1])
    outcome = run_search(space, splits.eval, QAEvaluator(cfg, dataset, splits, out / "results.jsonl"),
                         storage=f"sqlite:///{out}/search.db", budget=Budget(minutes=20))
"""

from .evaluator import BudgetSpent, CachedEvaluator, QAEvaluator, Tally
from .halving import promote, rungs
from .pareto import Candidate, Choice, Limits, choose, front
from .space import Space
from .study import Budget, SearchOutcome, TrialRecord, run_search

__all__ = ["Budget", "BudgetSpent", "CachedEvaluator", "Candidate", "Choice", "Limits", "QAEvaluator",
           "SearchOutcome", "Space", "Tally", "TrialRecord", "choose", "front", "promote", "rungs", "run_search"]
