"""The generalist acting: one policy for every skill and body, told what to do, step by step.

    >>> gen = load_committed_generalist()                 # pretrained/generalist, checksums checked
    >>> gen.start("cheetah", "jump"); action = gen(obs)   # then gen.set_goal("run_forward") mid-episode
    >>> evaluate_policy(gen.for_skill("target_speed"), "target_speed", target_speed=1.75)
    >>> run_plan(gen.controller(), plan, ...)             # helpers.experts.switching

Acting is exact and cheap: :class:`helpers.models.dt.DTRunner` on the body's view of the model
(:meth:`helpers.models.generalist.Generalist.body_view`) does the work of three new tokens per step.
The goal token of every step says what is asked now, so a new request takes effect at the next step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.checkpoints import PRETRAINED_DIR, verify_file
from ..core.errors import InvalidArgumentError, NotAvailableError
from ..data.flat import QUALITY_LEVELS
from ..envs.skills import SKILLS, PlanStep, check_target_speed, model_of
from .dt import DTRunner
from .generalist import Generalist, goal_features, load_generalist

GENERALIST_DIR = PRETRAINED_DIR / "generalist"
GENERALIST_FILES = ("model.safetensors", "config.json", "card.json")


class GeneralistPolicy:
    """``policy(obs) -> action`` for the body and goal set by :meth:`start` (and :meth:`set_goal`)."""

    def __init__(self, model: Generalist, config: dict[str, Any], n_streams: int = 4):
        self.model, self.config, self.n_streams = model.eval(), config, n_streams
        self.runners: dict[str, DTRunner] = {}
        self.body: str | None = None
        self.goal: torch.Tensor | None = None
        self.prev_action: torch.Tensor | None = None
        self.sentence: np.ndarray | None = None
        self._io: dict[str, tuple] = {}  # per body: obs_dim, obs mean, obs std, action scale (arrays, once)

    # --- what to do ---------------------------------------------------------------------------------
    def start(self, body: str, skill: str, target_speed: float | None = None, quality: str = "expert",
              sentence: np.ndarray | None = None) -> None:
        """Begin an episode of ``body`` doing ``skill``."""
        if body not in self.model.cfg.bodies:
            raise InvalidArgumentError(f"this generalist was trained on the bodies {list(self.model.cfg.bodies)}, "
                                       f"not {body!r}")
        if body not in self.runners:
            self.runners[body] = DTRunner(self.model.body_view(body), n_streams=self.n_streams)
            norm = self.config["normalisation"][body]
            self._io[body] = (self.model.cfg.bodies[body][0], np.asarray(norm["obs_mean"], np.float32),
                              np.asarray(norm["obs_std"], np.float32),
                              np.asarray(self.config["action_scale"][body], np.float32))
        self.body, self.prev_action, self.sentence = body, None, sentence
        self.runners[body].reset()
        self.set_goal(skill, target_speed, quality)

    def set_goal(self, skill: str, target_speed: float | None = None, quality: str = "expert") -> None:
        """Ask for another skill (or speed) from the next step on, the body going on where it is."""
        if self.body is None:
            raise InvalidArgumentError("call start(body, skill) before set_goal")
        if model_of(skill) != self.body:
            raise InvalidArgumentError(f"{skill!r} runs in the {model_of(skill)} model, not in this episode's {self.body}")
        if SKILLS[skill].has_goal:
            if target_speed is None:
                raise InvalidArgumentError(f"{skill} needs a target speed in m/s")
            check_target_speed(target_speed)
        if quality not in QUALITY_LEVELS:
            raise InvalidArgumentError(f"quality must be one of {', '.join(QUALITY_LEVELS)}, got {quality!r}")
        cfg = self.model.cfg
        goal = goal_features(cfg, np.array(cfg.skills.index(skill)), np.array(np.nan if target_speed is None else target_speed),
                             np.array(QUALITY_LEVELS.index(quality)), self.sentence)
        self.goal = torch.from_numpy(goal).to(self.model.state_in.device)

    # --- acting -------------------------------------------------------------------------------------
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self.body is None or self.goal is None:
            raise InvalidArgumentError("call start(body, skill) before asking for an action")
        obs_dim, mean, std, scale = self._io[self.body]
        obs = np.asarray(obs, dtype=np.float32)[:obs_dim]  # target_speed's env appends its goal: the goal token has it
        action = self.runners[self.body].act(torch.from_numpy((obs - mean) / std), self.goal, self.prev_action)
        self.prev_action = action
        return action.cpu().numpy() * scale

    # --- the course's interfaces ----------------------------------------------------------------------
    def for_skill(self, skill: str, target_speed: float | None = None) -> "SkillPolicy":
        """A policy for :func:`helpers.envs.rollouts.evaluate_policy` on ``skill``."""
        return SkillPolicy(self, skill, target_speed)

    def controller(self) -> "PlanController":
        """A controller for :func:`helpers.experts.switching.run_schedule` (the plan runner)."""
        return PlanController(self)


class SkillPolicy:
    """The generalist doing one skill from each reset (the target speed read from the env's info)."""

    def __init__(self, generalist: GeneralistPolicy, skill: str, target_speed: float | None = None):
        self.generalist, self.skill, self.target_speed = generalist, skill, target_speed

    def reset(self, info: dict[str, Any] | None = None) -> None:
        speed = self.target_speed
        if SKILLS[self.skill].has_goal and info is not None and info.get("target_speed") is not None:
            speed = float(info["target_speed"])
        self.generalist.start(model_of(self.skill), self.skill, speed)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.generalist(obs)


class PlanController:
    """``controller(obs, step) -> action`` following a plan: a new step is a new goal, not a new episode."""

    def __init__(self, generalist: GeneralistPolicy):
        self.generalist, self.step = generalist, None

    def reset(self) -> None:
        self.step = None

    def __call__(self, obs: np.ndarray, step: PlanStep) -> np.ndarray:
        if self.step is None:
            self.generalist.start(model_of(step.skill), step.skill, step.target_speed)
        elif step != self.step:
            self.generalist.set_goal(step.skill, step.target_speed)
        self.step = step
        return self.generalist(obs)


def load_generalist_policy(directory: Path | str, verify: bool = True, n_streams: int = 4) -> GeneralistPolicy:
    d = Path(directory)
    if verify:
        for name in GENERALIST_FILES:
            verify_file(d / name)  # checksums against MANIFEST.sha256: refuse a tampered or partial folder
    model, config = load_generalist(d)
    return GeneralistPolicy(model, config, n_streams)


def load_committed_generalist() -> GeneralistPolicy:
    """``pretrained/generalist``: one checkpoint for every skill of both bodies (notebook 06)."""
    if not (GENERALIST_DIR / "card.json").exists():
        raise NotAvailableError(f"no generalist at {GENERALIST_DIR}: train and publish one with "
                                "`python -m helpers.train_generalist --publish pretrained/generalist` (notebook 06)")
    return load_generalist_policy(GENERALIST_DIR)
