"""Composing experts by switching: a scheduled controller and what it costs at each switch.

A schedule is a list of segments (skill, optional target speed, duration). The controller runs one
HalfCheetah (:class:`~helpers.skills.CommandableCheetah`) and, at every step, asks the expert of the
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
generalist Transformer against these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .skills import CommandableCheetah, get_skill

Policy = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Segment:
    skill: str
    duration_s: float
    target_speed: float | None = None

    @property
    def label(self) -> str:
        return self.skill if self.target_speed is None else f"{self.skill}({self.target_speed:+g})"


SCHEDULES: dict[str, list[Segment]] = {
    "forward_to_backward": [Segment("run_forward", 8), Segment("run_backward", 8)],
    "backward_to_forward": [Segment("run_backward", 8), Segment("run_forward", 8)],
    "run_to_flip": [Segment("run_forward", 8), Segment("front_flip", 8)],
    "flip_to_run": [Segment("front_flip", 8), Segment("run_forward", 8)],
    "run_to_jump": [Segment("run_forward", 8), Segment("jump", 8)],
    "jump_to_run": [Segment("jump", 8), Segment("run_forward", 8)],
    "speed_up_and_down": [Segment("target_speed", 6, 1.0), Segment("target_speed", 6, 3.0),
                          Segment("target_speed", 6, -1.0), Segment("target_speed", 6, 2.0),
                          Segment("target_speed", 6, 0.0)],
}


class SwitchingController:
    """Route each step to the expert of the skill in force (target speed appended for its expert)."""

    def __init__(self, experts: dict[str, Policy]):
        self.experts = experts

    def __call__(self, obs: np.ndarray, segment: Segment) -> np.ndarray:
        if segment.skill not in self.experts:
            raise KeyError(f"no expert for {segment.skill!r}; have: {', '.join(self.experts)}")
        if get_skill(segment.skill).has_goal:
            obs = np.append(obs, segment.target_speed)
        return self.experts[segment.skill](obs)


def run_schedule(controller: Callable[[np.ndarray, Segment], np.ndarray], schedule: Sequence[Segment],
                 seed: int, render: bool = False, render_size: tuple[int, int] = (320, 240)) -> dict[str, Any]:
    """Run one episode that follows ``schedule``; returns per-step arrays and switch indices."""
    first = schedule[0]
    kwargs = {"render_mode": "rgb_array", "width": render_size[0], "height": render_size[1]} if render else {}
    env = CommandableCheetah(first.skill, first.target_speed, max_episode_steps=10**6, **kwargs)
    dt = env.unwrapped.dt
    obs, _ = env.reset(seed=seed)
    if hasattr(controller, "reset"):
        controller.reset()
    rewards, vx, pitch, height, seg_index, frames = [], [], [], [], [], []
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
            height.append(info["torso_height"])
            seg_index.append(k)
            if render:
                frames.append(env.render())
    env.close()
    return {"dt": dt, "schedule": list(schedule), "switches": switches, "reward": np.array(rewards),
            "x_velocity": np.array(vx), "pitch": np.array(pitch), "torso_height": np.array(height),
            "segment": np.array(seg_index), "frames": frames}


def segment_reference(controller, segment: Segment, seeds: Sequence[int], settle_s: float = 3.0,
                      duration_s: float = 10.0) -> dict[str, float]:
    """What a segment looks like when its expert runs it from a reset, and what random actions earn.

    ``steady``: the expert's mean per-step reward after ``settle_s`` seconds; ``floor``: the same for
    uniform random actions; ``inverted_fraction``: how much of the time the expert's own gait is upside
    down (the jump and the flip spend time inverted, so being inverted is no failure for them).
    """
    def random_controller(obs, seg, rng=np.random.default_rng(0)):
        return rng.uniform(-1.0, 1.0, size=6)

    one = [Segment(segment.skill, duration_s, segment.target_speed)]
    start = None
    steady, floor, inverted = [], [], []
    for seed in seeds:
        trace = run_schedule(controller, one, seed)
        start = int(round(settle_s / trace["dt"]))
        steady.append(trace["reward"][start:].mean())
        inverted.append(upside_down(trace["pitch"][start:]).mean())
        floor.append(run_schedule(random_controller, one, seed)["reward"][start:].mean())
    return {"steady": float(np.mean(steady)), "floor": float(np.mean(floor)),
            "inverted_fraction": float(np.mean(inverted))}


def upside_down(pitch: np.ndarray) -> np.ndarray:
    """True where the cheetah's torso is inverted (pitch more than 90 degrees from upright)."""
    return np.cos(pitch) < 0


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
        inverted = upside_down(trace["pitch"][start:end])
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
