"""A reverse curriculum for getting up (Florensa et al. 2017, "Reverse Curriculum Generation"): start
near the goal, and move the start states away from it as the policy succeeds.

From lying on its back, a humanoid that has not yet learned to get up never sees what standing
pays, so exploration stalls at sitting (the first stand_up expert sat up to 0.37 m). Here the start
states come from *falls*: the humanoid is stood up straight and left to collapse under random
torques, and every state of the fall is kept with how far into the fall it is. Training episodes
start from states early in a fall (nearly standing: learn to stay up), and the allowed depth grows
each time episodes from the current depth mostly end standing, until they start lying on the
ground; a share of episodes always starts from the env's own lying start, the one evaluated.

The curriculum is training-only: evaluation, checkpoint selection and the card use the skill's own
env and reward from its own start.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from ..core.checkpoints import atomic_write_json, load_npz, save_npz
from ..envs.factory import make_env
from ..envs.skills import MODELS
from .policy import load_expert

STAND_HEIGHT = 1.0  # torso height (m) of "standing": the stand_up skill's bar


def standing_pose(env: gym.Env) -> tuple[np.ndarray, np.ndarray]:
    """qpos, qvel of the HumanoidStandup body standing straight, feet on the ground.

    Its model lies along x with the head towards -x, so standing is the torso turned +90 degrees
    about y (local -x up), every joint at zero."""
    model, data = env.unwrapped.model, env.unwrapped.data
    qpos = env.unwrapped.init_qpos.copy()
    qpos[3:7] = [np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0]
    qpos[2] = 2.0
    data.qpos[:], data.qvel[:] = qpos, 0.0
    mujoco.mj_forward(model, data)
    lowest = min(data.geom_xpos[g][2] - model.geom_rbound[g] for g in range(model.ngeom) if model.geom_bodyid[g] != 0)
    qpos[2] -= lowest - 0.005
    return qpos, np.zeros(model.nv)


def fall_states(n_falls: int = 64, steps: int = 60, seed: int = 0, torque: float = 0.4) -> dict[str, np.ndarray]:
    """States of ``n_falls`` falls from standing under uniform random actions in [-torque, torque].

    Returns ``qpos`` (N, nq), ``qvel`` (N, nv), ``depth`` (N,) in [0, 1] (how far into its fall) and
    ``height`` (N,) the torso height."""
    env_id, kwargs = MODELS["humanoid_standup"]
    env = gym.make(env_id, **kwargs)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    stand_qpos, stand_qvel = standing_pose(env)
    qpos, qvel, depth, height = [], [], [], []
    for _ in range(n_falls):
        env.reset(seed=int(rng.integers(2**31)))
        noise = rng.normal(0.0, 0.02, size=stand_qpos.shape)
        noise[:7] = 0.0  # the pose's joints are perturbed, its root is not
        env.unwrapped.set_state(stand_qpos + noise, stand_qvel + rng.normal(0.0, 0.1, size=stand_qvel.shape))
        for t in range(steps):
            data = env.unwrapped.data
            qpos.append(data.qpos.copy())
            qvel.append(data.qvel.copy())
            depth.append(t / (steps - 1))
            height.append(float(data.qpos[2]))
            env.step(rng.uniform(-torque, torque, size=env.action_space.shape))
    env.close()
    return {"qpos": np.array(qpos), "qvel": np.array(qvel), "depth": np.array(depth), "height": np.array(height)}


class CurriculumProgress:
    """How deep into a fall training episodes may start, raised by ``step`` each time ``success_rate``
    of the last ``window`` episodes from the bank ended standing. One object is shared by every env
    copy of a run (SB3's DummyVecEnv steps them in one process), so they climb together; the level is
    kept in ``state_path`` (JSON), so a resumed run continues where it was."""

    def __init__(self, state_path: Path | None = None, step: float = 0.1, window: int = 20,
                 success_rate: float = 0.6, level: float = 0.05):
        self.state_path, self.step, self.success_rate = Path(state_path) if state_path else None, step, success_rate
        self.level = level
        self.outcomes: deque[bool] = deque(maxlen=window)
        if self.state_path is not None and self.state_path.exists():
            self.level = float(json.loads(self.state_path.read_text())["level"])

    def record(self, stood: bool) -> None:
        self.outcomes.append(bool(stood))
        if len(self.outcomes) == self.outcomes.maxlen and np.mean(self.outcomes) >= self.success_rate:
            self.level = round(min(1.0, self.level + self.step), 6)  # 0.85, not 0.8499999999999999
            self.outcomes.clear()
            if self.state_path is not None:
                atomic_write_json(self.state_path, {"level": self.level})


class ReverseCurriculum(gym.Wrapper):
    """Start episodes from fall states no deeper than ``progress.level``; each episode from the bank
    tells ``progress`` whether it ended standing. ``default_share`` of episodes keep the env's own start.

    Episodes from the bank last at most ``horizon`` steps, and with ``fall_margin`` > 0 they end (a
    termination: the height still to come is lost) once the torso is ``fall_margin`` below where the
    episode started. Without them, a policy that cannot yet balance falls early in a 1000-step episode
    and spends the rest lying, and nothing tells it which early action lost the standing.

    With ``frontier_share`` > 0, that share of the episodes from the bank starts at the *frontier*, the
    deepest step of the allowed depths (``level - progress.step``, ``level``], and only those episodes
    count towards raising the level. Judged over every allowed depth, the easy shallow starts carried
    the level up to 0.85 while the policy still could not recover from any fall it had entered."""

    def __init__(self, env: gym.Env, bank: dict[str, np.ndarray], progress: CurriculumProgress | None = None,
                 default_share: float = 0.2, reward_scale: float = 1.0, horizon: int | None = None,
                 fall_margin: float = 0.0, frontier_share: float = 0.0):
        super().__init__(env)
        if not 0.0 <= frontier_share <= 1.0:
            raise ValueError(f"frontier_share is a share of episodes in [0, 1], got {frontier_share}")
        self.bank, self.progress = bank, progress or CurriculumProgress()
        self.default_share, self.reward_scale = default_share, reward_scale
        self.horizon, self.fall_margin, self.frontier_share = horizon, fall_margin, frontier_share
        self.from_bank, self.at_frontier, self.t, self.start_height = False, False, 0, 0.0
        self.rng = np.random.default_rng(0)

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.from_bank = self.rng.random() >= self.default_share
        self.at_frontier = False
        if self.from_bank:
            depth, level = self.bank["depth"], self.progress.level
            within = depth <= level
            allowed = np.flatnonzero(within)
            if self.frontier_share > 0 and self.rng.random() < self.frontier_share:
                frontier = np.flatnonzero(within & (depth > round(level - self.progress.step, 6)))
                allowed, self.at_frontier = (frontier, True) if len(frontier) else (allowed, False)
            i = int(self.rng.choice(allowed))
            self.env.unwrapped.set_state(self.bank["qpos"][i], self.bank["qvel"][i])
            obs = self.env.unwrapped._get_obs()
            info = {**info, "curriculum_depth": float(self.bank["depth"][i])}
        self.t, self.start_height = 0, float(self.env.unwrapped.data.qpos[2])
        info["curriculum_level"] = self.progress.level
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self.from_bank:
            self.t += 1
            height = float(self.env.unwrapped.data.qpos[2])
            if self.fall_margin > 0 and height < self.start_height - self.fall_margin:
                terminated = True
            if self.horizon is not None and self.t >= self.horizon:
                truncated = True
            if (terminated or truncated) and (self.at_frontier or self.frontier_share == 0):
                self.progress.record(not terminated and height >= STAND_HEIGHT)
        info["curriculum_level"] = self.progress.level
        return obs, reward * self.reward_scale, terminated, truncated, info


def load_or_make_bank(path: Path, **kwargs: Any) -> dict[str, np.ndarray]:
    """The fall states saved at ``path`` (``.npz``), made and saved first if missing."""
    path = Path(path)
    if not path.exists():
        save_npz(path, **fall_states(**kwargs))
    return load_npz(path)


# --- recovery: starting where another skill leaves the body -----------------------------------------
def skill_states(skills: list[str], episodes: int = 4, steps: int = 400, every: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """Body states (qpos, qvel) visited by the published experts of ``skills``, every ``every`` steps of
    ``episodes`` episodes each: the states a switch from those skills lands in."""
    qpos, qvel, source = [], [], []
    for k, skill in enumerate(skills):
        policy, env = load_expert(skill), make_env(skill)
        for e in range(episodes):
            obs, _ = env.reset(seed=seed * 1000 + 100 * k + e)
            for t in range(steps):
                obs, *_ = env.step(policy(obs))
                if t % every == 0:
                    data = env.unwrapped.data
                    qpos.append(data.qpos.copy())
                    qvel.append(data.qvel.copy())
                    source.append(k)
        env.close()
    return {"qpos": np.array(qpos), "qvel": np.array(qvel), "source": np.array(source), "skills": np.array(skills)}


class StartStates(gym.Wrapper):
    """Training-only: a share of episodes starts from a state of ``bank`` instead of the env's reset."""

    def __init__(self, env: gym.Env, bank: dict[str, np.ndarray], share: float = 0.5):
        super().__init__(env)
        self.bank, self.share = bank, share
        self.rng = np.random.default_rng(0)

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        if self.rng.random() < self.share:
            i = int(self.rng.integers(len(self.bank["qpos"])))
            self.env.unwrapped.set_state(self.bank["qpos"][i], self.bank["qvel"][i])
            obs = self.env.unwrapped._get_obs()
            if hasattr(self.env, "_obs"):  # TargetSpeed appends its goal to the body's observation
                obs = self.env._obs(obs)
            info = {**info, "start_from": str(self.bank["skills"][self.bank["source"][i]])}
        return obs, info
