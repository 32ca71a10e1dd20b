"""Composing experts by switching: a scheduled controller and what it costs at each switch.

A schedule is a plan: a list of :class:`~helpers.envs.skills.PlanStep` (skill, optional target
speed, duration). The controller runs one HalfCheetah (:class:`~helpers.envs.factory.CommandableCheetah`) and, at every step, asks the expert of the
segment in force for the action. Each step is scored with the *current* skill's reward, so we can
measure what happens right after a switch:

* ``time_to_behaviour_s``: how long until the new skill's reward, averaged over a 1 s window, is
  within 20% of its expert's steady state, on the scale from random actions to that steady state
  (censored at the segment's end);
* ``return_lost``: steady-state reward times the window, minus the reward actually earned, over the
  first ``window_s`` seconds after the switch (``return_lost_fraction``: the same on the
  random-to-steady scale, so 1 means "no better than random for the whole window");
* ``upside_down``: the torso spends more than 1 s inverted after the switch, beyond what the new
  skill's expert itself spends inverted (for the cheetah that is its way of falling).

The same functions score any controller that follows a schedule, so notebook 06 measures the
generalist Transformer against these numbers: :func:`run_plan` is the plan runner behind
``python -m helpers.run_plan`` (notebooks 03, 06 and 08).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..envs.factory import CommandableCheetah
from ..envs.metrics import episode_metrics, upside_down
from ..envs.rollouts import Policy
from ..envs.skills import SKILLS, PlanError, PlanStep, check_plan, get_skill


def _steps(*steps: tuple) -> list[PlanStep]:
    return [PlanStep(skill, speed, duration) for skill, speed, duration in steps]


SCHEDULES: dict[str, list[PlanStep]] = {
    "forward_to_backward": _steps(("run_forward", None, 8), ("run_backward", None, 8)),
    "backward_to_forward": _steps(("run_backward", None, 8), ("run_forward", None, 8)),
    "run_to_flip": _steps(("run_forward", None, 8), ("front_flip", None, 8)),
    "flip_to_run": _steps(("front_flip", None, 8), ("run_forward", None, 8)),
    "run_to_jump": _steps(("run_forward", None, 8), ("jump", None, 8)),
    "jump_to_run": _steps(("jump", None, 8), ("run_forward", None, 8)),
    "speed_up_and_down": _steps(("target_speed", 1.0, 6), ("target_speed", 3.0, 6), ("target_speed", -1.0, 6),
                                ("target_speed", 2.0, 6), ("target_speed", 0.0, 6)),
}


class SwitchingController:
    """Route each step to the expert of the skill in force (target speed appended for its expert)."""

    def __init__(self, experts: dict[str, Policy]):
        self.experts = experts

    def __call__(self, obs: np.ndarray, segment: PlanStep) -> np.ndarray:
        if segment.skill not in self.experts:
            raise KeyError(f"no expert for {segment.skill!r}; have: {', '.join(self.experts)}")
        if get_skill(segment.skill).has_goal:
            obs = np.append(obs, segment.target_speed)
        return self.experts[segment.skill](obs)


def run_schedule(controller: Callable[[np.ndarray, PlanStep], np.ndarray], schedule: Sequence[PlanStep],
                 seed: int, render: bool = False, render_size: tuple[int, int] = (320, 240)) -> dict[str, Any]:
    """Run one episode that follows ``schedule``; returns per-step arrays and switch indices."""
    first = schedule[0]
    if check_plan(list(schedule)) != "cheetah":
        raise PlanError(f"the plan runner simulates the cheetah, whose skills can follow each other on one body; "
                        f"{first.skill} is a {SKILLS[first.skill].body} skill")
    kwargs = {"render_mode": "rgb_array", "width": render_size[0], "height": render_size[1]} if render else {}
    env = CommandableCheetah(first.skill, first.target_speed, max_episode_steps=10**6, **kwargs)
    dt = env.unwrapped.dt
    obs, _ = env.reset(seed=seed)
    if hasattr(controller, "reset"):
        controller.reset()
    rewards, vx, pitch, up, height, seg_index, frames, infos = [], [], [], [], [], [], [], []
    switches = []
    for k, seg in enumerate(schedule):
        env.set_skill(seg.skill, seg.target_speed)
        if k:
            switches.append(len(rewards))
        for _ in range(int(round(seg.duration_s / dt))):
            action = controller(obs, seg)
            obs, reward, _, _, info = env.step(action)
            rewards.append(reward)
            vx.append(info["x_velocity"])
            pitch.append(info["pitch"])
            up.append(info["torso_up"])
            height.append(info["torso_height"])
            infos.append(info)
            seg_index.append(k)
            if render:
                frames.append(env.render())
    env.close()
    return {"dt": dt, "schedule": list(schedule), "switches": switches, "reward": np.array(rewards),
            "x_velocity": np.array(vx), "pitch": np.array(pitch), "torso_up": np.array(up), "torso_height": np.array(height),
            "segment": np.array(seg_index), "frames": frames, "infos": infos}


def segment_reference(controller, segment: PlanStep, seeds: Sequence[int], settle_s: float = 3.0,
                      duration_s: float = 10.0) -> dict[str, float]:
    """What a segment looks like when its expert runs it from a reset, and what random actions earn.

    ``steady``: the expert's mean per-step reward after ``settle_s`` seconds; ``floor``: the same for
    uniform random actions; ``inverted_fraction``: how much of the time the expert's own gait is upside
    down (the jump and the flip spend time inverted, so being inverted is no failure for them).
    """
    def random_controller(obs, seg, rng=np.random.default_rng(0)):
        return rng.uniform(-1.0, 1.0, size=6)

    one = [PlanStep(segment.skill, segment.target_speed, duration_s)]
    start = None
    steady, floor, inverted = [], [], []
    for seed in seeds:
        trace = run_schedule(controller, one, seed)
        start = int(round(settle_s / trace["dt"]))
        steady.append(trace["reward"][start:].mean())
        inverted.append(upside_down(trace["torso_up"][start:]).mean())
        floor.append(run_schedule(random_controller, one, seed)["reward"][start:].mean())
    return {"steady": float(np.mean(steady)), "floor": float(np.mean(floor)),
            "inverted_fraction": float(np.mean(inverted))}


def switch_metrics(trace: dict[str, Any], references: dict[str, dict[str, float]], window_s: float = 3.0,
                   smooth_s: float = 1.0, tolerance: float = 0.2) -> list[dict[str, Any]]:
    """Score every switch of a trace (see the module docstring).

    ``references`` maps segment labels to :func:`segment_reference` results. Rewards are measured on
    the scale from random (0) to the expert's steady state (1), so skills with very different reward
    sizes (a sprint and a -|v - v*| target) are comparable.
    """
    dt = trace["dt"]
    reward = trace["reward"]
    smooth = max(1, int(round(smooth_s / dt)))
    window = int(round(window_s / dt))
    out = []
    for k, start in enumerate(trace["switches"], start=1):
        prev, seg = trace["schedule"][k - 1], trace["schedule"][k]
        end = start + int(np.sum(trace["segment"] == k))
        ref = references[seg.label]
        gap = max(ref["steady"] - ref["floor"], 1e-6)
        seg_reward = reward[start:end]
        rolling = np.convolve(seg_reward, np.ones(smooth) / smooth, mode="valid")
        reached = np.nonzero(rolling >= ref["steady"] - tolerance * gap)[0]
        t_reach = float((reached[0] + smooth) * dt) if len(reached) else float((end - start) * dt)
        n = min(window, end - start)
        lost = float(ref["steady"] * n - seg_reward[:n].sum())
        inverted = upside_down(trace["torso_up"][start:end])
        out.append({
            "from": prev.label, "to": seg.label,
            "time_to_behaviour_s": t_reach,
            "reached": bool(len(reached)),
            "return_lost": lost,
            "return_lost_fraction": lost / (gap * n),
            # a fall is time upside down beyond what the new skill's own expert spends so
            "upside_down": bool(inverted.sum() * dt > 1.0 + ref["inverted_fraction"] * (end - start) * dt),
        })
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Mean over switches (and seeds) of each switch metric."""
    return {
        "switches": len(rows),
        "mean_time_to_behaviour_s": float(np.mean([r["time_to_behaviour_s"] for r in rows])),
        "never_reached_rate": float(np.mean([not r["reached"] for r in rows])),
        "mean_return_lost": float(np.mean([r["return_lost"] for r in rows])),
        "mean_return_lost_fraction": float(np.mean([r["return_lost_fraction"] for r in rows])),
        "upside_down_rate": float(np.mean([r["upside_down"] for r in rows])),
    }


def segment_metrics(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """Each plan step's own skill metrics (helpers.envs.metrics), measured on its stretch of the trace."""
    out = []
    for k, step in enumerate(trace["schedule"]):
        infos = [info for info, seg in zip(trace["infos"], trace["segment"]) if seg == k]
        out.append({"skill": step.skill, "target_speed": step.target_speed, "duration_s": step.duration_s,
                    "metrics": episode_metrics(step.skill, infos) if infos else {}})
    return out


def plan_references(plan: Sequence[PlanStep], experts: dict[str, Policy], seeds=(100, 101, 102)) -> dict[str, dict]:
    """Notebook 03's yardsticks for every step of ``plan``: the experts' steady state and random's floor."""
    controller = SwitchingController(experts)
    return {step.label: segment_reference(controller, step, seeds) for step in {s.label: s for s in plan}.values()}


def run_plan(controller, plan: Sequence[PlanStep], seed: int, episodes: int,
             references: dict[str, dict[str, float]], video_episode: int | None = None,
             render_size: tuple[int, int] = (320, 240)) -> dict[str, Any]:
    """Run ``plan`` ``episodes`` times on one continuously simulated body (episode i seeded seed + i)
    and score every switch by notebook 03's rules. The contract of ``python -m helpers.run_plan``."""
    plan = list(plan)
    check_plan(plan)
    eps, rows, frames, dt = [], [], [], None
    for i in range(episodes):
        trace = run_schedule(controller, plan, seed + i, render=video_episode == i, render_size=render_size)
        switches = switch_metrics(trace, references)
        rows += switches
        dt = trace["dt"]
        if video_episode == i:
            frames = trace["frames"]
        eps.append({"seed": seed + i, "switches": switches, "segments": segment_metrics(trace),
                    "return": float(trace["reward"].sum())})
    result = {"plan": [s.to_json() for s in plan], "episodes": eps, "switches": len(rows),
              "reached_rate": float(np.mean([r["reached"] for r in rows])) if rows else None,
              "upside_down_rate": float(np.mean([r["upside_down"] for r in rows])) if rows else None,
              "mean_time_to_behaviour_s": float(np.mean([r["time_to_behaviour_s"] for r in rows])) if rows else None}
    return {**result, "frames": frames, "dt": dt}
