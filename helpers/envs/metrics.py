"""What an episode achieved, from its per-step ``info``: each skill's metric and a few diagnostics.

Every evaluation reports these (``metrics`` in :func:`helpers.envs.rollouts.evaluate_policy`), and
the plan runner reports them per segment, so a number means the same thing everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import InvalidArgumentError
from .skills import CHEETAH_REST_HEIGHT, Skill, get_skill


def episode_metrics(skill: str | Skill, infos: list[dict[str, Any]]) -> dict[str, float]:
    """The skill's metric (and a few diagnostics) for one episode, from its per-step infos."""
    s = skill if isinstance(skill, Skill) else get_skill(skill)
    if not infos:
        raise InvalidArgumentError("episode_metrics needs at least one step")
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
    h = np.asarray(height_above_rest, dtype=np.float64)
    from scipy.signal import find_peaks  # here: scipy.signal takes ~1 s to import, and most callers never count jumps

    peaks, _ = find_peaks(h, prominence=prominence)
    return float(h[peaks].mean()) if len(peaks) else float(max(h.max(), 0.0))


def upside_down(torso_up: np.ndarray) -> np.ndarray:
    """True where the torso is inverted: its up axis points below the horizontal."""
    return np.asarray(torso_up) < 0


# --- did it do what its name says? ----------------------------------------------------------------
# One rule per skill, on the metrics of an episode (or their mean): what the word means, measured.
# The experts' cards, notebook 02's table and the agent's rule-based verifier all use these.
SUCCESS_RULES: dict[str, list[tuple[str, str, float]]] = {
    "run_forward": [("mean_forward_speed", ">=", 1.0), ("upright_fraction", ">=", 0.9)],
    "run_backward": [("mean_backward_speed", ">=", 1.0), ("upright_fraction", ">=", 0.9)],
    "jump": [("mean_peak_height", ">=", 0.3), ("upright_fraction", ">=", 0.95)],
    "front_flip": [("flips_per_episode", ">=", 1.0)],
    "target_speed": [("mean_abs_speed_error", "<=", 0.25)],
    "walk": [("mean_forward_speed", ">=", 0.5), ("final_torso_height", ">=", 1.0)],
    "stand_up": [("final_torso_height", ">=", 1.0)],
}


def rule_holds(value: float, op: str, bar: float) -> bool:
    """One condition of :data:`SUCCESS_RULES`: ``value`` on the right side of ``bar``."""
    return bool(value >= bar if op == ">=" else value <= bar)


def skill_success(skill: str, metrics: dict[str, float]) -> tuple[bool, list[str]]:
    """Whether ``metrics`` meet the skill's rule, and for each condition a readable verdict."""
    verdicts, ok = [], True
    for key, op, bar in SUCCESS_RULES[get_skill(skill).name]:
        value = metrics[key]
        passed = rule_holds(value, op, bar)
        ok &= passed
        verdicts.append(f"{key} {value:.3g} {op} {bar:g}: {'yes' if passed else 'no'}")
    return bool(ok), verdicts
