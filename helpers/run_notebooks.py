"""Execute the course notebooks: jupytext percent script -> notebook -> papermill, in a profile.

    python -m helpers.run_notebooks --profile cpu 00_setup_and_tour 01_ppo_from_scratch
    python -m helpers.run_notebooks --profile smoke            # every notebooks/NN_*.py

Executed notebooks land in ``build/executed/<profile>/NN_name.ipynb`` (ignored by git), ready for
inspection and for the blog export. The kernel runs with ``notebooks/`` as its working directory, as
it does in JupyterLab. One line per notebook says how long it took, and the last line the total.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import REPO_ROOT
from .core.errors import CourseError
from .course.notebooks import execute_notebook, notebook_sources
from .course.profiles import PROFILES, check_profile


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m helpers.run_notebooks", description=__doc__.split("\n")[0])
    p.add_argument("notebooks", nargs="*", help="stems or numbers (default: all)")
    p.add_argument("--profile", default="cpu", help=f"one of {', '.join(PROFILES)}")
    p.add_argument("--timeout", type=int, default=None, help="per-cell limit in seconds")
    args = p.parse_args(argv)
    try:
        check_profile(args.profile)
        sources = notebook_sources(args.notebooks)
    except CourseError as exc:
        p.error(str(exc))
    started = time.time()
    for i, src in enumerate(sources, 1):
        t0 = time.time()
        print(f"[{i}/{len(sources)}] executing {src.name} (profile {args.profile}) ...", flush=True)
        out = execute_notebook(src, args.profile, timeout=args.timeout)
        print(f"  -> {out.relative_to(REPO_ROOT)} in {time.time() - t0:.0f} s", flush=True)
    print(f"{len(sources)} notebooks in {(time.time() - started) / 60:.1f} min (profile {args.profile})", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
