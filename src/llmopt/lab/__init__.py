"""`llmopt lab`, the main job: a registry of stages, each measuring one rung of the ladder, and one report."""

from .registry import LabContext, Stage, StageResult, get_stage, stage, stages

__all__ = ["LabContext", "Stage", "StageResult", "get_stage", "stage", "stages"]
