"""Shared code for the course notebooks: skills, experts, datasets, models and command-line tools.

Everything a notebook needs twice lives here; the notebooks hold the narrative and the experiments.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

__all__ = ["REPO_ROOT"]
