"""Run profiles: one place that turns PROFILE = "smoke" | "cpu" | "gpu" into budgets.

Every notebook's parameters cell sets PROFILE and nothing else; the notebook then calls
``budget = profile_budget("NN_name", PROFILE)`` and reads its numbers from the returned dict.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from . import REPO_ROOT

PROFILES = ("smoke", "cpu", "gpu")
PROFILE_HELP = {
    "smoke": "CI: seconds to a minute or two a notebook; proves the pipeline runs and results are sane",
    "cpu": "a laptop: real results in minutes to tens of minutes; reuses committed checkpoints",
    "gpu": "full scale: millions of steps, GPT-2 Medium, one CUDA GPU",
}

# Budgets per notebook and profile. Keys are the notebook stem (e.g. "00_setup_and_tour").
BUDGETS: dict[str, dict[str, dict[str, Any]]] = {
    "00_setup_and_tour": {
        "smoke": {"video_steps": 30, "speed_seconds": 0.5, "render_size": (160, 120)},
        "cpu": {"video_steps": 150, "speed_seconds": 3.0, "render_size": (320, 240)},
        "gpu": {"video_steps": 300, "speed_seconds": 5.0, "render_size": (480, 360)},
    },
}


class UnknownProfileError(ValueError):
    """Raised for a PROFILE that is not one of PROFILES."""


def check_profile(profile: str) -> str:
    """Return ``profile`` if valid, else raise an error naming the valid profiles."""
    if profile not in PROFILES:
        valid = ", ".join(f"{p!r} ({PROFILE_HELP[p]})" for p in PROFILES)
        raise UnknownProfileError(f"unknown PROFILE {profile!r}; valid profiles are: {valid}")
    return profile


def profile_budget(notebook: str, profile: str) -> dict[str, Any]:
    """The budget dict of ``notebook`` under ``profile`` (validated)."""
    check_profile(profile)
    if notebook not in BUDGETS:
        raise KeyError(f"no budgets for notebook {notebook!r}; known: {sorted(BUDGETS)}")
    return dict(BUDGETS[notebook][profile])


def results_path(notebook: str, profile: str, root: Path | None = None) -> Path:
    """``results/NN_name.<profile>.json`` under the repo root (or ``root``)."""
    check_profile(profile)
    root = Path(root) if root is not None else Path(os.environ.get("COURSE_RESULTS_ROOT", REPO_ROOT))
    return root / "results" / f"{notebook}.{profile}.json"


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on (stored beside every result)."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:  # torch is a hard dependency, but keep this usable without it
        pass
    return info


def write_results(notebook: str, profile: str, results: dict[str, Any], root: Path | None = None) -> Path:
    """Write a notebook's headline numbers atomically to ``results/NN_name.<profile>.json``."""
    path = results_path(notebook, profile, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "notebook": notebook,
        "profile": profile,
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        **results,
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False, default=_json_default) + "\n")
    os.replace(tmp, path)
    return path


def _json_default(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:
        pass
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
