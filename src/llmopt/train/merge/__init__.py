"""Model merging with mergekit-compatible configs: plan (headers only), then stream tensor by tensor.

    from llmopt.train.merge import run_merge
    result = run_merge("merge.yaml", "out/merged")      # or a dict / MergeConfiguration
    result = run_merge(config, None, dry_run=True)       # plan only: result.plan
"""

from __future__ import annotations

from .config import MergeConfiguration, load_config
from .methods import get_method, method_names
from .plan import MergePlan, ShapeMismatchError, TensorTask, plan_merge
from .run import MergeError, MergeResult, run_merge

__all__ = ["MergeConfiguration", "MergeError", "MergePlan", "MergeResult", "ShapeMismatchError", "TensorTask",
           "get_method", "load_config", "method_names", "plan_merge", "run_merge"]
