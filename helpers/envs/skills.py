"""The skill table: the seven canonical skills of the course, their bodies, rewards and metrics.

A skill is a MuJoCo body plus a reward (and, for ``target_speed``, a goal). This module holds only
the table and its checks; the rewards are in :mod:`helpers.envs.rewards`, the env factory in
:mod:`helpers.envs.factory` and the metrics in :mod:`helpers.envs.metrics`.

    >>> SKILLS["front_flip"].metric
    'flips_per_episode'
    >>> get_skill("moonwalk")
    UnknownSkillError: unknown skill 'moonwalk'; known skills: run_forward, run_backward, ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import InvalidArgumentError

# Humanoid observations: we drop the contact/inertia/actuator blocks (348 -> 45 dims: joint positions
# without x/y, and velocities). They are mostly zeros or redundant, and dropping them makes SAC about
# 2x faster per step on a CPU and the offline datasets 8x smaller.
HUMANOID_KWARGS = dict(
    include_cinert_in_observation=False,
    include_cvel_in_observation=False,
    include_qfrc_actuator_in_observation=False,
    include_cfrc_ext_in_observation=False,
)

# The MuJoCo models the skills run on. HumanoidStandup is the humanoid in a model file of its own:
# it starts lying down, and its bodies are laid out along x (the lying pose), so its joint angles
# do not mean what the same joints mean in Humanoid-v5.
MODELS = {"cheetah": ("HalfCheetah-v5", {}), "humanoid": ("Humanoid-v5", HUMANOID_KWARGS),
          "humanoid_standup": ("HumanoidStandup-v5", HUMANOID_KWARGS)}
BODIES = ("cheetah", "humanoid")

CHEETAH_REST_HEIGHT = 0.57  # torso z (m) of HalfCheetah standing still with zero action

CHEETAH_FOOT_REST_HEIGHT = 0.11  # mean z of the two foot geoms at rest

TARGET_SPEED_RANGE = (-3.0, 3.0)  # m/s, the goal range of target_speed
# speeds no generalist training data asks for (within the band), kept to test speeds never trained on
HELD_OUT_SPEEDS = (-2.5, -1.25, 0.25, 1.75, 2.75)
HELD_OUT_SPEED_BAND = 0.15  # m/s either side

CTRL_COST = 0.1  # HalfCheetah's own control-cost weight, reused by the custom rewards

JUMP_DRIFT_COST = 2.0  # per m/s of forward or backward speed: a jump stays on the spot


@dataclass(frozen=True)
class Skill:
    """One skill: which simulator, which reward, which number says it worked."""

    name: str
    body: str  # "cheetah" or "humanoid"
    env_id: str
    description: str  # one line, usable in language prompts
    metric: str  # key in `metrics` of helpers.envs.rollouts.evaluate_policy
    metric_unit: str
    reward: str  # human-readable reward definition (documented in notebook 02)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    custom_reward: bool = False  # the reward is helpers.envs.rewards.cheetah_reward, not the env's own
    has_goal: bool = False
    higher_is_better: bool = True


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
              "max(up_z, 0) [5 (torso z - rest) + 10 (lower foot clearance)] - 2 |v| - 0.1 |a|^2",
              custom_reward=True),
        Skill("front_flip", "cheetah", "HalfCheetah-v5", "do front flips, rotating forward about the pitch axis",
              "flips_per_episode", "flips", "pitch rate (front-flip direction) - 0.1 |a|^2", custom_reward=True),
        Skill("target_speed", "cheetah", "HalfCheetah-v5", "run at a given speed, forward or backward",
              "mean_abs_speed_error", "m/s", "-|v - v*| - 0.1 |a|^2, v* in [-3, 3] m/s in the observation",
              custom_reward=True, has_goal=True, higher_is_better=False),
        Skill("walk", "humanoid", "Humanoid-v5", "walk forward on two legs without falling",
              "mean_forward_speed", "m/s", "Gymnasium default: 1.25 v + 5 alive - costs",
              env_kwargs=HUMANOID_KWARGS),
        Skill("stand_up", "humanoid", "HumanoidStandup-v5", "get up from lying on the ground and stand",
              "final_torso_height", "m", "Gymnasium default: torso height velocity-free uphill reward - costs",
              env_kwargs=HUMANOID_KWARGS),
    ]
}

CHEETAH_SKILLS = tuple(name for name, s in SKILLS.items() if s.body == "cheetah")


class UnknownSkillError(InvalidArgumentError, KeyError):
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
        raise InvalidArgumentError(f"target speed {value} m/s is outside the valid range [{low}, {high}] m/s")
    return value


# --- plans: what to do, step by step (the switching schedules, the translator's plans, the agent's) ---
DEFAULT_DURATION_S = 10.0  # a step whose instruction gives no duration (200 HalfCheetah env steps)
MAX_DURATION_S = 300.0  # longer single steps are almost certainly a misunderstanding


class PlanError(InvalidArgumentError):
    """A plan, or a plan step, that asks for something the skill table does not allow."""


@dataclass(frozen=True)
class PlanStep:
    """One step of a plan: a skill, its target speed (``target_speed`` only, in m/s) and its duration.

    Checked when it is made: an unknown skill, a speed the skill does not take (or lacks), a speed
    outside TARGET_SPEED_RANGE or a duration outside (0, MAX_DURATION_S] raises :class:`PlanError`."""

    skill: str
    target_speed: float | None = None
    duration_s: float = DEFAULT_DURATION_S

    def __post_init__(self):
        if self.skill not in SKILLS:
            raise PlanError(f"unknown skill {self.skill!r}; known skills: {', '.join(SKILLS)}")
        low, high = TARGET_SPEED_RANGE
        if SKILLS[self.skill].has_goal:
            if self.target_speed is None:
                raise PlanError(f"{self.skill} needs a target speed in m/s within [{low:g}, {high:g}]")
            speed = float(self.target_speed)
            if not (np.isfinite(speed) and low <= speed <= high):
                raise PlanError(f"target speed {speed:g} m/s is outside the valid range [{low:g}, {high:g}] m/s")
            object.__setattr__(self, "target_speed", speed)
        elif self.target_speed is not None:
            raise PlanError(f"{self.skill} takes no target speed (only target_speed does)")
        duration = float(self.duration_s)
        if not (np.isfinite(duration) and 0 < duration <= MAX_DURATION_S):
            raise PlanError(f"duration {duration:g} s is outside (0, {MAX_DURATION_S:g}] s")
        object.__setattr__(self, "duration_s", duration)

    @property
    def body(self) -> str:
        return SKILLS[self.skill].body

    @property
    def label(self) -> str:
        return self.skill if self.target_speed is None else f"{self.skill}({self.target_speed:+g})"

    def to_json(self) -> dict[str, Any]:
        return {"skill": self.skill, "target_speed": self.target_speed, "duration_s": self.duration_s}

    @classmethod
    def from_json(cls, step: Any) -> "PlanStep":
        """A step from ``{"skill", "target_speed"?, "duration_s"?}``; anything else is a :class:`PlanError`."""
        if not isinstance(step, dict) or "skill" not in step:
            raise PlanError(f"a plan step is an object with 'skill' (and 'target_speed', 'duration_s'); got {step!r}")
        unknown = set(step) - {"skill", "target_speed", "duration_s"}
        if unknown:
            raise PlanError(f"unknown plan step fields {sorted(unknown)}; valid: skill, target_speed, duration_s")
        for key in ("target_speed", "duration_s"):
            value = step.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise PlanError(f"{key} must be a number, got {value!r}")
        return cls(step["skill"], step.get("target_speed"),
                   DEFAULT_DURATION_S if step.get("duration_s") is None else step["duration_s"])


def check_plan(steps: list[PlanStep]) -> str:
    """The body a plan runs on; a plan that is empty or mixes bodies raises :class:`PlanError`."""
    if not steps:
        raise PlanError("the plan is empty: give at least one step, e.g. [{\"skill\": \"run_forward\", \"duration_s\": 4}]")
    bodies = sorted({s.body for s in steps})
    if len(bodies) > 1:
        by_body = {b: [s.skill for s in steps if s.body == b] for b in bodies}
        raise PlanError(f"the plan mixes bodies {by_body}: one plan runs on one body (cheetah skills: "
                        f"{', '.join(CHEETAH_SKILLS)}; humanoid skills: "
                        f"{', '.join(n for n, s in SKILLS.items() if s.body == 'humanoid')})")
    return bodies[0]


def model_of(skill: str) -> str:
    """The MuJoCo model (a key of MODELS) a skill runs in: stand_up's humanoid is HumanoidStandup's."""
    s = get_skill(skill)
    return next(name for name, (env_id, _) in MODELS.items() if env_id == s.env_id)
