"""The user's own problem: the project file (llmopt.yaml), its validation, and `llmopt init` discovery."""

from .config import Project
from .load import PROJECT_FILE, load_project

__all__ = ["PROJECT_FILE", "Project", "load_project"]
