"""Mixture-of-experts assembly from a mergekit-moe config: each expert model's MLP becomes one expert of every
layer, the base model gives the rest, and the routers point each expert at its prompts.

    from llmopt.train.merge.moe import run_moe
    result = run_moe("moe.yaml", "out/moe")     # or a dict / MoEConfiguration; result.to_dict()
"""

from __future__ import annotations

from .arch import ARCHITECTURES, OutputArchitecture
from .config import Expert, MoEConfiguration, load_moe_config
from .gates import GATE_MODES
from .run import MoEResult, run_moe

__all__ = ["ARCHITECTURES", "Expert", "GATE_MODES", "MoEConfiguration", "MoEResult", "OutputArchitecture",
           "load_moe_config", "run_moe"]
