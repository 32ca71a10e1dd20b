"""The one env factory: a skill's Gymnasium env (its reward, its info keys), a vector of them for
stable-baselines3, and the cheetah whose skill can change mid-episode.

    >>> env = make_env("run_backward")                     # a plain gymnasium.Env
    >>> env = make_env("target_speed", target_speed=1.5)
    >>> env = make_env("InvertedPendulum-v5")               # not a skill: a plain Gymnasium id
    >>> venv = make_vec_env("jump", n_envs=8, seed=0)       # SB3 DummyVecEnv + VecMonitor

Every skill is also registered as a Gymnasium id, ``course/<skill>-v0``: Minari records that id as
the env of each dataset.
"""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym

from ..core.errors import InvalidArgumentError
from .rewards import SkillInfo, SkillReward, TargetSpeed, cheetah_reward
from .simulator import tracking_camera
from .skills import CHEETAH_SKILLS, SKILLS, Skill, check_target_speed, get_skill


def make_env(skill: str | Skill, *, target_speed: float | None = None, render_mode: str | None = None,
             **env_kwargs: Any) -> gym.Env:
    """A Gymnasium env for ``skill`` with the skill's reward and the common ``info`` keys.

    A name that is not a skill is made as a plain Gymnasium id (with continuous actions), so the
    minimal PPO of notebook 01 can also train on ``InvertedPendulum-v5``."""
    if not isinstance(skill, Skill) and skill not in SKILLS:
        return _gym_env(skill, target_speed, render_mode, env_kwargs)
    s = skill if isinstance(skill, Skill) else get_skill(skill)
    if target_speed is not None and not s.has_goal:
        raise InvalidArgumentError(f"skill {s.name!r} takes no target speed (only target_speed does)")
    kwargs = tracking_camera(s.body, {**s.env_kwargs, **env_kwargs, "render_mode": render_mode})
    kwargs.pop("render_mode")
    env = SkillInfo(gym.make(s.env_id, render_mode=render_mode, **kwargs), s.body)
    if s.has_goal:
        return TargetSpeed(env, target_speed)
    return SkillReward(env, s.name) if s.custom_reward else env


def _gym_env(env_id: str, target_speed: float | None, render_mode: str | None, env_kwargs: dict[str, Any]) -> gym.Env:
    if target_speed is not None:
        raise InvalidArgumentError(f"{env_id!r} is not a skill: it takes no target speed")
    try:
        env = gym.make(env_id, render_mode=render_mode, **env_kwargs)
    except gym.error.Error as exc:
        raise InvalidArgumentError(f"unknown env {env_id!r}: not a skill (known skills: {', '.join(SKILLS)}) "
                                   f"and not a registered Gymnasium id ({exc})") from None
    if not isinstance(env.action_space, gym.spaces.Box):
        raise InvalidArgumentError(f"{env_id!r} has {type(env.action_space).__name__} actions; "
                                   "the course's learners need Box (continuous) actions")
    return env


def make_vec_env(skill: str | Skill, n_envs: int, seed: int, env_kwargs: dict[str, Any] | None = None,
                 wrapper: Callable[[gym.Env], gym.Env] | None = None):
    """``n_envs`` copies in SB3's DummyVecEnv (env ``i`` first reset with ``seed + i``), with episode
    returns recorded by VecMonitor; ``wrapper`` (e.g. training-only reward shaping) wraps each copy."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    def thunk() -> gym.Env:
        env = make_env(skill, **(env_kwargs or {}))
        return wrapper(env) if wrapper is not None else env

    venv = DummyVecEnv([thunk] * n_envs)
    venv.seed(seed)
    return VecMonitor(venv)


class CommandableCheetah(gym.Wrapper):
    """One HalfCheetah whose skill (and target speed) can be changed mid-episode.

    The observation is the plain 17-dim body state; the reward is the current skill's
    :func:`cheetah_reward`, and ``info`` records which skill and target were in force. This is the
    env of policy switching (notebook 03) and of the generalist (notebooks 06 and 08).
    """

    def __init__(self, skill: str = "run_forward", target_speed: float | None = None, **make_kwargs: Any):
        super().__init__(SkillInfo(gym.make("HalfCheetah-v5", **tracking_camera("cheetah", make_kwargs)), "cheetah"))
        self.set_skill(skill, target_speed)

    def set_skill(self, skill: str, target_speed: float | None = None) -> None:
        s = get_skill(skill)
        if s.body != "cheetah":
            raise InvalidArgumentError(f"{skill!r} is a {s.body} skill; this body takes: {', '.join(CHEETAH_SKILLS)}")
        if s.has_goal and target_speed is None:
            raise InvalidArgumentError("target_speed needs a target speed in m/s")
        if not s.has_goal and target_speed is not None:
            raise InvalidArgumentError(f"skill {skill!r} takes no target speed (only target_speed does)")
        self.skill = skill
        self.target_speed = None if target_speed is None else check_target_speed(target_speed)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        info.update(skill=self.skill, target_speed=self.target_speed)
        return obs, info

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        info.update(skill=self.skill, target_speed=self.target_speed)
        reward = cheetah_reward(self.skill, info, action, self.target_speed)
        return obs, reward, terminated, truncated, info


def register_envs() -> None:
    """Register every skill as a Gymnasium id, ``course/<skill>-v0`` (Minari records it as the env spec)."""
    for name in SKILLS:
        env_id = f"course/{name}-v0"
        if env_id not in gym.registry:
            gym.register(env_id, entry_point="helpers.envs.factory:make_env", kwargs={"skill": name},
                         disable_env_checker=True, order_enforce=False)
    if "course/transitions-v0" not in gym.registry:  # the cheetah whose skill changes mid-episode
        gym.register("course/transitions-v0", entry_point="helpers.envs.factory:CommandableCheetah",
                     disable_env_checker=True, order_enforce=False)


register_envs()
