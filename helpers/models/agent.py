"""The language-driven agent: instruction -> plan -> the generalist acting it out -> check and judge ->
another attempt with the judge's adjustment when it failed.

    >>> agent = Agent.load()                            # the translator, the generalist, both judges
    >>> result = agent.run("run forward for 3 seconds, then do a front flip", seed=0, retries=2)
    >>> result["checked"]["success"], result["verdict"], len(result["attempts"])

The translator's text is parsed and validated into :class:`helpers.envs.skills.PlanStep` s (never
executed); a refused or invalid instruction raises :class:`helpers.core.errors.InvalidArgumentError`
before anything moves. The plan runs on one continuously simulated body (the cheetah's skills follow
each other; a humanoid plan is one skill). Each attempt is scored by the rule verifier (the record)
and by the LM judge (which drives the loop: its ``adjustment`` changes the plan for the next attempt).
"""

from __future__ import annotations

import time
from pathlib import Path
from dataclasses import replace
from typing import Any

import numpy as np

from ..core.checkpoints import MANIFEST
from ..core.errors import InvalidArgumentError
from ..core.media import caption, save_video
from ..envs.factory import make_env
from ..envs.skills import MAX_DURATION_S, SKILLS, PlanStep, check_plan, model_of
from ..experts.switching import run_schedule
from ..language.judge import Judge, RuleVerifier, Verdict, rollout_summary
from ..language.translation import translate_batch

RECOVERY_S = 1.5  # the cheetah's "recovery step": stand still this long before the step that failed


def plan_from_answer(answer: dict[str, Any]) -> list[PlanStep]:
    """The translator's JSON answer as plan steps, or the error it carries."""
    if answer.get("error") or not answer.get("plan"):
        raise InvalidArgumentError(f"refused: {answer.get('error') or 'the translator found nothing to do'}")
    steps = [PlanStep.from_json(step) for step in answer["plan"]]
    body = check_plan(steps)
    if body == "humanoid" and len(steps) > 1:
        raise InvalidArgumentError("the humanoid's walk and stand_up run in two different MuJoCo models "
                                   "(Humanoid-v5, HumanoidStandup-v5): a humanoid plan has one step")
    return steps


def adjust(plan: list[PlanStep], verdict: Verdict) -> list[PlanStep]:
    """The next attempt's plan: the failed step longer, a standing-still step before it, or the same plan."""
    i = verdict.failed_step if verdict.failed_step is not None else len(plan) - 1
    if verdict.adjustment == "longer":
        plan = list(plan)
        plan[i] = replace(plan[i], duration_s=min(MAX_DURATION_S, round(plan[i].duration_s * 1.5, 2)))
    elif verdict.adjustment == "recovery_step" and SKILLS[plan[i].skill].body == "cheetah" and i > 0:
        plan = plan[:i] + [PlanStep("target_speed", 0.0, RECOVERY_S)] + plan[i:]
    return plan


def humanoid_trace(policy, step: PlanStep, seed: int, render: bool = False, render_size=(320, 240)) -> dict[str, Any]:
    """A one-step humanoid plan as a trace of the plan runner's shape (the env's own termination applies)."""
    kwargs = {"render_mode": "rgb_array", "width": render_size[0], "height": render_size[1]} if render else {}
    env = make_env(step.skill, **kwargs)
    dt = env.unwrapped.dt
    obs, info = env.reset(seed=seed)
    policy.start(model_of(step.skill), step.skill)
    infos, rewards, frames = [], [], []
    for _ in range(int(round(step.duration_s / dt))):
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        infos.append(info)
        rewards.append(reward)
        if render:
            frames.append(env.render())
        if terminated or truncated:
            break
    env.close()
    return {"dt": dt, "infos": infos, "segment": np.zeros(len(infos), int), "reward": np.array(rewards),
            "frames": frames, "switches": []}


class Agent:
    def __init__(self, translator, generalist, judge: Judge, verifier: Judge | None = None):
        self.translator, self.generalist, self.judge = translator, generalist, judge
        self.verifier = verifier or RuleVerifier()

    @classmethod
    def load(cls, judge: str = "lm", generalist: str | None = None, translator: str | None = None) -> "Agent":
        """The committed translator and generalist (or the folders given); the LM judge (``judge="lm"``:
        the fine-tuned one of pretrained/judge where it is committed, else SmolLM2 prompted) or the rules
        alone (``"rules"``) driving the retries."""
        from ..language.judge import JUDGE_DIR, load_lm_judge
        from ..language.translation import DEFAULT_TRANSLATOR, load_translator
        from .generalist_policy import load_committed_generalist, load_generalist_policy

        if judge not in ("lm", "rules"):
            raise InvalidArgumentError(f"judge must be 'lm' or 'rules', got {judge!r}")
        words = load_translator(translator or DEFAULT_TRANSLATOR)
        # safetensors and JSON (no pickle): a folder without a manifest (a training run's export) loads unchecked
        policy = load_committed_generalist() if not generalist else \
            load_generalist_policy(generalist, verify=(Path(generalist) / MANIFEST).exists())
        if judge == "rules":
            return cls(words, policy, RuleVerifier())
        return cls(words, policy, load_lm_judge(adapter="committed" if (JUDGE_DIR / "card.json").exists() else None))

    def rollout(self, plan: list[PlanStep], seed: int, render: bool = False) -> dict[str, Any]:
        if SKILLS[plan[0].skill].body == "cheetah":
            return run_schedule(self.generalist.controller(), plan, seed, render=render)
        return humanoid_trace(self.generalist, plan[0], seed, render=render)

    def run(self, instruction: str, seed: int = 0, retries: int = 2, video: str | None = None) -> dict[str, Any]:
        """Translate, act, check, judge, adjust and retry (up to ``retries`` more attempts)."""
        started = time.perf_counter()
        answer = translate_batch(self.translator, [instruction])[0]
        plan = plan_from_answer(answer)
        first_plan, attempts, trace = list(plan), [], None
        for attempt in range(retries + 1):
            t0 = time.perf_counter()
            trace = self.rollout(plan, seed + attempt, render=bool(video))
            summary = rollout_summary(plan, trace)
            checked = self.verifier.judge(instruction, summary)
            verdict = self.judge.judge(instruction, summary)
            attempts.append({"attempt": attempt + 1, "seed": seed + attempt, "plan": [s.to_json() for s in plan],
                             "segments": summary["steps"], "checked": checked.to_json(), "verdict": verdict.to_json(),
                             "seconds": round(time.perf_counter() - t0, 2)})
            if verdict.success or attempt == retries:
                break
            plan = adjust(plan, verdict)
        last = attempts[-1]
        if video and trace is not None:
            labels = [f"{instruction[:48]} | {plan[k].label}" for k in trace["segment"]]
            save_video(video, caption(trace["frames"], labels), fps=round(1 / trace["dt"]))
        return {"instruction": instruction, "plan": [s.to_json() for s in first_plan], "final_plan": last["plan"],
                "segments": last["segments"], "checked": last["checked"], "verdict": last["verdict"],
                "attempts": attempts, "seconds": round(time.perf_counter() - started, 2),
                **({"video": video} if video else {})}
