"""Execute the course notebooks: jupytext percent script -> notebook -> papermill, in a profile.

    python -m helpers.run_notebooks --profile cpu 00_setup_and_tour 01_ppo_from_scratch
    python -m helpers.run_notebooks --profile smoke            # every notebooks/NN_*.py
    python -m helpers.run_notebooks --profile gpu --dry-run    # the gpu code paths, smoke-sized, on a CPU

Executed notebooks land in ``build/executed/<profile>/NN_name.ipynb`` (ignored by git), ready for
inspection and for the blog export. The kernel runs with ``notebooks/`` as its working directory, as
it does in JupyterLab. One line per notebook says how long it took, and the last line the total.
Each notebook's wall clock (and the machine's load when it started) is also kept in
``results/notebook_runs.<profile>.json``, with the total of the last run of every notebook in one go:
the run times that ``course/syllabus.md`` and the README cite.

``--dry-run`` (gpu profile only) executes the gpu profile's code paths (training the experts, the
full DT and generalist, GPT-2 Medium or its fallback) with the smoke profile's sizes
(:func:`helpers.course.profiles.dry_run_budget`), in a copy of the repository (``--workdir``, by
default a temporary folder), so that nothing of this checkout's runs, datasets or results changes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import REPO_ROOT
from .core.errors import CourseError
from .course.notebooks import execute_notebook, notebook_sources, repository_copy
from .core.checkpoints import atomic_write_json
from .core.provenance import machine_info
from .course.profiles import GPU_DRY_RUN_ENV, PROFILES, check_profile, results_path


def dry_run(notebooks: list[str], workdir: str | None, timeout: int | None) -> int:
    """The gpu profile, smoke-sized, in a copy of the repository; the copy's exit code."""
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="course-gpu-dry-run-"))
    print(f"gpu dry run in a copy of the repository: {root}", flush=True)
    repository_copy(root)
    # the copy's helpers, in this process's Python and in the notebooks' kernels
    env = {**os.environ, GPU_DRY_RUN_ENV: "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "helpers.run_notebooks", "--profile", "gpu", *notebooks]
    if timeout:
        cmd += ["--timeout", str(timeout)]
    code = subprocess.run(cmd, cwd=root, env=env).returncode
    print(f"executed notebooks: {root / 'build' / 'executed' / 'gpu'}; results: {root / 'results'}", flush=True)
    return code


def record_run(profile: str, stem: str | None, seconds: float, load: float, notebooks: int = 0) -> None:
    """Keep one notebook's wall clock (``stem``), or the total of a run of every notebook (``stem=None``),
    in ``results/notebook_runs.<profile>.json``; the other entries stay as they were."""
    path = results_path("notebook_runs", profile)
    runs = json.loads(path.read_text()) if path.exists() else {"profile": profile, "notebooks": {}}
    entry = {"seconds": round(seconds, 1), "minutes": round(seconds / 60, 1), "load_average_at_start": round(load, 2),
             "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine_info()}
    if stem is None:
        runs["all_notebooks"] = {**entry, "notebooks": notebooks}
    else:
        runs["notebooks"][stem] = entry
        runs["notebooks"] = dict(sorted(runs["notebooks"].items()))
    atomic_write_json(path, runs)  # makes the folder too


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m helpers.run_notebooks", description=__doc__.split("\n")[0])
    p.add_argument("notebooks", nargs="*", help="stems or numbers (default: all)")
    p.add_argument("--profile", default="cpu", help=f"one of {', '.join(PROFILES)}")
    p.add_argument("--timeout", type=int, default=None, help="per-cell limit in seconds")
    p.add_argument("--dry-run", action="store_true",
                   help="with --profile gpu: its code paths at the smoke profile's sizes, in a copy of the repository")
    p.add_argument("--workdir", default=None, help="with --dry-run: where the copy goes (default: a temporary folder)")
    args = p.parse_args(argv)
    try:
        check_profile(args.profile)
        sources = notebook_sources(args.notebooks)
    except CourseError as exc:
        p.error(str(exc))
    if args.dry_run:
        if args.profile != "gpu":
            p.error(f"--dry-run runs the gpu profile's code paths; got --profile {args.profile}")
        sys.exit(dry_run([s.stem for s in sources], args.workdir, args.timeout))
    started, started_load = time.time(), os.getloadavg()[0]
    for i, src in enumerate(sources, 1):
        t0, load = time.time(), os.getloadavg()[0]
        print(f"[{i}/{len(sources)}] executing {src.name} (profile {args.profile}) ...", flush=True)
        out = execute_notebook(src, args.profile, timeout=args.timeout)
        print(f"  -> {out.relative_to(REPO_ROOT)} in {time.time() - t0:.0f} s", flush=True)
        record_run(args.profile, src.stem, time.time() - t0, load)
    if len(sources) == len(notebook_sources([])):
        record_run(args.profile, None, time.time() - started, started_load, len(sources))
    print(f"{len(sources)} notebooks in {(time.time() - started) / 60:.1f} min (profile {args.profile})", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
