"""Evaluate a policy on a skill: returns, episode lengths and the skill's metrics.

Command line (the course's stable contract; the last line printed is one JSON object)::

    python -m helpers.evaluate --skill run_forward --policy expert --episodes 10 --seed 0 --json
    python -m helpers.evaluate --skill target_speed --target-speed 1.5 --episodes 5 --seed 1 --json
    python -m helpers.evaluate --skill jump --episodes 1 --seed 0 --video jump.mp4

Episode ``i`` is reset with seed ``seed + i``, and policies are deterministic (or seeded), so the same
seed gives the same numbers. ``metrics`` holds the skill's metric (the skill table's key) and
``upright_fraction``, the share of steps with the torso's up axis above the horizontal.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from .core.errors import CourseError, InvalidArgumentError
from .envs.factory import make_env
from .envs.rollouts import Policy, RandomPolicy, evaluate_policy
from .envs.skills import SKILLS, check_target_speed, get_skill
from .experts.policy import load_expert, load_run_policy
from .models.dt_policy import load_committed_dt
from .models.generalist_policy import load_committed_generalist, load_generalist_policy

POLICY_KINDS = ("expert", "dt", "generalist", "random")


def load_policy(kind: str, skill: str, *, target_return: float | None = None, seed: int = 0,
                target_speed: float | None = None) -> Policy:
    """Resolve ``--policy``: expert | dt | generalist | random | a checkpoint folder."""
    s = get_skill(skill)
    if kind == "expert":
        return load_expert(s.name)
    if kind == "random":
        return RandomPolicy(make_env(s).action_space, seed)
    if kind == "dt":
        return load_committed_dt(s.name, target_return)
    if kind == "generalist":
        return load_committed_generalist().for_skill(s.name, target_speed)
    path = Path(kind)
    if path.is_dir() and (path / "config.json").exists() and "normalisation" in (path / "config.json").read_text():
        return load_generalist_policy(path, verify=(path / "MANIFEST.sha256").exists()).for_skill(s.name, target_speed)
    if path.is_dir() and (path / "card.json").exists():
        return load_expert(s.name, path)
    if path.is_dir() and (path / "state.json").exists():
        return load_run_policy(path, s.name)
    raise InvalidArgumentError(f"--policy must be one of {', '.join(POLICY_KINDS)} or a checkpoint folder "
                               f"(pretrained/<skill> or runs/<skill>/<run>); got {kind!r}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m helpers.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--skill", required=True, help=f"one of: {', '.join(SKILLS)}")
    p.add_argument("--target-speed", type=float, default=None, help="goal in m/s for target_speed, in [-3, 3]")
    p.add_argument("--policy", default="expert", help=f"{' | '.join(POLICY_KINDS)} | PATH")
    p.add_argument("--target-return", type=float, default=None, help="return to condition a DT on")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--video", default=None, help="save the first episode as this mp4")
    p.add_argument("--threads", type=int, default=1, help="torch threads (one is fastest for one env)")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    args = p.parse_args(argv)
    try:
        skill = get_skill(args.skill)
        if args.target_speed is not None and not skill.has_goal:
            raise InvalidArgumentError(f"--target-speed applies only to target_speed, not {skill.name}")
        if args.target_speed is not None:
            check_target_speed(args.target_speed)
        if args.episodes < 1:
            raise InvalidArgumentError(f"--episodes must be >= 1, got {args.episodes}")
    except CourseError as exc:
        p.error(str(exc))
    torch.set_num_threads(args.threads)
    try:
        policy = load_policy(args.policy, skill.name, target_return=args.target_return, seed=args.seed,
                             target_speed=args.target_speed)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    res = evaluate_policy(policy, skill.name, episodes=args.episodes, seed=args.seed,
                          target_speed=args.target_speed, video=args.video)
    res["policy"] = args.policy
    if args.target_return is not None:
        res["target_return"] = args.target_return
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{skill.name}: return {res['mean_return']:.1f} +- {res['std_return']:.1f} over "
              f"{args.episodes} episodes, length {res['mean_episode_length']:.0f}, "
              f"{skill.metric} {res['metrics'][skill.metric]:.3f} {skill.metric_unit}, "
              f"upright {res['metrics']['upright_fraction']:.0%}")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
