"""A batch of one skill's envs, stepped for collection: the cheetah without the Gymnasium wrapper chain.

Through Gymnasium every cheetah step passes five wrappers, builds two info dicts and computes its
reward with scalar NumPy calls: about 60 us of Python around 40 us of physics, so the collector ran at
a third of what the simulator allows (``benchmarks/collection_throughput.py``). :class:`CheetahBatch`
steps the *same* MuJoCo models and data as the Gymnasium envs (which still do every reset, so seeds
and initial states are Gymnasium's) and computes the observations, infos and rewards of the whole
batch at once, with the same formulas: ``tests/test_collect.py`` checks it equal to ``env.step``,
step by step, for every cheetah skill. Other bodies go through :class:`GymBatch`, a loop over
``env.step``.

    >>> batch = make_batch("jump", n_envs=16)
    >>> obs, info_row = batch.reset(slot=0, seed=7)
    >>> obs, rewards, terminated, truncated, info_rows = batch.step(slots, actions)
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from ..envs.factory import make_env
from ..envs.rewards import cheetah_reward
from ..envs.skills import Skill, get_skill
from .shards import INFO_KEYS


def info_row(info: dict[str, Any]) -> list[float]:
    """The per-step infos a dataset keeps (:data:`INFO_KEYS`), absent ones as 0."""
    return [float(info.get(k, 0.0) or 0.0) for k in INFO_KEYS]


class GymBatch:
    """``n`` Gymnasium envs of one skill, stepped one after the other (any body)."""

    def __init__(self, skill: Skill, n_envs: int):
        self.skill = skill
        self.envs = [make_env(skill, disable_env_checker=True) for _ in range(n_envs)]
        self.action_space = self.envs[0].action_space
        self.obs_dim = self.envs[0].observation_space.shape[0]
        self.max_episode_steps = self.envs[0].spec.max_episode_steps or 1000  # as the collector plans with

    def reset(self, slot: int, seed: int) -> tuple[np.ndarray, list[float], dict[str, Any]]:
        obs, info = self.envs[slot].reset(seed=seed)
        return obs, info_row(info), info

    def step(self, slots: np.ndarray, actions: np.ndarray):
        """Step envs ``slots`` with ``actions`` (one row each): obs, rewards, terminated, truncated, info rows."""
        out = [self.envs[i].step(a) for i, a in zip(slots, actions)]
        return (np.array([o[0] for o in out]), np.array([o[1] for o in out], dtype=np.float64),
                np.array([o[2] for o in out], dtype=bool), np.array([o[3] for o in out], dtype=bool),
                np.array([info_row(o[4]) for o in out], dtype=np.float64))


class CheetahBatch(GymBatch):
    """The cheetah's step, done for the whole batch: ``mj_step`` per env, the rest in NumPy.

    What is left out of Gymnasium's step is only what the cheetah never uses: the action-shape check
    (the policy's output has the right shape by construction) and ``mj_rnePostConstraint`` (contact
    forces for observations that include them; the cheetah's do not, and they feed nothing back)."""

    def __init__(self, skill: Skill, n_envs: int):
        super().__init__(skill, n_envs)
        base = [env.unwrapped for env in self.envs]
        self.frame_skip = base[0].frame_skip
        self.dt = base[0].dt  # model.opt.timestep * frame_skip, as the env computes it
        self.forward_weight = base[0]._forward_reward_weight
        self.ctrl_weight = base[0]._ctrl_cost_weight
        if not base[0]._exclude_current_positions_from_observation:
            raise ValueError("CheetahBatch assumes the observation leaves out the x position, as HalfCheetah-v5's default")
        model = base[0].model
        self.torso = model.body("torso").id
        self.feet = [model.geom("bfoot").id, model.geom("ffoot").id]
        self.elapsed = np.zeros(n_envs, dtype=np.int64)
        self.target = np.zeros(n_envs)  # the goal skill's v*, drawn by the env at reset
        self.nq, self.nv = model.nq, model.nv
        # NumPy views into each env's MjData, made once: MuJoCo's reset writes into the same memory
        self.views = [(b.model, b.data, b.data.qpos, b.data.qvel, b.data.ctrl, b.data.xpos, b.data.xmat, b.data.geom_xpos)
                      for b in base]

    def reset(self, slot: int, seed: int):
        obs, row, info = super().reset(slot, seed)
        self.elapsed[slot] = 0
        if self.skill.has_goal:
            self.target[slot] = info["target_speed"]
        return obs, row, info

    def step(self, slots: np.ndarray, actions: np.ndarray):
        k = len(slots)
        qpos, qvel = np.empty((k, self.nq)), np.empty((k, self.nv))
        x_before, torso_z, torso_up, feet_z = np.empty(k), np.empty(k), np.empty(k), np.empty((k, 2))
        step, nstep, torso, (back, front) = mujoco.mj_step, self.frame_skip, self.torso, self.feet
        for j, i in enumerate(slots):
            model, data, q, v, ctrl, xpos, xmat, geom_xpos = self.views[i]
            x_before[j] = q[0]
            ctrl[:] = actions[j]
            step(model, data, nstep=nstep)
            qpos[j], qvel[j] = q, v
            # positions from the last substep's forward pass: what the Gymnasium env's info reads too
            torso_z[j], torso_up[j] = xpos[torso, 2], xmat[torso, 8]
            feet_z[j, 0], feet_z[j, 1] = geom_xpos[back, 2], geom_xpos[front, 2]
        x_velocity = (qpos[:, 0] - x_before) / self.dt
        obs = np.concatenate([qpos[:, 1:], qvel], axis=1)
        target = self.target[slots] if self.skill.has_goal else None
        if self.skill.custom_reward:
            info = {"x_velocity": x_velocity, "torso_height": torso_z, "lowest_foot_height": feet_z.min(axis=1),
                    "pitch_rate": qvel[:, 2], "torso_up": torso_up}
            rewards = cheetah_reward(self.skill.name, info, actions, target)
        else:  # HalfCheetah's own reward (run_forward, and run_backward by its negative forward weight)
            rewards = self.forward_weight * x_velocity - self.ctrl_weight * np.sum(np.square(actions), axis=1)
        if target is not None:
            obs = np.concatenate([obs, target[:, None]], axis=1)
        self.elapsed[slots] += 1
        truncated = self.elapsed[slots] >= self.max_episode_steps
        rows = np.zeros((k, len(INFO_KEYS)))
        columns = {"x_velocity": x_velocity, "torso_height": torso_z, "torso_up": torso_up, "pitch": qpos[:, 2],
                   "target_speed": target if target is not None else 0.0}
        for c, key in enumerate(INFO_KEYS):
            rows[:, c] = columns[key]
        return obs, np.asarray(rewards, dtype=np.float64), np.zeros(k, dtype=bool), truncated, rows


def make_batch(skill: str | Skill, n_envs: int) -> GymBatch:
    s = skill if isinstance(skill, Skill) else get_skill(skill)
    return CheetahBatch(s, n_envs) if s.body == "cheetah" else GymBatch(s, n_envs)
