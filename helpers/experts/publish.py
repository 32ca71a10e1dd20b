"""Publishing an expert: a run's checkpoint copied to ``pretrained/<skill>/`` with its card, evaluated
on held-out seeds, through the one staged publish (:class:`helpers.core.provenance.StagedPublish`).

A fine-tuned expert also publishes the expert it started from (``start/``) and one learning curve
that joins the two, so its card can say what it cost in all and how to rebuild it from nothing.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from .. import REPO_ROOT
from ..core.checkpoints import PRETRAINED_DIR, atomic_save, atomic_write_json, verify_file
from ..core.errors import InvalidArgumentError, NotAvailableError
from ..core.provenance import StagedPublish, card_core, training_cost
from ..envs.rollouts import evaluate_policy
from ..envs.skills import get_skill
from .curriculum import CurriculumProgress
from .policy import expert_dir, load_expert

EVAL_SEED = 1000  # the cards' held-out seeds (1000..1009): no training evaluation or dataset uses them


def _read_curve(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise NotAvailableError(f"{path} has no evaluation rows yet")
    return rows


def _selection_text(best_state: dict[str, Any]) -> str:
    """How the checkpoint in a run's best/ was chosen, from its own state.json."""
    evaluations = f"{best_state['config']['eval_episodes']} episodes, seeds 10000+"
    if "confirm_episodes" in best_state["best"]:
        evaluations += f"; confirmed on {best_state['best']['confirm_episodes']} episodes, seeds 20000+"
    return f"{best_state.get('selected_by', 'highest eval_mean_return')} in the training-time evaluations ({evaluations})"


def _finetune_command(skill: str, config: dict[str, Any], stop_at: int) -> str:
    """The command that reruns a fine-tune from the starting expert published beside it."""
    parts = [f"python -m helpers.train_expert --skill {skill} --init-from pretrained/{skill}/start"]
    parts += [f"--train-env-kwarg {k}={v:g}" for k, v in config["train_env_kwargs"].items()]
    if config["speed_bonus"]:
        parts.append(f"--speed-bonus {config['speed_bonus']:g}")
    if config["replay_from"]:
        parts.append(f"--replay-from {config['replay_from']}")
    else:
        parts.append(f"--warm-start-steps {config['warm_start_steps']}")
    parts.append(f"--learning-rate {config['hyperparams']['learning_rate']:g} --eval-every {config['eval_every']} "
                 f"--steps {config['total_steps']} --stop-at {stop_at}")
    if config["replay_from"]:  # whose buffer is not committed (hundreds of MB): say how to remake it first
        replay = json.loads((Path(config["replay_from"]) / "state.json").read_text())
        parts.insert(0, f"python -m helpers.train_expert --skill {skill} --run-name {Path(config['replay_from']).name} "
                        f"--seed {replay['seed']} --steps {replay['env_steps']} &&")
    return " ".join(parts)


def _fine_tune_card(skill: str, state: dict[str, Any], init: dict[str, Any], prior: dict[str, Any],
                    run_dir: Path) -> dict[str, Any]:
    """The card's account of a fine-tune: what it started from, how it trained, what it counts, how to rerun it."""
    config = state["config"]
    return {
        "start": f"pretrained/{skill}/start", "start_model_sha256": init["model_sha256"],
        "start_env_steps": init["env_steps"], "start_wall_clock_s": init["wall_clock_s"],
        "start_command": init["command"], "env_steps": state["env_steps"], "wall_clock_s": round(state["wall_clock_s"], 1),
        **{k: config[k] for k in ("speed_bonus", "replay_from", "train_env_kwargs", "warm_start_steps")},
        "reproduce": _finetune_command(skill, config, json.loads((run_dir / "state.json").read_text())["env_steps"]),
        "counted_before": {k: prior[k] for k in ("env_steps", "wall_clock_s", "counted")},
        "note": "the card's env_steps and wall_clock_s are totals: counted_before plus the fine-tune's; progress.csv "
                "is counted_before's curve, then the fine-tune's. The speed bonus and train_env_kwargs apply in "
                "training only; the evaluation uses the skill's own reward.",
    }


def _finetune_prior(init: dict[str, Any], init_dir: Path) -> dict[str, Any]:
    """What a fine-tune stands on, counted in its card: the starting expert's training or, when it began
    from an earlier run's replay buffer, that run's (the starting expert being one of its checkpoints:
    the larger of the two is counted, not both), with the learning curve that goes with it."""
    prior = {"env_steps": init["env_steps"], "wall_clock_s": init["wall_clock_s"], "curve": init_dir / "progress.csv",
             "counted": "the starting expert's training"}
    replay = Path(init["replay_from"]) if init.get("replay_from") else None
    if replay is not None and (replay / "state.json").exists():
        rs = json.loads((replay / "state.json").read_text())
        if rs["env_steps"] >= init["env_steps"]:
            prior = {"env_steps": rs["env_steps"], "wall_clock_s": round(rs["wall_clock_s"], 1),
                     "curve": replay / "progress.csv",
                     "counted": f"the run whose replay buffer it started from ({replay}), which produced its data"}
    return prior


def _write_finetune_curve(prior_curve: Path, curve: Path, prior: dict[str, Any], out: Path) -> None:
    """One learning curve for a fine-tuned expert: the curve of what it stands on, then the fine-tune's
    evaluations shifted by those steps and that time."""
    rows = [dict(r, phase="initial") for r in (_read_curve(prior_curve) if prior_curve.exists() else [])
            if int(r["env_steps"]) <= prior["env_steps"]]
    for r in _read_curve(curve):
        rows.append(dict(r, env_steps=int(r["env_steps"]) + prior["env_steps"],
                         wall_clock_s=round(float(r["wall_clock_s"]) + prior["wall_clock_s"], 1), phase="fine-tune"))

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
            w.writeheader()
            w.writerows(rows)

    atomic_save(out, write)


def publish_expert(skill: str, run_dir: Path, command: str, eval_episodes: int = 10,
                   eval_seed: int = EVAL_SEED, checkpoint: str = "last",
                   comparisons: dict[str, Path] | None = None, out: Path | None = None) -> dict[str, Any]:
    """Copy a run's last checkpoint (or, with ``checkpoint="best"``, the one with the best
    training-time evaluation) to ``pretrained/<skill>/`` and write its card, evaluated on held-out seeds.

    ``comparisons`` ({algorithm: run folder}) adds those runs' learning curves as ``progress_<algo>.csv``:
    the measured curves behind the choice of algorithm, published next to the expert they justify.
    ``out`` publishes elsewhere than ``pretrained/<skill>/`` (e.g. ``pretrained/recovery/<skill>/``)."""
    s = get_skill(skill)
    run_dir = Path(run_dir)
    if checkpoint not in ("last", "best"):
        raise InvalidArgumentError(f"checkpoint must be 'last' or 'best', not {checkpoint!r}")
    curve = run_dir / "progress.csv"
    init_dir = run_dir / "init"  # a fine-tune's starting expert (card and curve), copied when it began
    other_curves = {}  # {algo: (path, rows)}: read before anything is copied
    for algo, other in (comparisons or {}).items():
        path = Path(other) / "progress.csv"
        if not path.exists():
            raise NotAvailableError(f"no learning curve at {path}: train the {algo} run first "
                                    f"(python -m helpers.train_expert --skill {s.name} --algo {algo} --stop-at N)")
        other_curves[algo] = path, _read_curve(path)
    if checkpoint == "best":
        if not (run_dir / "best" / "state.json").exists():
            raise NotAvailableError(f"{run_dir / 'best'} does not exist: this run has kept no best checkpoint yet "
                                    "(it is written at the first evaluation after training resumes)")
        run_dir = run_dir / "best"
        verify_file(run_dir / "state.json")
    state = json.loads((run_dir / "state.json").read_text())
    pub = StagedPublish(Path(out) if out is not None else expert_dir(s.name))
    pub.copy(verify_file(run_dir / "model.zip"))
    if state["config"]["normalize_obs"]:
        pub.copy(verify_file(run_dir / "normalize.npz"))
    init = state.get("init")
    prior = _finetune_prior(init, init_dir) if init is not None else None
    if init is not None:  # a fine-tune: publish the expert it started from beside it, so it can be rerun
        if not (init_dir / "model.zip").exists():
            raise NotAvailableError(f"{init_dir / 'model.zip'} is missing: the expert this fine-tune started from "
                                    f"(sha256 {init['model_sha256']}) must be published with it")
        for name in ("model.zip", "card.json", "progress.csv"):
            if (init_dir / name).exists():
                pub.copy(verify_file(init_dir / name), f"start/{name}")
        if curve.exists():
            _write_finetune_curve(prior["curve"], curve, prior, pub.path("progress.csv"))
    elif curve.exists():
        pub.copy(curve)
    compared = {}
    for algo, (other_curve, rows) in other_curves.items():
        pub.copy(other_curve, f"progress_{algo}.csv")
        compared[algo] = {"file": f"progress_{algo}.csv", "env_steps": int(rows[-1]["env_steps"]),
                          "wall_clock_s": round(float(rows[-1]["wall_clock_s"]), 1),
                          "best_eval_return": round(max(float(r["eval_mean_return"]) for r in rows), 1),
                          "command": (f"python -m helpers.train_expert --skill {s.name} --algo {algo} "
                                      f"--stop-at {int(rows[-1]['env_steps'])}")}
    # best/state.json is the run's state at that checkpoint; a fine-tune adds the cost of what it stands on
    env_steps = state["env_steps"] + (prior["env_steps"] if init else 0)
    wall_clock_s = state["wall_clock_s"] + (prior["wall_clock_s"] if init else 0.0)
    cost = training_cost(wall_clock_s, env_steps, "env_steps",
                         note="one process, one torch thread; wall clock of training, evaluations excluded")
    starts = state["config"].get("start_states_from") or []
    name = f"{s.name} expert" + (f" (half its training episodes start where {', '.join(starts)} leave the body)"
                                 if starts else "")
    card = card_core("expert", name, [s.name], [s.body], state["config"]["algo"], command, cost)
    card.update({
        "skill": s.name, "body": s.body, "env_id": s.env_id, "env_kwargs": s.env_kwargs, "reward": s.reward,
        "hyperparameters": state["config"]["hyperparams"], "policy_kwargs": state["config"]["policy_kwargs"],
        "n_envs": state["config"]["n_envs"], "normalize_obs": state["config"]["normalize_obs"],
        "training_seed": state["seed"], "env_steps": env_steps, "wall_clock_s": round(wall_clock_s, 1),
        **({"fine_tune": _fine_tune_card(s.name, state, init, prior, init_dir.parent)} if init else {}),
        "checkpoint": ({"kind": "best", "selected_by": _selection_text(state), "training_eval": state["best"]}
                       if checkpoint == "best" else {"kind": "last"}),
        **({"comparison_curves": compared} if compared else {}),
    })
    pub.write_card(card)  # the evaluation below runs the published files themselves, from the staging folder
    res = evaluate_policy(load_expert(s.name, pub.staging), s.name, episodes=eval_episodes, seed=eval_seed)
    reproduce_policy = "expert" if out is None else str(Path(out).resolve().relative_to(PRETRAINED_DIR.parent))
    card["evaluation"] = {"deterministic": True, "episodes": eval_episodes,
                          "seeds": list(range(eval_seed, eval_seed + eval_episodes)),
                          **{k: res[k] for k in ("mean_return", "std_return", "mean_episode_length", "metrics")}}
    card["reproduce_evaluation"] = (f"python -m helpers.evaluate --skill {s.name} --policy {reproduce_policy} "
                                    f"--episodes {eval_episodes} --seed {eval_seed} --json")
    return pub.commit(card)


ATTEMPTS_DIR = REPO_ROOT / "results" / "attempts"


def record_attempt(skill: str, run_dir: Path, command: str, out: Path | None = None) -> dict[str, Any]:
    """Keep a training run that is not published: its learning curve (``<run>.csv``) and what it was
    (``<run>.json``: the command that trains it, its config, its cost, its best evaluation and, with a
    reverse curriculum, the level reached) under ``results/attempts/<skill>/``, for notebook 02."""
    run_dir = Path(run_dir)
    if not (run_dir / "state.json").exists():
        raise NotAvailableError(f"{run_dir} is not a training run (no state.json): train it first")
    state = json.loads((run_dir / "state.json").read_text())
    if state["skill"] != get_skill(skill).name:
        raise InvalidArgumentError(f"{run_dir} trained {state['skill']!r}, not {skill!r}")
    rows = _read_curve(run_dir / "progress.csv")
    out = Path(out) if out else ATTEMPTS_DIR / state["skill"]
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "skill": state["skill"], "run": run_dir.name, "command": command, "config": state["config"],
        "env_steps": int(state["env_steps"]), "evaluations": len(rows),
        "training_cost": {"wall_clock_h": round(state["wall_clock_s"] / 3600, 2), "processes": 1,
                          "threads_per_process": 1,
                          "note": "one process, one torch thread, beside other jobs on a 2-core machine: wall "
                                  "clock of training, evaluations included"},
        "best": state.get("best"),
        "curriculum_level": CurriculumProgress(run_dir / "curriculum.json").level if state["config"].get("reverse_curriculum") else None,
    }
    atomic_save(out / f"{run_dir.name}.csv", lambda tmp: Path(tmp).write_text((run_dir / "progress.csv").read_text()))
    atomic_write_json(out / f"{run_dir.name}.json", summary)
    return summary
