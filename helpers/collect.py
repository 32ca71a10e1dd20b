"""Collect trajectories of a skill into a Minari dataset: fast, streaming, resumable, optionally on Ray.

    python -m helpers.collect --skill run_forward --quality expert --steps 1000000 --out datasets
    python -m helpers.collect --skill jump --quality medium --steps 200000 --out datasets --workers 2
    python -m helpers.collect --skill walk --quality random --steps 100000 --out datasets --ray auto
    python -m helpers.collect --skill transitions --quality recovery --steps 200000 --out datasets   # skill changes

The last line printed is one JSON object with ``dataset_id`` (``course/<skill>/<quality>-v0``). Killed
and rerun with the same arguments, it finishes the job without duplicating or losing episodes (see
:mod:`helpers.data.collection` for how).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .core.errors import CourseError
from .data.behaviour import QUALITIES, check_quality
from .data.collection import collect
from .data.transitions import CONTROLLERS, TRANSITIONS, check_controller
from .envs.skills import SKILLS, get_skill


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m helpers.collect", description=__doc__.split("\n")[0])
    p.add_argument("--skill", required=True, help=f"one of: {', '.join(SKILLS)}; or {TRANSITIONS} (cheetah episodes "
                   "whose requested skill changes mid-episode)")
    p.add_argument("--quality", required=True, help=f"one of: {', '.join(QUALITIES)}; for {TRANSITIONS}, the switching "
                   f"controller: {', '.join(CONTROLLERS)}")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--out", required=True, help="Minari root folder the dataset is written under")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    p.add_argument("--envs-per-worker", type=int, default=16)
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run on Ray: 'auto' (the running cluster), HOST:PORT, or 'local' (start one here)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    try:
        if args.skill == TRANSITIONS:
            check_controller(args.quality)
        else:
            get_skill(args.skill)
            check_quality(args.quality)
        if args.steps < 1:
            raise ValueError(f"--steps must be positive, got {args.steps}")
    except (CourseError, ValueError) as exc:
        p.error(str(exc))
    try:
        res = collect(args.skill, args.quality, args.steps, args.out, seed=args.seed, workers=args.workers,
                      envs_per_worker=args.envs_per_worker, ray_address=args.ray, verbose=not args.quiet)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
