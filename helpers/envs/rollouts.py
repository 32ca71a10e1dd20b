"""Rollouts: one episode of a policy, an evaluation over seeded episodes, and the random baseline.

A policy is anything callable as ``policy(obs) -> action`` (:class:`Policy`). Policies that track an
episode (a Decision Transformer conditions on the rewards received) also have ``reset(info)``, called
after the env's reset, and ``observe(obs, reward, info)``, called after every step.

Episode ``i`` of an evaluation is reset with seed ``seed + i``, and the course's policies are
deterministic (or seeded), so the same seed gives the same numbers.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from ..core.errors import InvalidArgumentError
from ..core.media import save_video
from .factory import make_env
from .metrics import episode_metrics
from .skills import SKILLS


@runtime_checkable
class Policy(Protocol):
    """``policy(obs) -> action``, for one observation (and, for most policies, a batch)."""

    def __call__(self, obs: np.ndarray) -> np.ndarray: ...


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
    """Run ``episodes`` episodes (episode i seeded ``seed + i``) and summarise them.

    ``skill`` is a skill name (then ``metrics`` holds its metric and the diagnostics of
    :func:`helpers.envs.metrics.episode_metrics`) or a plain Gymnasium id (returns and lengths only)."""
    s = SKILLS.get(skill) if isinstance(skill, str) else skill
    if episodes < 1:
        raise InvalidArgumentError(f"episodes must be >= 1, got {episodes}")
    render_kwargs = {"render_mode": "rgb_array", "width": render_size[0], "height": render_size[1]} if video else {}
    env = make_env(s or skill, target_speed=target_speed, **render_kwargs, **(env_kwargs or {}))
    returns, lengths, per_episode = [], [], []
    t0 = time.time()
    try:
        for i in range(episodes):
            ep = run_episode(policy, env, seed + i, render=bool(video) and i == 0)
            returns.append(ep["return"])
            lengths.append(ep["length"])
            if s is not None:
                per_episode.append(episode_metrics(s, ep["infos"]))
            if video and i == 0:
                save_video(video, ep["frames"], fps=env.metadata.get("render_fps", 30))
    finally:
        env.close()
    out = {"skill": s.name if s else skill, "episodes": episodes, "seed": seed,
           "seeds": list(range(seed, seed + episodes)), "target_speed": target_speed,
           "mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)),
           "mean_episode_length": float(np.mean(lengths)), "returns": [float(r) for r in returns]}
    if s is not None:
        out.update(metric=s.metric,
                   metrics={k: float(np.mean([m[k] for m in per_episode])) for k in sorted(per_episode[0])},
                   metric_std=float(np.std([m[s.metric] for m in per_episode])))
    out["wall_clock_s"] = round(time.time() - t0, 2)
    return out


class RandomPolicy:
    """Uniform random actions from a seeded generator (the floor every learner must beat)."""

    def __init__(self, action_space, seed: int = 0):
        self.space = action_space
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.uniform(self.space.low, self.space.high).astype(np.float32)
