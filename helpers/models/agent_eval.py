"""Measuring the agent (notebook 08): real rollouts labelled by the rule verifier for the judge's
agreement, and end-to-end success on instructions the translator and judge were not tuned on.

    >>> cases = labelled_rollouts(generalist, asked_plans, n=200, seed=1000)   # half successes, half failures
    >>> agreement(judge, cases)                    # accuracy, Cohen's kappa, the confusion table
    >>> end_to_end(agent, examples, seed=2000)     # first-try and within-N-attempts success

A labelled rollout asks for one plan and, for the failures, deliberately runs another: the wrong
skill, the wrong speed, or random actions (a fall for the humanoid, flailing for the cheetah). Its
summary is always of the plan *asked*, so the verifier's label says whether the asked plan was done.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..core.errors import InvalidArgumentError
from ..envs.metrics import SUCCESS_RULES
from ..envs.skills import SKILLS, PlanStep, check_target_speed
from ..experts.switching import run_schedule
from ..language.judge import Judge, RuleVerifier, rollout_summary
from ..language.plans import PlanError, parse_plan
from .agent import humanoid_trace

CORRUPTIONS = ("none", "wrong_skill", "wrong_speed", "random_actions")


@dataclass
class LabelledRollout:
    instruction: str
    asked: list[PlanStep]
    executed: list[PlanStep]
    corruption: str
    seed: int
    summary: dict[str, Any]
    label: bool  # the rule verifier's verdict on the asked plan


class RandomSegments:
    """A plan controller that acts at random on the steps listed, and defers to ``inner`` elsewhere."""

    def __init__(self, inner, random_steps: set[int], plan: list[PlanStep], seed: int, act_dim: int):
        self.inner, self.random_steps, self.plan = inner, random_steps, plan
        self.rng, self.act_dim = np.random.default_rng(seed), act_dim

    def reset(self):
        self.inner.reset()

    def __call__(self, obs, step):
        k = self.plan.index(step)
        return self.rng.uniform(-1, 1, self.act_dim) if k in self.random_steps else self.inner(obs, step)


class RandomHumanoid:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def start(self, *args, **kwargs):
        pass

    def __call__(self, obs):
        return self.rng.uniform(-0.4, 0.4, 17)  # Humanoid-v5's action bounds


def corrupt(plan: list[PlanStep], kind: str, rng: random.Random) -> tuple[list[PlanStep], set[int]]:
    """The plan actually run for a deliberately wrong rollout, and which steps act at random."""
    if kind == "none":
        return list(plan), set()
    k = rng.randrange(len(plan))
    step = plan[k]
    if kind == "random_actions":
        return list(plan), {k}
    if kind == "wrong_speed" and step.skill == "target_speed":
        wrong = step.target_speed + rng.choice((-1, 1)) * rng.uniform(0.75, 2.0)
        wrong = float(np.clip(wrong, -3.0, 3.0)) if abs(np.clip(wrong, -3, 3) - step.target_speed) > 0.5 \
            else step.target_speed - np.sign(step.target_speed or 1) * 1.5
        check_target_speed(wrong)
        executed = list(plan)
        executed[k] = replace(step, target_speed=round(float(wrong), 2))
        return executed, set()
    body = SKILLS[step.skill].body
    others = [s for s in SKILLS if SKILLS[s].body == body and s != step.skill]
    if body == "humanoid":  # walk and stand_up live in different models: a wrong humanoid skill is random actions
        return list(plan), {k}
    other = rng.choice(others)
    executed = list(plan)
    executed[k] = PlanStep(other, round(rng.uniform(-2.0, 2.0), 2) if SKILLS[other].has_goal else None, step.duration_s)
    return executed, set()


def run_rollout(generalist, asked: list[PlanStep], executed: list[PlanStep], random_steps: set[int], seed: int):
    """The trace of ``executed`` (the generalist, at random on ``random_steps``)."""
    if SKILLS[asked[0].skill].body == "cheetah":
        controller = RandomSegments(generalist.controller(), random_steps, executed, seed, act_dim=6)
        return run_schedule(controller, executed, seed)
    policy = RandomHumanoid(seed) if random_steps else generalist
    return humanoid_trace(policy, executed[0], seed)


def runnable_examples(examples, max_steps: int = 2) -> list[tuple[str, str]]:
    """(instruction, plan text) of the generated examples whose reference plan is one the agent can
    run: in scope, valid (a speed the skill table allows), at most ``max_steps`` cheetah steps or one
    humanoid step (walk and stand_up are two MuJoCo models)."""
    out = []
    for e in examples:
        try:
            steps = parse_plan(e.plan)
        except PlanError:  # out of scope or out of range: the translator's refusals, not the agent's
            continue
        bodies = {SKILLS[s.skill].body for s in steps}
        if bodies == {"cheetah"} and len(steps) <= max_steps or bodies == {"humanoid"} and len(steps) == 1:
            out.append((e.instruction, e.plan))
    return out


def labelled_rollouts(generalist, asked_plans: list[tuple[str, str]], n: int, seed: int,
                      progress: bool = True) -> list[LabelledRollout]:
    """``n`` rollouts, half of them successes by the verifier and half failures (see the module docstring).

    ``asked_plans``: (instruction, plan text) pairs; each rollout draws one, and a corruption for the failures."""
    rng, verifier = random.Random(seed), RuleVerifier()
    wanted = {True: n // 2, False: n - n // 2}
    out, attempt = [], 0
    bar = tqdm(total=n, desc="labelled rollouts", disable=not progress)
    while any(wanted.values()):
        instruction, text = rng.choice(asked_plans)
        asked = parse_plan(text)
        kind = "none" if wanted[True] and rng.random() < 0.5 else rng.choice(CORRUPTIONS[1:])
        executed, random_steps = corrupt(asked, kind, rng)
        trace = run_rollout(generalist, asked, executed, random_steps, seed + attempt)
        summary = rollout_summary(asked, trace)
        label = verifier.judge(instruction, summary).success
        attempt += 1
        if wanted[label]:
            wanted[label] -= 1
            out.append(LabelledRollout(instruction, asked, executed, kind, seed + attempt - 1, summary, label))
            bar.update()
        if attempt > 20 * n:
            raise RuntimeError(f"could not balance {n} labelled rollouts (still wanted {wanted}): is the generalist trained?")
    bar.close()
    return out


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Agreement beyond chance between two binary raters."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    observed = float((a == b).mean())
    expected = float(a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean()))
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def agreement(judge: Judge, rollouts: list[LabelledRollout], progress: bool = True) -> dict[str, Any]:
    """How often ``judge`` agrees with the verifier's labels, its kappa, and the confusion table."""
    predicted = [judge.judge(r.instruction, r.summary).success
                 for r in tqdm(rollouts, desc="judging", disable=not progress)]
    labels = np.array([r.label for r in rollouts])
    predicted = np.array(predicted)
    by_corruption = {k: float((predicted[[r.corruption == k for r in rollouts]] ==
                               labels[[r.corruption == k for r in rollouts]]).mean())
                     for k in CORRUPTIONS if any(r.corruption == k for r in rollouts)}
    # "at most" rules (target_speed's speed error) are read far worse than "at least" ones: kept apart
    at_most = np.array([any(op == "<=" for step in r.summary["steps"] for _, op, _ in SUCCESS_RULES[step["skill"]])
                        for r in rollouts], dtype=bool)
    by_rule_kind = {name: {"n": int(m.sum()), "accuracy": float((predicted[m] == labels[m]).mean())}
                    for name, m in (("with_an_at_most_rule", at_most), ("at_least_rules_only", ~at_most)) if m.any()}
    return {"n": len(rollouts), "accuracy": float((predicted == labels).mean()), "kappa": cohen_kappa(labels, predicted),
            "accuracy_by_rule_kind": by_rule_kind,
            "confusion": {"verifier_success_judge_success": int((labels & predicted).sum()),
                          "verifier_success_judge_failure": int((labels & ~predicted).sum()),
                          "verifier_failure_judge_success": int((~labels & predicted).sum()),
                          "verifier_failure_judge_failure": int((~labels & ~predicted).sum())},
            "accuracy_by_corruption": by_corruption, "predicted": predicted.tolist()}


def plans_match(got: list[dict[str, Any]], want: list[PlanStep], tolerance: float = 0.05) -> bool:
    """The translated plan asks for what the reference plan does (skills, speeds within 0.05 m/s, durations)."""
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if g["skill"] != w.skill or abs(g["duration_s"] - w.duration_s) > tolerance:
            return False
        if (g["target_speed"] is None) != (w.target_speed is None):
            return False
        if w.target_speed is not None and abs(g["target_speed"] - w.target_speed) > tolerance:
            return False
    return True


def end_to_end(agent, examples: list[tuple[str, str]], seed: int, retries: int = 2, progress: bool = True) -> dict[str, Any]:
    """Each instruction through the agent: success by the verifier on the first attempt and within
    ``retries + 1``, counted only where the translator's plan is the reference plan (a rollout of the
    wrong plan is a failure however well it went)."""
    rows = []
    for i, (instruction, text) in enumerate(tqdm(examples, desc="agent", disable=not progress)):
        want = parse_plan(text)
        try:
            result = agent.run(instruction, seed=seed + 10 * i, retries=retries)
        except InvalidArgumentError as exc:  # a refusal is a failure of this instruction, recorded
            rows.append({"instruction": instruction, "steps": len(want), "plan_ok": False, "first": False,
                         "within": False, "attempts": 0, "error": str(exc)})
            continue
        ok = plans_match(result["plan"], want)
        checks = [a["checked"]["success"] for a in result["attempts"]]
        rows.append({"instruction": instruction, "steps": len(want), "plan_ok": ok, "first": ok and checks[0],
                     "within": ok and any(checks), "attempts": len(checks), "seconds": result["seconds"],
                     "failure_mode": result["attempts"][0]["checked"]["failure_mode"],
                     "judge_first": result["attempts"][0]["verdict"]["success"]})

    def rate(key, steps):
        sel = [r[key] for r in rows if (r["steps"] == 1) == (steps == 1)]
        return float(np.mean(sel)) if sel else float("nan")

    return {"n": len(rows), "single_first_try": rate("first", 1), "single_within": rate("within", 1),
            "multi_first_try": rate("first", 2), "multi_within": rate("within", 2),
            "plan_accuracy": float(np.mean([r["plan_ok"] for r in rows])), "retries": retries, "rows": rows}
