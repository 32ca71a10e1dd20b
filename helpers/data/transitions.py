"""Transitions: cheetah episodes in which the requested skill changes mid-episode, for the generalist.

A dataset of one skill shows the behaviour from a reset; a generalist also has to take over from
wherever the previous skill left the body. Each episode here follows a random plan of 2-4 steps
(skill, target speed, 2-8 s each) on one continuously simulated cheetah, acted out by a switching
controller (:mod:`helpers.experts.switching`) whose experts are

* ``experts``: the published experts, as notebook 03 switches them (their failures included), or
* ``recovery``: for skills with one, an expert trained to take over from other skills' states
  (``pretrained/recovery/<skill>/``, trained with ``--start-from``), the others as published.

Every step records the skill and target speed asked for (``infos/skill_id``, ``infos/target_speed``)
and a quality label set in hindsight per step of the plan (``infos/quality_id``): ``expert`` when the
step reached its skill's behaviour (the reward over 1 s within 20% of the expert's steady state, on
the random-to-expert scale, notebook 03's rule), ``medium`` when it got at least 30% of the way,
``random`` otherwise. A Decision Transformer tells good data from bad by its return; the generalist
does by this label, so failed switches teach it what not to do rather than polluting what it imitates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core.checkpoints import PRETRAINED_DIR
from ..core.errors import InvalidArgumentError
from ..envs.factory import CommandableCheetah
from ..envs.skills import CHEETAH_SKILLS, HELD_OUT_SPEEDS, HELD_OUT_SPEED_BAND, SKILLS, TARGET_SPEED_RANGE, PlanStep
from ..experts.policy import fast_actor, load_expert
from ..experts.switching import SwitchingController, segment_reference
from .flat import QUALITY_LEVELS
from .shards import INFO_KEYS, write_shard

TRANSITIONS = "transitions"  # the "skill" of a transitions job: course/transitions/<controller>-v0
CONTROLLERS = ("experts", "recovery")
RECOVERY_DIR = PRETRAINED_DIR / "recovery"
SEGMENT_S = (2.0, 8.0)
MAX_EPISODE_STEPS = 1000  # the generalist's time embedding covers 1000 steps
SKILL_IDS = {name: i for i, name in enumerate(SKILLS)}


def check_controller(controller: str) -> str:
    if controller not in CONTROLLERS:
        raise InvalidArgumentError(f"unknown transitions controller {controller!r}; valid: {', '.join(CONTROLLERS)}")
    return controller


def allowed_speed(rng: np.random.Generator) -> float:
    """A target speed in the goal range, away from the speeds held out for evaluating the generalist."""
    while True:
        v = float(rng.uniform(*TARGET_SPEED_RANGE))
        if all(abs(v - h) > HELD_OUT_SPEED_BAND for h in HELD_OUT_SPEEDS):
            return round(v, 2)


def sample_plan(rng: np.random.Generator, dt: float) -> list[PlanStep]:
    """2-4 steps over the cheetah's skills (no skill twice in a row, except target_speed at another
    speed), 2-8 s each, at most MAX_EPISODE_STEPS in all."""
    steps, total, previous = [], 0, None
    for _ in range(int(rng.integers(2, 5))):
        choices = [s for s in CHEETAH_SKILLS if s != previous or s == "target_speed"]
        skill = str(rng.choice(choices))
        duration = round(float(rng.uniform(*SEGMENT_S)), 2)
        n = int(round(duration / dt))
        if total + n > MAX_EPISODE_STEPS:
            break
        steps.append(PlanStep(skill, allowed_speed(rng) if SKILLS[skill].has_goal else None, duration))
        total, previous = total + n, skill
    return steps


def controller_experts(controller: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The acting experts of a controller ({skill: policy}) and where each came from."""
    check_controller(controller)
    experts, sources = {}, {}
    for skill in CHEETAH_SKILLS:
        folder = RECOVERY_DIR / skill
        use_recovery = controller == "recovery" and (folder / "card.json").exists()
        experts[skill] = fast_actor(load_expert(skill, folder if use_recovery else None))
        sources[skill] = f"pretrained/recovery/{skill}" if use_recovery else f"pretrained/{skill}"
    return experts, sources


def skill_references(controller: SwitchingController, seeds=(100, 101)) -> dict[str, dict[str, float]]:
    """Each non-goal skill's steady expert reward and random floor (notebook 03's references)."""
    return {s: segment_reference(controller, PlanStep(s, None, 10.0), seeds) for s in CHEETAH_SKILLS
            if not SKILLS[s].has_goal}


def step_quality(step: PlanStep, rewards: np.ndarray, speeds: np.ndarray, refs: dict[str, dict[str, float]],
                 window: int) -> int:
    """The hindsight quality of one step of a plan (an index into QUALITY_LEVELS)."""
    smooth = np.ones(min(window, len(rewards))) / min(window, len(rewards))
    if SKILLS[step.skill].has_goal:  # reached: the speed held within 0.25 m/s over a window
        error = np.convolve(np.abs(speeds - step.target_speed), smooth, mode="valid")
        score = 1.0 if error.min() <= 0.25 else float(np.clip(1.0 - error.mean() / max(abs(step.target_speed), 1.0), 0, 1))
    else:
        ref = refs[step.skill]
        gap = max(ref["steady"] - ref["floor"], 1e-6)
        rolling = (np.convolve(rewards, smooth, mode="valid") - ref["floor"]) / gap
        score = 1.0 if rolling.max() >= 0.8 else float(np.clip(rolling.mean(), 0, 1))
    level = "expert" if score >= 1.0 else "medium" if score >= 0.3 else "random"
    return QUALITY_LEVELS.index(level)


def run_transition_episodes(job_dict: dict[str, Any], episode_ids: list[int], stage: str, worker_tag: str,
                            seed_stride: int = 1_000_000, shard_steps: int = 100_000) -> dict[str, Any]:
    """Worker: act out each episode's random plan with the job's controller; write the episodes to shards."""
    experts, _ = controller_experts(job_dict["quality"])
    controller = SwitchingController(experts)
    refs = skill_references(controller)
    env = CommandableCheetah("run_forward", max_episode_steps=10**6, disable_env_checker=True)
    dt = env.unwrapped.dt
    finished, buffered, shard_index, steps_done = [], 0, 0, 0
    for ep_id in episode_ids:
        rng = np.random.default_rng([job_dict["seed"], ep_id])
        plan = sample_plan(rng, dt)
        env.set_skill(plan[0].skill, plan[0].target_speed)
        seed = job_dict["seed"] * seed_stride + ep_id
        obs, info = env.reset(seed=seed)
        observations, actions, rewards, rows, skill_ids, qualities = [obs], [], [], [_row(info)], [], []
        for step in plan:
            env.set_skill(step.skill, step.target_speed)
            start = len(rewards)
            for _ in range(int(round(step.duration_s / dt))):
                action = controller(obs, step)
                obs, reward, _, _, info = env.step(action)
                observations.append(obs)
                actions.append(action)
                rewards.append(reward)
                rows.append(_row(info))
                skill_ids.append(SKILL_IDS[step.skill])
            speeds = np.array([r[0] for r in rows[start + 1:]])
            quality = step_quality(step, np.array(rewards[start:]), speeds, refs, window=int(round(1.0 / dt)))
            qualities += [quality] * (len(rewards) - start)
        n = len(rewards)
        infos = np.asarray(rows, dtype=np.float64)
        skill_col = np.array(skill_ids + skill_ids[-1:], dtype=np.float64)  # observation-aligned: n + 1 rows
        quality_col = np.array(qualities + qualities[-1:], dtype=np.float64)
        finished.append({
            "id": ep_id, "seed": seed, "target_speed": np.nan,
            "observations": np.asarray(observations, dtype=np.float64),
            "actions": np.asarray(actions, dtype=np.float32), "rewards": np.asarray(rewards, dtype=np.float64),
            "terminations": np.zeros(n, bool), "truncations": np.arange(n) == n - 1,
            "infos": {**{k: infos[:, j] for j, k in enumerate(INFO_KEYS)}, "skill_id": skill_col,
                      "quality_id": quality_col},
        })
        steps_done += n
        buffered += n
        if buffered >= shard_steps:
            write_shard(Path(stage) / f"shard_{worker_tag}_{shard_index:04d}.npz", finished)
            shard_index, finished, buffered = shard_index + 1, [], 0
    if finished:
        write_shard(Path(stage) / f"shard_{worker_tag}_{shard_index:04d}.npz", finished)
    env.close()
    return {"worker": worker_tag, "episodes": len(episode_ids), "steps": steps_done}


def _row(info: dict[str, Any]) -> list[float]:
    """The per-step info of a transitions episode, in INFO_KEYS order (target speed NaN when none)."""
    values = {**info, "target_speed": np.nan if info.get("target_speed") is None else info["target_speed"]}
    return [float(values.get(k, 0.0)) for k in INFO_KEYS]
