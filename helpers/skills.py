"""The skill registry: the seven canonical skills of the course, their bodies, rewards and metrics.

A skill is a MuJoCo body plus a reward (and, for ``target_speed``, a goal). Rewards that Gymnasium
does not provide are small wrappers over the unwrapped simulator state, so every skill is still a
plain ``gymnasium.Env``. Every skill env reports the same per-step ``info`` keys
(``x_velocity``, ``torso_height``, ``pitch``; plus ``target_speed`` for the goal skill), which is
all the metric functions need.

    >>> env = make_env("run_backward")
    >>> SKILLS["front_flip"].metric
    'flips_per_episode'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import gymnasium as gym
import numpy as np

# Humanoid observations: we drop the contact/inertia/actuator blocks (348 -> 45 dims: joint positions
# without x/y, and velocities). They are mostly zeros or redundant, and dropping them makes SAC about
# 2x faster per step on a CPU and the offline datasets 8x smaller.
HUMANOID_KWARGS = dict(
    include_cinert_in_observation=False,
    include_cvel_in_observation=False,
    include_qfrc_actuator_in_observation=False,
    include_cfrc_ext_in_observation=False,
)

CHEETAH_REST_HEIGHT = 0.57  # torso z (m) of HalfCheetah standing still with zero action
CHEETAH_FOOT_REST_HEIGHT = 0.11  # mean z of the two foot geoms at rest
TARGET_SPEED_RANGE = (-3.0, 3.0)  # m/s, the goal range of target_speed
CTRL_COST = 0.1  # HalfCheetah's own control-cost weight, reused by the custom rewards
JUMP_DRIFT_COST = 0.25  # per m/s of forward or backward speed: a jump stays on the spot


@dataclass(frozen=True)
class Skill:
    """One skill: which simulator, which reward, which number says it worked."""

    name: str
    body: str  # "cheetah" or "humanoid"
    env_id: str
    description: str  # one line, usable in language prompts
    metric: str  # key in `metrics` of helpers.evaluate
    metric_unit: str
    reward: str  # human-readable reward definition (documented in notebook 02)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    wrapper: Callable[[gym.Env], gym.Env] | None = None
    has_goal: bool = False
    higher_is_better: bool = True


class SkillInfo(gym.Wrapper):
    """Adds body state to ``info``: forward velocity, torso height and pitch angle."""

    def __init__(self, env: gym.Env, body: str):
        super().__init__(env)
        self.body = body

    def _state(self) -> dict[str, float]:
        data = self.env.unwrapped.data
        # z-component of the torso's own up axis: 1 upright, 0 on its side, -1 on its back
        torso_up = float(data.body("torso").xmat[8])
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


def _ctrl_cost(action: np.ndarray) -> float:
    return CTRL_COST * float(np.sum(np.square(action)))


def cheetah_reward(skill: str, info: dict[str, Any], action: np.ndarray, target_speed: float | None = None) -> float:
    """The reward of a cheetah skill for one step, from the step's ``info`` (see :class:`SkillInfo`).

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
        height = max(0.0, info["torso_height"] - CHEETAH_REST_HEIGHT)
        clearance = max(0.0, info["lowest_foot_height"] - CHEETAH_FOOT_REST_HEIGHT)
        upright = max(0.0, info["torso_up"])
        return upright * (5.0 * height + 10.0 * clearance) - JUMP_DRIFT_COST * abs(info["x_velocity"]) - ctrl
    if skill == "front_flip":
        return info["pitch_rate"] - ctrl
    if skill == "target_speed":
        if target_speed is None:
            raise ValueError("the target_speed reward needs a target speed")
        return -abs(info["x_velocity"] - target_speed) - ctrl
    raise UnknownSkillError(f"{skill!r} is not a cheetah skill; cheetah skills: {', '.join(CHEETAH_SKILLS)}")


class SkillReward(gym.Wrapper):
    """Replace the env's reward with a cheetah skill's reward (jump, front_flip)."""

    def __init__(self, env: gym.Env, skill: str):
        super().__init__(env)
        self.skill = skill

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        return obs, cheetah_reward(self.skill, info, action), terminated, truncated, info


def JumpReward(env: gym.Env) -> gym.Env:  # noqa: N802 - used like a wrapper class
    return SkillReward(env, "jump")


def FlipReward(env: gym.Env) -> gym.Env:  # noqa: N802
    return SkillReward(env, "front_flip")


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


SKILLS: dict[str, Skill] = {
    s.name: s
    for s in [
        Skill("run_forward", "cheetah", "HalfCheetah-v5", "run forward as fast as possible",
              "mean_forward_speed", "m/s", "forward velocity - 0.1 |a|^2 (Gymnasium default)"),
        Skill("run_backward", "cheetah", "HalfCheetah-v5", "run backward as fast as possible",
              "mean_backward_speed", "m/s", "-forward velocity - 0.1 |a|^2 (forward_reward_weight=-1)",
              env_kwargs={"forward_reward_weight": -1.0}),
        Skill("jump", "cheetah", "HalfCheetah-v5", "jump up and down, lifting all feet off the ground",
              "mean_peak_height", "m above rest",
              "max(up_z, 0) [5 (torso z - rest) + 10 (lower foot clearance)] - 0.25 |v| - 0.1 |a|^2",
              wrapper=JumpReward),
        Skill("front_flip", "cheetah", "HalfCheetah-v5", "do front flips, rotating forward about the pitch axis",
              "flips_per_episode", "flips", "pitch rate (front-flip direction) - 0.1 |a|^2", wrapper=FlipReward),
        Skill("target_speed", "cheetah", "HalfCheetah-v5", "run at a given speed, forward or backward",
              "mean_abs_speed_error", "m/s", "-|v - v*| - 0.1 |a|^2, v* in [-3, 3] m/s in the observation",
              wrapper=TargetSpeed, has_goal=True, higher_is_better=False),
        Skill("walk", "humanoid", "Humanoid-v5", "walk forward on two legs without falling",
              "mean_forward_speed", "m/s", "Gymnasium default: 1.25 v + 5 alive - costs",
              env_kwargs=HUMANOID_KWARGS),
        Skill("stand_up", "humanoid", "HumanoidStandup-v5", "get up from lying on the ground and stand",
              "final_torso_height", "m", "Gymnasium default: torso height velocity-free uphill reward - costs",
              env_kwargs=HUMANOID_KWARGS),
    ]
}

BODIES = {"cheetah": "HalfCheetah-v5", "humanoid": "Humanoid-v5"}
CHEETAH_SKILLS = tuple(name for name, s in SKILLS.items() if s.body == "cheetah")


class UnknownSkillError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return self.args[0]


def get_skill(name: str) -> Skill:
    """The skill called ``name``; an unknown name raises an error listing the known ones."""
    try:
        return SKILLS[name]
    except KeyError:
        raise UnknownSkillError(
            f"unknown skill {name!r}; known skills: {', '.join(SKILLS)}"
        ) from None


def check_target_speed(value: float) -> float:
    value = float(value)
    low, high = TARGET_SPEED_RANGE
    if not (np.isfinite(value) and low <= value <= high):
        raise ValueError(f"target speed {value} m/s is outside the valid range [{low}, {high}] m/s")
    return value


def make_env(skill: str | Skill, *, target_speed: float | None = None, render_mode: str | None = None,
             **env_kwargs: Any) -> gym.Env:
    """A Gymnasium env for ``skill`` with the skill's reward and the common ``info`` keys."""
    s = skill if isinstance(skill, Skill) else get_skill(skill)
    if target_speed is not None and not s.has_goal:
        raise ValueError(f"skill {s.name!r} takes no target speed (only target_speed does)")
    kwargs = {**s.env_kwargs, **env_kwargs}
    env = gym.make(s.env_id, render_mode=render_mode, **kwargs)
    env = SkillInfo(env, s.body)
    if s.wrapper is TargetSpeed:
        env = TargetSpeed(env, target_speed)
    elif s.wrapper is not None:
        env = s.wrapper(env)
    return env


class CommandableCheetah(gym.Wrapper):
    """One HalfCheetah whose skill (and target speed) can be changed mid-episode.

    The observation is the plain 17-dim body state; the reward is the current skill's
    :func:`cheetah_reward`, and ``info`` records which skill and target were in force. This is the
    env of policy switching (notebook 03) and of the generalist (notebooks 06 and 08).
    """

    def __init__(self, skill: str = "run_forward", target_speed: float | None = None, **make_kwargs: Any):
        super().__init__(SkillInfo(gym.make("HalfCheetah-v5", **make_kwargs), "cheetah"))
        self.set_skill(skill, target_speed)

    def set_skill(self, skill: str, target_speed: float | None = None) -> None:
        s = get_skill(skill)
        if s.body != "cheetah":
            raise ValueError(f"{skill!r} is a {s.body} skill; this body takes: {', '.join(CHEETAH_SKILLS)}")
        if s.has_goal and target_speed is None:
            raise ValueError("target_speed needs a target speed in m/s")
        if not s.has_goal and target_speed is not None:
            raise ValueError(f"skill {skill!r} takes no target speed (only target_speed does)")
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


def episode_metrics(skill: str | Skill, infos: list[dict[str, Any]]) -> dict[str, float]:
    """The skill's metric (and a few diagnostics) for one episode, from its per-step infos."""
    s = skill if isinstance(skill, Skill) else get_skill(skill)
    if not infos:
        raise ValueError("episode_metrics needs at least one step")
    vx = np.array([i["x_velocity"] for i in infos], dtype=np.float64)
    height = np.array([i["torso_height"] for i in infos], dtype=np.float64)
    pitch = np.array([i["pitch"] for i in infos], dtype=np.float64)
    up = np.array([i["torso_up"] for i in infos], dtype=np.float64)
    out = {
        "mean_forward_speed": float(vx.mean()),
        "mean_backward_speed": float(-vx.mean()),
        "final_torso_height": float(height[-1]),
        "upright_fraction": float((up > 0).mean()),  # steps with the torso's up axis above the horizontal
    }
    if s.body == "cheetah":
        out["mean_peak_height"] = mean_peak_height(height - CHEETAH_REST_HEIGHT)
        # whole turns of the pitch angle in the front-flip direction
        out["flips_per_episode"] = float(np.fix((pitch[-1] - pitch[0]) / (2 * np.pi)))  # whole turns; < 0: back flips
    if s.has_goal:
        target = np.array([i["target_speed"] for i in infos], dtype=np.float64)
        out["mean_abs_speed_error"] = float(np.abs(vx - target).mean())
        out["target_speed"] = float(target.mean())
    return out


def mean_peak_height(height_above_rest: np.ndarray, prominence: float = 0.05) -> float:
    """Mean height of the jumps: local maxima that stand out by ``prominence`` metres.

    With no such peak (a body that never leaves its rest height) it is the episode's maximum.
    """
    from scipy.signal import find_peaks

    h = np.asarray(height_above_rest, dtype=np.float64)
    peaks, _ = find_peaks(h, prominence=prominence)
    return float(h[peaks].mean()) if len(peaks) else float(max(h.max(), 0.0))


def register_envs() -> None:
    """Register every skill as a Gymnasium id, ``course/<skill>-v0`` (Minari records it as the env spec)."""
    for name in SKILLS:
        env_id = f"course/{name}-v0"
        if env_id not in gym.registry:
            gym.register(env_id, entry_point="helpers.skills:make_env", kwargs={"skill": name},
                         disable_env_checker=True, order_enforce=False)


register_envs()
