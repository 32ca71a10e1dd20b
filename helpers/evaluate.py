"""Evaluate a policy on a skill: returns, episode lengths and the skill's metric.

Command line (the course's stable contract; the last line printed is one JSON object)::

    python -m helpers.evaluate --skill run_forward --policy expert --episodes 10 --seed 0 --json
    python -m helpers.evaluate --skill target_speed --target-speed 1.5 --episodes 5 --seed 1 --json
    python -m helpers.evaluate --skill jump --episodes 1 --seed 0 --video jump.mp4

Episode ``i`` is reset with seed ``seed + i``, and policies are deterministic, so the same seed gives
the same numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .skills import SKILLS, check_target_speed, episode_metrics, get_skill, make_env

Policy = Callable[[np.ndarray], np.ndarray]
POLICY_KINDS = ("expert", "dt", "generalist", "random")


def run_episode(policy: Policy, env, seed: int, *, options: dict | None = None, render: bool = False,
                reset_hook: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """One episode; returns its return, length, infos and (if ``render``) frames."""
    obs, info = env.reset(seed=seed, options=options)
    if reset_hook is not None:
        reset_hook(env)
    if hasattr(policy, "reset"):
        policy.reset(info)
    infos, frames, total = [], [], 0.0
    if render:
        frames.append(env.render())
    while True:
        action = policy(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        infos.append(info)
        if hasattr(policy, "observe"):
            policy.observe(obs, float(reward), info)
        if render:
            frames.append(env.render())
        if terminated or truncated:
            break
    return {"return": total, "length": len(infos), "infos": infos, "frames": frames}


def evaluate_policy(policy: Policy, skill: str, *, episodes: int = 10, seed: int = 0,
                    target_speed: float | None = None, video: str | Path | None = None,
                    render_size: tuple[int, int] = (320, 240), env_kwargs: dict | None = None) -> dict[str, Any]:
    """Run ``episodes`` episodes (episode i seeded ``seed + i``) and summarise them."""
    s = get_skill(skill)
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    render_kwargs = {"render_mode": "rgb_array", "width": render_size[0], "height": render_size[1]} if video else {}
    env = make_env(s, target_speed=target_speed, **render_kwargs, **(env_kwargs or {}))
    returns, lengths, per_episode = [], [], []
    t0 = time.time()
    try:
        for i in range(episodes):
            ep = run_episode(policy, env, seed + i, render=bool(video) and i == 0)
            returns.append(ep["return"])
            lengths.append(ep["length"])
            per_episode.append(episode_metrics(s, ep["infos"]))
            if video and i == 0:
                from .media import save_video

                save_video(video, ep["frames"], fps=env.metadata.get("render_fps", 30))
    finally:
        env.close()
    metric_names = sorted(per_episode[0])
    metrics = {k: float(np.mean([m[k] for m in per_episode])) for k in metric_names}
    return {
        "skill": s.name,
        "episodes": episodes,
        "seed": seed,
        "seeds": list(range(seed, seed + episodes)),
        "target_speed": target_speed,
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "mean_episode_length": float(np.mean(lengths)),
        "returns": [float(r) for r in returns],
        "metric": s.metric,
        "metrics": metrics,
        "metric_std": float(np.std([m[s.metric] for m in per_episode])),
        "wall_clock_s": round(time.time() - t0, 2),
    }


class RandomPolicy:
    """Uniform random actions from a seeded generator (the floor every learner must beat)."""

    def __init__(self, action_space, seed: int = 0):
        self.space = action_space
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.uniform(self.space.low, self.space.high).astype(np.float32)


def load_policy(kind: str, skill: str, *, target_return: float | None = None, seed: int = 0) -> Policy:
    """Resolve ``--policy``: expert | dt | generalist | random | a path to a checkpoint folder."""
    s = get_skill(skill)
    if kind == "expert":
        from .experts import load_expert

        return load_expert(s.name)
    if kind == "random":
        env = make_env(s)
        return RandomPolicy(env.action_space, seed)
    if kind in ("dt", "generalist"):
        try:
            from . import policies
        except ImportError as exc:  # the offline models arrive with notebooks 05-06
            raise SystemExit(f"--policy {kind} is not available yet: {exc}") from None
        return policies.load(kind, s.name, target_return=target_return)
    path = Path(kind)
    if path.is_dir() and (path / "card.json").exists():
        from .experts import load_expert

        return load_expert(s.name, path)
    if path.is_dir() and (path / "state.json").exists():
        from .experts import load_run_policy

        return load_run_policy(path, s.name)
    raise SystemExit(f"--policy must be one of {', '.join(POLICY_KINDS)} or a checkpoint folder "
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
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    args = p.parse_args(argv)
    try:
        skill = get_skill(args.skill)
        if args.target_speed is not None and not skill.has_goal:
            raise ValueError(f"--target-speed applies only to target_speed, not {skill.name}")
        if args.target_speed is not None:
            check_target_speed(args.target_speed)
        if args.episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
    except (KeyError, ValueError) as exc:
        p.error(str(exc))
    policy = load_policy(args.policy, skill.name, target_return=args.target_return, seed=args.seed)
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
              f"{skill.metric} {res['metrics'][skill.metric]:.3f} {skill.metric_unit}")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
