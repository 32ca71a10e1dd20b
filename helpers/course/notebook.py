"""What every notebook does around its experiments, in one place: setup, showing code, saving results.

    >>> lesson = setup("03_policy_switching", PROFILE)        # rendering, threads, budget, folders
    >>> lesson.budget["seeds"], lesson.out_dir                 # the profile's numbers, artifacts/03_.../cpu/
    >>> lesson.results["overall"] = {...}
    >>> lesson.figure(fig, "switch_costs.png"); lesson.show_video(path)
    >>> lesson.save()                                          # results/03_policy_switching.cpu.json

``setup`` is, with the command-line tools, the only place that sets torch threads: notebooks run
small networks one step at a time, where one thread is fastest and leaves the other core to the
simulator or to parallel workers.
"""

from __future__ import annotations

import inspect
import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import media
from .profiles import check_profile, profile_budget, write_results


@dataclass
class Lesson:
    """One notebook run: its name, profile, budget, artifact folder and the results it will save."""

    notebook: str
    profile: str
    budget: dict[str, Any]
    out_dir: Path
    results: dict[str, Any] = field(default_factory=dict)

    def figure(self, fig, name: str) -> Path:
        """Save a matplotlib figure as ``artifacts/<notebook>/<profile>/<name>`` (it still shows inline)."""
        return media.save_figure(fig, self.out_dir / name)

    def video(self, frames, name: str, fps: float) -> Path:
        return media.save_video(self.out_dir / name, frames, fps=fps)

    def show_video(self, path: Path, width: int = 320):
        return media.show_video(path, width=width)

    def save(self) -> Path:
        """Write ``results/<notebook>.<profile>.json`` (atomically) and say where."""
        path = write_results(self.notebook, self.profile, self.results)
        print(f"wrote {path}")
        return path


def setup(notebook: str, profile: str, threads: int = 1) -> Lesson:
    """Check the profile, set headless rendering (before MuJoCo is imported) and torch threads, and
    return the notebook's :class:`Lesson`, its ``results`` already holding the budget."""
    check_profile(profile)
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    import torch

    torch.set_num_threads(threads)
    budget = profile_budget(notebook, profile)
    return Lesson(notebook, profile, budget, media.artifact_dir(notebook, profile), {"budget": budget})


def show_code(obj, start: str | None = None, end: str | None = None):
    """Show the source of a function or method, optionally from the line containing ``start`` to the
    line containing ``end`` (or to its last line), so a notebook always shows the code that runs, not a
    copy of it."""
    from IPython.display import Markdown, display

    lines = inspect.getsource(obj).splitlines()
    if start is not None:
        first = next(i for i, line in enumerate(lines) if start in line)
        last = len(lines) - 1 if end is None else next(i for i, line in enumerate(lines) if i >= first and end in line)
        lines = lines[first:last + 1]
    display(Markdown("```python\n" + textwrap.dedent("\n".join(lines)) + "\n```"))
