"""Executing the course notebooks: jupytext percent script -> notebook -> papermill, in a profile
(``python -m helpers.run_notebooks`` is the command line).

Executed notebooks land in ``build/executed/<profile>/NN_name.ipynb`` (ignored by git), ready for
inspection and for the blog export. The kernel runs with ``notebooks/`` as its working directory, as
it does in JupyterLab.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .. import REPO_ROOT
from ..core.errors import InvalidArgumentError
from .profiles import check_profile

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
EXECUTED_DIR = REPO_ROOT / "build" / "executed"


def notebook_sources(names: list[str] | None = None) -> list[Path]:
    """``notebooks/NN_*.py`` (all, or those whose stem or number matches ``names``)."""
    found = sorted(p for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
    if not names:
        return found
    out = []
    for name in names:
        stem = Path(name).stem
        match = [p for p in found if p.stem == stem or p.stem.split("_", 1)[0] == stem]
        if not match:
            raise InvalidArgumentError(f"no notebook {name!r}; known: {', '.join(p.stem for p in found)}")
        out += match
    return out


def execute_notebook(source: Path, profile: str, out_dir: Path | None = None, *, timeout: int | None = None,
                     kernel: str = "python3", extra_parameters: dict | None = None) -> Path:
    """Run one percent script with papermill; returns the executed .ipynb path.

    ``timeout`` bounds each cell (seconds). Raises papermill's PapermillExecutionError on failure,
    after saving the partially executed notebook.
    """
    import jupytext  # heavy (nbformat, papermill's kernel machinery): only when a notebook runs
    import papermill as pm

    check_profile(profile)
    source = Path(source)
    out_dir = Path(out_dir) if out_dir else EXECUTED_DIR / profile
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3", "language": "python"}
    unexecuted = out_dir / f"{source.stem}.input.ipynb"
    jupytext.write(nb, unexecuted, fmt="ipynb")
    executed = out_dir / f"{source.stem}.ipynb"
    try:
        pm.execute_notebook(
            str(unexecuted), str(executed), parameters={"PROFILE": profile, **(extra_parameters or {})},
            kernel_name=kernel, cwd=str(source.parent), execution_timeout=timeout, progress_bar=False,
            log_output=False,
        )
    finally:
        unexecuted.unlink(missing_ok=True)
    return executed


def repository_copy(dest: Path) -> Path:
    """The repository's files (tracked, and untracked ones git does not ignore) copied into ``dest``:
    a checkout of its own in which a gpu dry run may write runs/, datasets/ and results/ without
    touching this one's (all paths are relative to ``helpers.REPO_ROOT``)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    dest = Path(dest)
    for name in filter(None, listed):
        src = REPO_ROOT / name
        if src.is_file():  # a tracked file deleted in the work tree is skipped
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest
