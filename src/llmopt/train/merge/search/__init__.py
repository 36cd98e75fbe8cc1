"""Evolutionary merge search (`llmopt merge-search`): CMA-ES over a mergekit recipe's numbers (weights, densities,
t, lambda, ...), every candidate merged and scored on dev splits of one or more tasks, resumable.

    from llmopt.train.merge.search import run_merge_search
    result = run_merge_search("search.yaml", "out/search", save_model=True)
"""

from __future__ import annotations

from .config import MergeSearchConfig, SearchParameter, SearchTask, load_search_config
from .objective import aggregate, task_evaluator
from .run import MergeSearchResult, SearchOutcome, TrialRecord, optimise, run_merge_search
from .space import Dimension, SearchSpace, SearchSpaceError, build_space, get_value, set_value, split_path

__all__ = ["Dimension", "MergeSearchConfig", "MergeSearchResult", "SearchOutcome", "SearchParameter", "SearchSpace",
           "SearchSpaceError", "SearchTask", "TrialRecord", "aggregate", "build_space", "get_value",
           "load_search_config", "optimise", "run_merge_search", "set_value", "split_path", "task_evaluator"]
