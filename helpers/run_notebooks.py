"""Execute the course notebooks: jupytext percent script -> notebook -> papermill, in a profile.

    python -m helpers.run_notebooks --profile cpu 00_setup_and_tour 01_ppo_from_scratch
    python -m helpers.run_notebooks --profile smoke            # every notebooks/NN_*.py

Executed notebooks land in ``build/executed/<profile>/NN_name.ipynb`` (ignored by git), ready for
inspection and for the blog export. The kernel runs with ``notebooks/`` as its working directory, as
it does in JupyterLab.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import REPO_ROOT
from .profiles import PROFILES, check_profile

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
            raise SystemExit(f"no notebook {name!r}; known: {', '.join(p.stem for p in found)}")
        out += match
    return out


def execute_notebook(source: Path, profile: str, out_dir: Path | None = None, *, timeout: int | None = None,
                     kernel: str = "python3", extra_parameters: dict | None = None) -> Path:
    """Run one percent script with papermill; returns the executed .ipynb path.

    ``timeout`` bounds each cell (seconds). Raises papermill's PapermillExecutionError on failure,
    after saving the partially executed notebook.
    """
    import jupytext
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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m helpers.run_notebooks", description=__doc__.split("\n")[0])
    p.add_argument("notebooks", nargs="*", help="stems or numbers (default: all)")
    p.add_argument("--profile", default="cpu", help=f"one of {', '.join(PROFILES)}")
    p.add_argument("--timeout", type=int, default=None, help="per-cell limit in seconds")
    args = p.parse_args(argv)
    try:
        check_profile(args.profile)
    except ValueError as exc:
        p.error(str(exc))
    for src in notebook_sources(args.notebooks):
        t0 = time.time()
        print(f"executing {src.name} (profile {args.profile}) ...", flush=True)
        out = execute_notebook(src, args.profile, timeout=args.timeout)
        print(f"  -> {out.relative_to(REPO_ROOT)} in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
