"""Labelled summaries for the LM judge: synthetic rollout summaries around each skill's thresholds,
labelled by the rule verifier. They tune the judge (its prompt, or a LoRA fine-tune) on a dev split;
the judge is then tested on real rollouts it never saw (``helpers.models.agent_eval``).

    >>> examples = synthetic_examples(500, seed=0)        # [(instruction, summary, Verdict), ...]

A metric is drawn on the passing side of its rule half of the time, at a distance from the bar that
is often small (the hard cases) and sometimes large, so a judge must read the numbers, not guess.
With ``far_share > 0`` that share of the metrics is drawn instead anywhere in the range real
rollouts reach (a cheetah runs several times faster than its bar, flips many times, misses a target
speed by metres a second): a judge trained only near the bars has never read such numbers and
misjudges them.
"""

from __future__ import annotations

import random
from typing import Any

from ..envs.metrics import SUCCESS_RULES
from ..envs.skills import SKILLS
from .judge import RuleVerifier, Verdict, summary_number

CHEETAH_SKILLS = [s for s in SKILLS if SKILLS[s].body == "cheetah"]
HUMANOID_SKILLS = [s for s in SKILLS if SKILLS[s].body == "humanoid"]
PHRASES = {"run_forward": "run forward", "run_backward": "run backwards", "jump": "jump", "front_flip": "do a front flip",
           "walk": "walk", "stand_up": "stand up"}
SCALES = {"mean_forward_speed": 2.0, "mean_backward_speed": 2.0, "upright_fraction": 0.3, "mean_peak_height": 0.2,
          "flips_per_episode": 1.5, "mean_abs_speed_error": 0.4, "final_torso_height": 0.5}


def step_phrase(skill: str, target_speed: float | None, duration_s: float) -> str:
    what = f"move at {target_speed:g} m/s" if skill == "target_speed" else PHRASES[skill]
    return f"{what} for {duration_s:g} seconds"


def instruction_of(steps: list[dict[str, Any]]) -> str:
    return ", then ".join(step_phrase(s["skill"], s["target_speed"], s["duration_s"]) for s in steps)


# the most a real rollout's metric lies from its bar (measured on the generalist's rollouts, with margin)
FAR = {"mean_forward_speed": 8.0, "mean_backward_speed": 8.0, "upright_fraction": 1.0, "mean_peak_height": 1.0,
       "flips_per_episode": 9.0, "mean_abs_speed_error": 7.0, "final_torso_height": 1.0}


def _metric(key: str, op: str, bar: float, passing: bool, rng: random.Random, far_share: float = 0.0) -> float:
    # distances from the bar: mostly small (where judging is hard), sometimes large; with far_share,
    # that share anywhere in the range real rollouts reach
    if far_share and rng.random() < far_share:
        distance = FAR[key] * rng.random() + 1e-3
    else:
        distance = SCALES[key] * (rng.random() ** 2) + 1e-3
    value = bar + distance if (op == ">=") == passing else bar - distance
    if key == "upright_fraction":
        value = min(1.0, max(0.0, value))
        if passing and op == ">=" and value < bar:
            value = 1.0
    if key == "flips_per_episode":
        value = float(round(value)) if passing else float(min(round(value), bar - 1))
    if key in ("mean_abs_speed_error", "final_torso_height", "mean_peak_height", "flips_per_episode"):
        value = max(0.0, value)
    return summary_number(value)


def _cheetah_skill(rng: random.Random, speed_share: float | None) -> str:
    if speed_share is None:
        return rng.choice(CHEETAH_SKILLS)
    others = [s for s in CHEETAH_SKILLS if s != "target_speed"]
    return "target_speed" if rng.random() < speed_share else rng.choice(others)


def synthetic_summary(rng: random.Random, far_share: float = 0.0, speed_share: float | None = None) -> dict[str, Any]:
    """One or two steps of a plan with metrics drawn around their rules. ``speed_share``: the share of
    cheetah steps asked for a target speed, the one rule read "at most" (None: as often as any skill)."""
    if rng.random() < 0.2:
        skills = [rng.choice(HUMANOID_SKILLS)]
    else:
        skills = [_cheetah_skill(rng, speed_share) for _ in range(rng.choice((1, 2)))]
    steps = []
    for skill in skills:
        speed = round(rng.uniform(-3, 3), 2) if SKILLS[skill].has_goal else None
        metrics = {}
        for key, op, bar in SUCCESS_RULES[skill]:
            metrics[key] = _metric(key, op, bar, rng.random() < 0.6, rng, far_share)
        if "upright_fraction" not in metrics:
            metrics["upright_fraction"] = round(rng.choice((1.0, rng.random())), 3)
        steps.append({"skill": skill, "target_speed": speed, "duration_s": float(rng.choice((2, 3, 4, 5))),
                      "metrics": metrics})
    return {"steps": steps, "dt": 0.05}


def synthetic_examples(n: int, seed: int, far_share: float = 0.0,
                       speed_share: float | None = None) -> list[tuple[str, dict[str, Any], Verdict]]:
    """``n`` (instruction, summary, the rule verifier's verdict), balanced between successes and failures."""
    rng, verifier = random.Random(seed), RuleVerifier()
    wanted = {True: n // 2, False: n - n // 2}
    out = []
    while any(wanted.values()):
        summary = synthetic_summary(rng, far_share, speed_share)
        verdict = verifier.judge("", summary)
        if wanted[verdict.success]:
            wanted[verdict.success] -= 1
            out.append((instruction_of(summary["steps"]), summary, verdict))
    rng.shuffle(out)
    return out
