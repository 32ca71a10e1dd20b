"""Run a plan of skills on one continuously simulated body, and score every switch.

    python -m helpers.run_plan --plan '[{"skill": "jump", "duration_s": 4}, {"skill": "run_forward", "duration_s": 4}]' \\
        --policy experts --seed 0 --episodes 5 --json
    python -m helpers.run_plan --plan '[{"skill": "target_speed", "target_speed": 1.5, "duration_s": 6}]' --video plan.mp4

The body is simulated through the whole plan: at each step's start the condition changes, the
simulation does not restart. ``--policy experts`` switches the published experts (notebook 03);
``recovery`` uses the experts trained to take over from other skills where they exist;
``generalist`` is the one goal-conditioned Transformer of notebook 06. The last line is one JSON
object with ``reached_rate``, ``upside_down_rate`` and ``mean_time_to_behaviour_s`` over all switches
of all episodes, and ``episodes``, each with its switches and per-step skill metrics (notebook 03's
definitions, :mod:`helpers.experts.switching`). A plan that mixes bodies, an unknown skill, a speed
outside [-3, 3] or a non-positive duration is refused, naming the problem and the valid values.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import torch

from .core.errors import CourseError, InvalidArgumentError, NotAvailableError, cli_errors
from .core.media import caption, save_video
from .envs.skills import PlanError, PlanStep, check_plan
from .experts.switching import SwitchingController, plan_references, run_plan
from .data.transitions import controller_experts

POLICIES = ("experts", "recovery", "generalist")


def parse_plan_json(text: str) -> list[PlanStep]:
    """A plan from JSON (a list of steps, or {"plan": [...]} as the translator prints it)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"--plan is not JSON ({exc.msg}): give a list of steps like "
                        '[{"skill": "run_forward", "duration_s": 4}]') from None
    if isinstance(value, dict) and "plan" in value:
        value = value["plan"]
    if not isinstance(value, list):
        raise PlanError(f"--plan must be a JSON list of steps, got a {type(value).__name__}")
    steps = [PlanStep.from_json(step) for step in value]
    check_plan(steps)
    return steps


def controller_for(policy: str):
    if policy == "generalist":
        from .models.generalist_policy import load_committed_generalist  # noqa: PLC0415 - notebook 06's model

        return load_committed_generalist().controller()
    if policy not in POLICIES:
        raise InvalidArgumentError(f"--policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    return SwitchingController(controller_experts(policy)[0])


def run(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m helpers.run_plan", description=__doc__.split("\n")[0])
    p.add_argument("--plan", required=True, help='JSON list of {"skill", "target_speed"?, "duration_s"}')
    p.add_argument("--policy", default="experts", help=" | ".join(POLICIES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--video", default=None, help="save the first episode as this mp4, the skill in force on the frames")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    args = p.parse_args(argv)
    try:
        plan = parse_plan_json(args.plan)
        if args.episodes < 1:
            raise InvalidArgumentError(f"--episodes must be >= 1, got {args.episodes}")
    except CourseError as exc:
        p.error(str(exc))
    torch.set_num_threads(args.threads)
    references = plan_references(plan, controller_experts("experts")[0])
    result = run_plan(controller_for(args.policy), plan, args.seed, args.episodes, references,
                      video_episode=0 if args.video else None)
    frames, dt = result.pop("frames"), result.pop("dt")
    if args.video:
        labels, t = [], 0.0
        for step in plan:
            for _ in range(int(round(step.duration_s / dt))):
                labels.append(f"t={t:4.1f}s  {step.label}")
                t += dt
        save_video(args.video, caption(frames, labels), fps=round(1 / dt))
        result["video"] = args.video
    result["policy"] = args.policy
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{len(plan)} steps, {result['switches']} switches: reached {result['reached_rate']}, "
              f"upside down {result['upside_down_rate']}, time to behaviour {result['mean_time_to_behaviour_s']} s")
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return cli_errors(run, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
