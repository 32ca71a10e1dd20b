"""Rewards and the info every skill env reports: small wrappers over the unwrapped simulator state.

Every skill env reports the same per-step ``info`` keys (``x_velocity``, ``torso_height``,
``torso_up``, ``pitch``; plus ``target_speed`` for the goal skill), which is all the rewards and the
metric functions need. Rewards Gymnasium does not provide (jump, front_flip, target_speed) come from
one function, :func:`cheetah_reward`, so a controller can score any step under any skill.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from .skills import (CHEETAH_FOOT_REST_HEIGHT, CHEETAH_REST_HEIGHT, CHEETAH_SKILLS, CTRL_COST, JUMP_DRIFT_COST,
                     TARGET_SPEED_RANGE, UnknownSkillError, check_target_speed)


class SkillInfo(gym.Wrapper):
    """Adds body state to ``info``: forward velocity, torso height, pitch angle and ``torso_up``, the
    vertical component of the torso's own up axis (1 upright, 0 on its side, -1 on its back)."""

    def __init__(self, env: gym.Env, body: str):
        super().__init__(env)
        self.body = body
        # HumanoidStandup's model is laid out lying along x, head towards -x: there the torso's up axis
        # (head above chest) is its local -x, where every other model's is its local z
        standup = type(env.unwrapped).__name__.startswith("HumanoidStandup")
        self._up_index, self._up_sign = (6, -1.0) if standup else (8, 1.0)

    def _state(self) -> dict[str, float]:
        data = self.env.unwrapped.data
        torso_up = self._up_sign * float(data.body("torso").xmat[self._up_index])
        if self.body == "cheetah":
            # qpos = [rootx, rootz, rooty, 6 joints]; the torso body's world z is the height
            return {
                "torso_height": float(data.body("torso").xpos[2]),
                "lowest_foot_height": min(float(data.geom("bfoot").xpos[2]), float(data.geom("ffoot").xpos[2])),
                "pitch": float(data.qpos[2]),
                "pitch_rate": float(data.qvel[2]),
                "vertical_velocity": float(data.qvel[1]),
                "torso_up": torso_up,
            }
        return {"torso_height": float(data.qpos[2]), "pitch": 0.0, "pitch_rate": 0.0,
                "vertical_velocity": float(data.qvel[2]), "torso_up": torso_up}

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        info.update(self._state())
        info.setdefault("x_velocity", 0.0)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info.update(self._state())
        if "x_velocity" not in info:  # HumanoidStandup does not report it
            info["x_velocity"] = float(self.env.unwrapped.data.qvel[0])
        return obs, reward, terminated, truncated, info


def _ctrl_cost(action: np.ndarray) -> float | np.ndarray:
    # the last axis is the action's: one step's action gives a number, a batch's (n, 6) gives n
    return CTRL_COST * np.sum(np.square(action), axis=-1).astype(np.float64)


def cheetah_reward(skill: str, info: dict[str, Any], action: np.ndarray, target_speed: float | None = None) -> float:
    """The reward of a cheetah skill for one step, from the step's ``info`` (see :class:`SkillInfo`),
    or for a batch of steps (arrays in ``info``, actions ``(n, 6)``: the collector's batch).

    One function for all five cheetah skills, so a controller can score any step under any skill
    (notebook 03 measures the return lost around a switch this way).

    * jump: torso above its rest height plus clearance of the lower foot, both paid only as far as the
      torso is upright (its up axis's vertical component, floored at 0), minus a little for drifting
      away. The foot term is what makes it a jump: rearing up on the back leg raises the torso but keeps
      a foot on the ground. The uprightness factor is what makes it land on its feet: a cheetah lying
      on its back has its feet high in the air, and without the factor that pays (the first jump
      expert learned exactly that and spent 89% of its time upside down).
    * front_flip: pitch rate in the front-flip direction (rooty increasing: nose down, forward).
    """
    ctrl = _ctrl_cost(action)
    if skill == "run_forward":
        return info["x_velocity"] - ctrl
    if skill == "run_backward":
        return -info["x_velocity"] - ctrl
    if skill == "jump":
        height = np.maximum(0.0, info["torso_height"] - CHEETAH_REST_HEIGHT)
        clearance = np.maximum(0.0, info["lowest_foot_height"] - CHEETAH_FOOT_REST_HEIGHT)
        upright = np.maximum(0.0, info["torso_up"])
        return upright * (5.0 * height + 10.0 * clearance) - JUMP_DRIFT_COST * np.abs(info["x_velocity"]) - ctrl
    if skill == "front_flip":
        return info["pitch_rate"] - ctrl
    if skill == "target_speed":
        if target_speed is None:
            raise ValueError("the target_speed reward needs a target speed")
        return -np.abs(info["x_velocity"] - target_speed) - ctrl
    raise UnknownSkillError(f"{skill!r} is not a cheetah skill; cheetah skills: {', '.join(CHEETAH_SKILLS)}")


class SkillReward(gym.Wrapper):
    """Replace the env's reward with a cheetah skill's reward (jump, front_flip): :func:`cheetah_reward`."""

    def __init__(self, env: gym.Env, skill: str):
        super().__init__(env)
        self.skill = skill

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        return obs, cheetah_reward(self.skill, info, action), terminated, truncated, info


class TargetSpeed(gym.Wrapper):
    """Goal-conditioned running: reward -|v - v*|, with v* appended to the observation.

    v* is drawn uniformly from TARGET_SPEED_RANGE at every reset (from the env's seeded RNG), unless a
    fixed target is given here or in ``reset(options={"target_speed": v})``.
    """

    def __init__(self, env: gym.Env, target_speed: float | None = None):
        super().__init__(env)
        low, high = env.observation_space.low, env.observation_space.high
        self.observation_space = gym.spaces.Box(
            np.append(low, TARGET_SPEED_RANGE[0]).astype(np.float32),
            np.append(high, TARGET_SPEED_RANGE[1]).astype(np.float32),
            dtype=np.float64 if env.observation_space.dtype == np.float64 else np.float32,
        )
        self.fixed_target = None if target_speed is None else check_target_speed(target_speed)
        self.target_speed = 0.0

    def _obs(self, obs):
        return np.append(obs, self.target_speed).astype(self.observation_space.dtype)

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        if options and options.get("target_speed") is not None:
            self.target_speed = check_target_speed(options["target_speed"])
        elif self.fixed_target is not None:
            self.target_speed = self.fixed_target
        else:
            self.target_speed = float(self.env.unwrapped.np_random.uniform(*TARGET_SPEED_RANGE))
        info["target_speed"] = self.target_speed
        return self._obs(obs), info

    def set_target_speed(self, target_speed: float) -> None:
        """Change the goal mid-episode (used by the switching controller and the generalist)."""
        self.target_speed = check_target_speed(target_speed)

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        info["target_speed"] = self.target_speed
        reward = cheetah_reward("target_speed", info, action, self.target_speed)
        return self._obs(obs), reward, terminated, truncated, info


# Humanoid observations start with qpos[2:] (22 numbers), then qvel: qvel[0] is the torso's forward velocity
HUMANOID_TORSO_VX = 22


def speed_bonus_reward(next_obs: np.ndarray, bonus: float) -> np.ndarray:
    return bonus * next_obs[..., HUMANOID_TORSO_VX]


class SpeedBonus(gym.Wrapper):
    """Training-only reward shaping for the humanoid: + ``bonus`` x the torso's forward velocity after
    the step. Being a function of the stored transition, it can relabel a replay buffer too."""

    def __init__(self, env: gym.Env, bonus: float):
        super().__init__(env)
        self.bonus = bonus

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward + float(speed_bonus_reward(obs, self.bonus)), terminated, truncated, info


class ScaledReward(gym.Wrapper):
    """Training-only: the reward times ``scale`` (what an off-policy learner's targets are measured in)."""

    def __init__(self, env: gym.Env, scale: float):
        super().__init__(env)
        self.scale = scale

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward * self.scale, terminated, truncated, info


class UprightProgress(gym.Wrapper):
    """Training-only, for the cheetah's running skills: forward progress pays only as much as the torso is
    upright (its up axis's vertical component, floored at 0). HalfCheetah's reward pays forward velocity
    in any pose, so an expert started on its back (where a front flip leaves it) runs on its back, or
    keeps flipping, instead of righting itself first. ``bonus`` x the up axis's vertical component is
    added every step: without it, lying still on its back (reward 0) is where the expert gives up."""

    def __init__(self, env: gym.Env, bonus: float = 0.0):
        super().__init__(env)
        self.bonus = bonus

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        up = float(info["torso_up"])
        reward = reward - (1.0 - max(0.0, up)) * max(0.0, float(info["x_velocity"])) + self.bonus * up
        return obs, reward, terminated, truncated, info
