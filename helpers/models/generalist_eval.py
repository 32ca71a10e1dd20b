"""How good is the generalist? Expert-normalised scores per skill, speeds it never trained on, and the
switches of notebook 03; and the card it is published with.

The score of a skill is JAT's: ``(R - R_random) / (R_expert - R_random)``, with the expert's and
random actions' returns measured here on the same held-out seeds (1000+), so 1.0 is "as good as the
expert it learned from" and 0.0 "no better than random". Across skills we report the interquartile
mean (IQM: the mean of the middle 50% of all episode scores, rliable's recommendation for few tasks)
with a 95% bootstrap confidence interval.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..core.provenance import StagedPublish, card_core, training_cost
from ..envs.factory import make_env
from ..envs.metrics import skill_success
from ..envs.rollouts import RandomPolicy, evaluate_policy
from ..envs.skills import HELD_OUT_SPEEDS, SKILLS
from ..experts.policy import load_expert
from ..experts.switching import SCHEDULES, SwitchingController, plan_references, run_plan
from .generalist import load_generalist
from .generalist_policy import GENERALIST_FILES, GeneralistPolicy

EVAL_SEED = 1000  # held out: no training evaluation, dataset or tuning uses seeds 1000+


def iqm(values: np.ndarray) -> float:
    """Interquartile mean: the mean of the values between the 25th and 75th percentiles."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    lo, hi = int(np.floor(0.25 * len(v))), int(np.ceil(0.75 * len(v)))
    return float(v[lo:max(hi, lo + 1)].mean())


def bootstrap_ci(values: np.ndarray, stat=np.mean, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of ``stat`` over ``values``."""
    rng = np.random.default_rng(seed)
    v = np.asarray(values, dtype=np.float64)
    draws = [stat(v[rng.integers(0, len(v), len(v))]) for _ in range(n)]
    return float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))


def skill_scores(policy_for, skills: list[str], episodes: int, seed: int = EVAL_SEED,
                 baselines: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Per-skill evaluation of ``policy_for(skill)`` with expert-normalised scores per episode.

    ``baselines`` (expert and random returns per skill, per episode) are measured when not given."""
    baselines = dict(baselines or {})
    rows, all_scores = {}, []
    for skill in skills:
        if skill not in baselines:
            expert = evaluate_policy(load_expert(skill), skill, episodes=episodes, seed=seed)
            rand = evaluate_policy(RandomPolicy(make_env(skill).action_space, seed), skill, episodes=episodes, seed=seed)
            baselines[skill] = {"expert_returns": expert["returns"], "random_returns": rand["returns"],
                                "expert_metrics": expert["metrics"]}
        res = evaluate_policy(policy_for(skill), skill, episodes=episodes, seed=seed)
        b = baselines[skill]
        gap = np.maximum(np.asarray(b["expert_returns"]) - np.asarray(b["random_returns"]), 1e-6)
        scores = (np.asarray(res["returns"]) - np.asarray(b["random_returns"])) / gap
        all_scores += scores.tolist()
        ok, verdicts = skill_success(skill, res["metrics"])
        rows[skill] = {"score": float(scores.mean()), "score_ci95": bootstrap_ci(scores),
                       "mean_return": res["mean_return"], "expert_return": float(np.mean(b["expert_returns"])),
                       "random_return": float(np.mean(b["random_returns"])), "metrics": res["metrics"],
                       "expert_metrics": b["expert_metrics"], "does_what_it_says": ok, "rule": verdicts,
                       "episode_scores": scores.tolist()}
    all_scores = np.asarray(all_scores)
    return {"episodes": episodes, "seeds": list(range(seed, seed + episodes)), "skills": rows,
            "iqm": iqm(all_scores), "iqm_ci95": bootstrap_ci(all_scores, iqm),
            "min_skill_score": min(r["score"] for r in rows.values()), "baselines": baselines}


def held_out_speeds(gen: GeneralistPolicy, episodes: int = 3, seed: int = EVAL_SEED,
                    speeds=HELD_OUT_SPEEDS) -> dict[str, Any]:
    """Speed-tracking error at the speeds no training data asked for, beside the target_speed expert's."""
    expert = load_expert("target_speed")
    rows = []
    for v in speeds:
        g = evaluate_policy(gen.for_skill("target_speed", v), "target_speed", episodes=episodes, seed=seed, target_speed=v)
        e = evaluate_policy(expert, "target_speed", episodes=episodes, seed=seed, target_speed=v)
        rows.append({"target_speed": v, "generalist_error": g["metrics"]["mean_abs_speed_error"],
                     "expert_error": e["metrics"]["mean_abs_speed_error"],
                     "generalist_speed": g["metrics"]["mean_forward_speed"]})
    return {"speeds": rows, "mean_error": float(np.mean([r["generalist_error"] for r in rows])),
            "expert_mean_error": float(np.mean([r["expert_error"] for r in rows]))}


def switching(gen: GeneralistPolicy, episodes: int, seed: int = 0, schedules: dict | None = None) -> dict[str, Any]:
    """Notebook 03's schedules, the generalist against switching experts, same seeds, same rules."""
    schedules = schedules or SCHEDULES
    experts = {s: load_expert(s) for s in {step.skill for plan in schedules.values() for step in plan}}
    out = {}
    for name, plan in schedules.items():
        refs = plan_references(plan, experts)
        by = {"generalist": run_plan(gen.controller(), plan, seed, episodes, refs),
              "experts": run_plan(SwitchingController(experts), plan, seed, episodes, refs)}
        out[name] = {who: {k: r[k] for k in ("reached_rate", "upside_down_rate", "mean_time_to_behaviour_s")}
                     for who, r in by.items()}
    return out


def publish(run_dir: Path | str, out: Path | str, command: str, episodes: int = 20) -> dict[str, Any]:
    """Publish a finished run's generalist to ``out`` with a card evaluated on held-out seeds."""
    run_dir = Path(run_dir)
    state = json.loads((run_dir / "state.json").read_text())
    pub = StagedPublish(Path(out))
    for name in ("model.safetensors", "config.json"):
        pub.copy(run_dir / "export" / name)
    pub.copy(run_dir / "progress.csv")
    model, config = load_generalist(pub.staging)
    gen = GeneralistPolicy(model, config)
    scores = skill_scores(lambda s: gen.for_skill(s), list(SKILLS), episodes)
    speeds = held_out_speeds(gen)
    cost = training_cost(state["train_seconds"], state["step"], "optimizer_steps", processes=state["world_size"],
                         threads_per_process=state.get("threads", 1),
                         note="wall clock of the optimisation steps; evaluation excluded")
    evaluation = {k: scores[k] for k in ("episodes", "seeds", "iqm", "iqm_ci95", "min_skill_score")}
    evaluation["skills"] = {s: {k: v for k, v in r.items() if k != "episode_scores"} for s, r in scores["skills"].items()}
    evaluation["held_out_speeds"] = speeds
    card = card_core("generalist", "goal-conditioned generalist (one Transformer, every skill, both bodies)",
                     list(SKILLS), sorted({s.body for s in SKILLS.values()}),
                     "goal-conditioned Decision Transformer, offline, per-body projections", command, cost, evaluation)
    card.update({"model": config["model"], "parameters": sum(p.numel() for p in model.parameters()),
                 "data": {"root": config["training"]["root"], "mixture": state["mixture"], **state["data"]},
                 "training": {"steps": state["step"], "samples": state["samples"], "config": config["training"]},
                 "held_out_speeds": config["held_out_speeds"],
                 "reproduce_evaluation": "python -m helpers.evaluate --policy generalist --skill SKILL "
                                         f"--episodes {episodes} --seed {EVAL_SEED} --json"})
    return pub.commit(card)


__all__ = ["GENERALIST_FILES", "bootstrap_ci", "held_out_speeds", "iqm", "publish", "skill_scores", "switching"]
