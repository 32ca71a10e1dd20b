"""Run profiles: one place that turns PROFILE = "smoke" | "cpu" | "gpu" into budgets.

Every notebook's parameters cell sets PROFILE and nothing else; the notebook then calls
``budget = profile_budget("NN_name", PROFILE)`` and reads its numbers from the returned dict.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import REPO_ROOT
from ..core.errors import InvalidArgumentError, NotAvailableError
from ..core.provenance import machine_info

PROFILES = ("smoke", "cpu", "gpu")
PROFILE_HELP = {
    "smoke": "CI: seconds to a minute or two a notebook; proves the pipeline runs and results are sane",
    "cpu": "a laptop: real results in minutes to tens of minutes; reuses committed checkpoints",
    "gpu": "full scale: millions of steps, GPT-2 Medium, one CUDA GPU",
}

# Budgets per notebook and profile. Keys are the notebook stem (e.g. "00_setup_and_tour").
BUDGETS: dict[str, dict[str, dict[str, Any]]] = {
    "00_setup_and_tour": {
        "smoke": {"video_steps": 30, "speed_seconds": 0.5, "render_size": (160, 120)},
        "cpu": {"video_steps": 150, "speed_seconds": 3.0, "render_size": (320, 240)},
        "gpu": {"video_steps": 300, "speed_seconds": 5.0, "render_size": (480, 360)},
    },
    "07_gpt2_instruction_translator": {
        # eval_examples: per split, for re-measuring the shipped translator (None: whole splits; the cards
        # hold the whole-split numbers); demo_*: the LoRA run the notebook does itself (smoke: a tiny random
        # Llama; cpu: SmolLM2-135M for a few steps; gpu: GPT-2 Medium where the Hub is reachable, else
        # SmolLM2 at full length); probe_reference: training instructions the encoder probe looks up
        "smoke": {"eval_examples": 20, "throughput_examples": 16, "demo_model": "tiny-llama", "demo_steps": 4,
                  "demo_n_train": 300, "demo_batch_size": 8, "demo_eval_examples": 20, "demo_lr": 1e-3,
                  "demo_eval_every": 2, "probe_reference": 500, "fallback_model": "tiny-llama"},
        "cpu": {"eval_examples": 150, "throughput_examples": 64, "demo_model": "smollm2-135m", "demo_steps": 20,
                "demo_n_train": 2000, "demo_batch_size": 8, "demo_eval_examples": 40, "demo_lr": 4e-4,
                "demo_eval_every": 5, "probe_reference": 8000, "fallback_model": "smollm2-135m"},
        "gpu": {"eval_examples": None, "throughput_examples": 512, "demo_model": "gpt2-medium", "demo_steps": 700,
                "demo_n_train": 40_000, "demo_batch_size": 16, "demo_eval_examples": 2000, "demo_lr": 2e-4,
                "demo_eval_every": 175, "probe_reference": 8000, "fallback_model": "smollm2-135m"},
    },
    "01_ppo_from_scratch": {
        # cheetah_steps per run (rounded up to whole 4096-step rollouts); every seed runs both
        # implementations; workers: parallel training processes (one core each)
        "smoke": {"small_steps": 4096, "cheetah_steps": 8192, "seeds": [0], "eval_episodes": 1, "workers": 1},
        "cpu": {"small_steps": 32768, "cheetah_steps": 500_000, "seeds": [0, 1], "eval_episodes": 5, "workers": 2},
        "gpu": {"small_steps": 65536, "cheetah_steps": 1_000_000, "seeds": [0, 1, 2, 3, 4], "eval_episodes": 10,
                "workers": 5},
    },
    "02_skill_experts": {
        # train: None -> load the committed experts; True -> train every expert from scratch
        "smoke": {"train": False, "demo_train_steps": 8192, "eval_episodes": 1, "video_steps": 20,
                  "render_size": (160, 120), "target_grid": [-2.0, 1.37], "sac_probe_steps": 100,
                  "train_steps_scale": 0.01},
        "cpu": {"train": False, "demo_train_steps": 65536, "eval_episodes": 10, "video_steps": 200,
                "render_size": (320, 240), "target_grid": [-3.0, -2.2, -1.5, -0.7, 0.0, 0.5, 1.37, 2.0, 2.6, 3.0],
                "sac_probe_steps": 1500, "train_steps_scale": 1.0},
        "gpu": {"train": True, "demo_train_steps": 65536, "eval_episodes": 20, "video_steps": 400,
                "render_size": (480, 360), "target_grid": [-3.0, -2.2, -1.5, -0.7, 0.0, 0.5, 1.37, 2.0, 2.6, 3.0],
                "sac_probe_steps": 3000, "train_steps_scale": 1.0},
    },
    "04_trajectory_datasets": {
        # steps per (skill, quality); humanoid skills are collected once their experts are published
        "smoke": {"skills": ["run_forward", "target_speed"], "mix": {"expert": 3000, "medium": 2000, "random": 1000},
                  "humanoid_mix": {"expert": 1000, "medium": 1000, "random": 1000},
                  "calibration_episodes": 1, "noise_grid": [0.0, 0.2, 0.6], "kill_demo_steps": 8000,
                  "ray_demo_steps": 0, "plain_steps": 3000, "throughput_steps": 4000, "transitions_steps": 2000},
        "cpu": {"skills": "all", "mix": {"expert": 500_000, "medium": 300_000, "random": 200_000},
                "humanoid_mix": {"expert": 200_000, "medium": 100_000, "random": 50_000},
                "calibration_episodes": 3, "noise_grid": [0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0, 1.5],
                "kill_demo_steps": 40_000, "ray_demo_steps": 20_000, "plain_steps": 20_000,
                "throughput_steps": 100_000, "transitions_steps": 300_000},
        "gpu": {"skills": "all", "mix": {"expert": 1_000_000, "medium": 600_000, "random": 400_000},
                "humanoid_mix": {"expert": 1_000_000, "medium": 500_000, "random": 250_000},
                "calibration_episodes": 5, "noise_grid": [0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0, 1.5],
                "kill_demo_steps": 40_000, "ray_demo_steps": 100_000, "plain_steps": 50_000,
                "throughput_steps": 200_000, "transitions_steps": 1_000_000},
    },
    "05_decision_transformer": {
        # mix: the run_forward datasets of notebook 04 (same calls); demo: the short training run the
        # notebook does itself; full: the gpu profile trains the whole model instead of loading pretrained/dt
        "smoke": {"mix": {"expert": 3000, "medium": 2000, "random": 1000},
                  "demo": {"steps": 150, "batch_size": 16, "context_len": 10, "n_layer": 1, "n_embd": 32,
                           "warmup": 20, "log_every": 25, "ckpt_every": 150, "eval_every": 0, "predict_std": True},
                  "bc_steps": 200, "train_full": False, "full": None, "eval_episodes": 1, "eval_seed": 1000,
                  "sweep_fractions": [0.4, 1.0], "sweep_episodes": 1, "video_steps": 20, "render_size": (160, 120),
                  "speed_steps": 300},
        "cpu": {"mix": {"expert": 500_000, "medium": 300_000, "random": 200_000},
                "demo": {"steps": 300, "warmup": 100, "log_every": 25, "ckpt_every": 300, "eval_every": 0,
                         "predict_std": True},
                "bc_steps": 5000, "train_full": False, "full": None, "eval_episodes": 10, "eval_seed": 1000,
                "sweep_fractions": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2], "sweep_episodes": 5,
                "video_steps": 150, "render_size": (320, 240), "speed_steps": 2000},
        "gpu": {"mix": {"expert": 1_000_000, "medium": 600_000, "random": 400_000},
                "demo": {"steps": 300, "warmup": 100, "log_every": 25, "ckpt_every": 300, "eval_every": 0,
                         "predict_std": True},
                "bc_steps": 20_000, "train_full": True,
                "full": {"steps": 20_000, "batch_size": 256, "eval_every": 2000, "eval_episodes": 3, "predict_std": True},
                "eval_episodes": 20, "eval_seed": 1000,
                "sweep_fractions": [0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2], "sweep_episodes": 10,
                "video_steps": 300, "render_size": (480, 360), "speed_steps": 2000},
    },
    "06_goal_conditioned_generalist": {
        # demo: the short training run the notebook does itself (smoke: on the smoke datasets, cheetah only);
        # train_full: the gpu profile trains the whole model instead of loading pretrained/generalist
        "smoke": {"demo": {"steps": 60, "batch_size": 16, "context_len": 10, "n_layer": 1, "n_embd": 32, "warmup": 10,
                           "log_every": 20, "ckpt_every": 60},
                  "train_full": False, "full": None, "eval_episodes": 1, "speed_episodes": 1, "switch_seeds": 2,
                  "schedules": ["flip_to_run", "jump_to_run"], "video_seconds": 2.0, "render_size": (160, 120),
                  "speed_steps": 200},
        "cpu": {"demo": {"steps": 300, "batch_size": 32, "warmup": 50, "log_every": 25, "ckpt_every": 300},
                "train_full": False, "full": None, "eval_episodes": 10, "speed_episodes": 3, "switch_seeds": 10,
                "schedules": "all", "video_seconds": 16.0, "render_size": (320, 240), "speed_steps": 2000},
        "gpu": {"demo": {"steps": 300, "batch_size": 64, "warmup": 50, "log_every": 25, "ckpt_every": 300},
                "train_full": True, "full": {"steps": 30_000, "batch_size": 256}, "eval_episodes": 20,
                "speed_episodes": 5, "switch_seeds": 50, "schedules": "all", "video_seconds": 16.0,
                "render_size": (480, 360), "speed_steps": 2000},
    },
    "08_language_driven_agent": {
        # labelled: real rollouts for the judge's agreement (half successes); dev_examples: synthetic
        # summaries the judge's prompt was chosen on; end_to_end: instructions per kind (single, two-step)
        # from the paraphrase test split; lm_judge: the judge's model (smoke: SmolLM2's random twin)
        "smoke": {"labelled": 8, "dev_examples": 8, "end_to_end": 2, "retries": 2, "lm_judge": "tiny-llama",
                  "render_size": (160, 120), "latency_runs": 1},
        "cpu": {"labelled": 200, "dev_examples": 60, "end_to_end": 15, "retries": 2, "lm_judge": "smollm2-135m",
                "render_size": (320, 240), "latency_runs": 5},
        "gpu": {"labelled": 400, "dev_examples": 400, "end_to_end": 60, "retries": 2, "lm_judge": "smollm2-135m",
                "render_size": (480, 360), "latency_runs": 5},
    },
    "09_scaling_out": {
        # collect_steps: per measured collection run (Ray at 1 and 2 workers, multiprocessing at 1 and 2),
        # each run `repeats` times (the median is reported);
        # ddp: the generalist run trained by 1 process and by 2 torchrun nodes at the same global batch
        "smoke": {"collect_steps": 4000, "repeats": 1, "envs_per_worker": 2, "plain_steps": 2000,
                  "ddp": {"steps": 6, "batch_size": 16, "context_len": 10, "n_layer": 1, "n_embd": 32},
                  "ddp_data": {"cheetah_steps": 2000, "humanoid_steps": 1000}},
        "cpu": {"collect_steps": 100_000, "repeats": 3, "envs_per_worker": 16, "plain_steps": 10_000,
                "ddp": {"steps": 30, "batch_size": 64, "context_len": 20, "n_layer": 3, "n_embd": 128},
                "ddp_data": {"cheetah_steps": 4000, "humanoid_steps": 2000}},
        "gpu": {"collect_steps": 200_000, "repeats": 3, "envs_per_worker": 16, "plain_steps": 20_000,
                "ddp": {"steps": 50, "batch_size": 256, "context_len": 20, "n_layer": 3, "n_embd": 128},
                "ddp_data": {"cheetah_steps": 20_000, "humanoid_steps": 5000}},
    },
    "03_policy_switching": {
        "smoke": {"seeds": 2, "steady_seeds": 1, "schedules": ["forward_to_backward", "flip_to_run"],
                  "video": True, "render_size": (160, 120), "video_seconds": 2.0},
        "cpu": {"seeds": 20, "steady_seeds": 3, "schedules": "all", "video": True,
                "render_size": (320, 240), "video_seconds": 12.0},
        "gpu": {"seeds": 50, "steady_seeds": 5, "schedules": "all", "video": True,
                "render_size": (480, 360), "video_seconds": 16.0},
    },
}


class UnknownProfileError(InvalidArgumentError):
    """Raised for a PROFILE that is not one of PROFILES."""


def check_profile(profile: str) -> str:
    """Return ``profile`` if valid, else raise an error naming the valid profiles."""
    if profile not in PROFILES:
        valid = ", ".join(f"{p!r} ({PROFILE_HELP[p]})" for p in PROFILES)
        raise UnknownProfileError(f"unknown PROFILE {profile!r}; valid profiles are: {valid}")
    return profile


# Set to 1 (by `python -m helpers.run_notebooks --profile gpu --dry-run`), the gpu profile keeps its
# branch selectors (what to train, which model, which skills: the budget's booleans and strings) and
# takes the smoke profile's sizes: the gpu code paths run on a CPU in minutes.
GPU_DRY_RUN_ENV = "COURSE_GPU_DRY_RUN"


# sizes for steps only the gpu profile takes (the smoke profile has None there: it never runs them)
DRY_RUN_SIZES: dict[str, dict[str, Any]] = {
    "05_decision_transformer": {"full": {"steps": 20, "batch_size": 32, "eval_every": 10, "eval_episodes": 1,
                                         "predict_std": True, "log_every": 5, "ckpt_every": 10}},
    "06_goal_conditioned_generalist": {"full": {"steps": 20, "batch_size": 32, "log_every": 5, "ckpt_every": 10}},
}


def dry_run_budget(notebook: str) -> dict[str, Any]:
    """The gpu budget's booleans and strings with the smoke budget's numbers, lists and dicts (and
    :data:`DRY_RUN_SIZES` where the smoke profile has none)."""
    gpu, smoke = BUDGETS[notebook]["gpu"], BUDGETS[notebook]["smoke"]
    dry = {key: value if isinstance(value, (bool, str)) else smoke[key] for key, value in gpu.items()}
    return {**dry, **DRY_RUN_SIZES.get(notebook, {})}


def profile_budget(notebook: str, profile: str) -> dict[str, Any]:
    """The budget dict of ``notebook`` under ``profile`` (validated; see :func:`dry_run_budget`)."""
    check_profile(profile)
    if notebook not in BUDGETS:
        raise NotAvailableError(f"no budgets for notebook {notebook!r}; known: {sorted(BUDGETS)}")
    if profile == "gpu" and os.environ.get(GPU_DRY_RUN_ENV) == "1":
        return dry_run_budget(notebook)
    return dict(BUDGETS[notebook][profile])


def results_path(notebook: str, profile: str, root: Path | None = None) -> Path:
    """``results/NN_name.<profile>.json`` under the repo root (or ``root``)."""
    check_profile(profile)
    root = Path(root) if root is not None else Path(os.environ.get("COURSE_RESULTS_ROOT", REPO_ROOT))
    return root / "results" / f"{notebook}.{profile}.json"


def write_results(notebook: str, profile: str, results: dict[str, Any], root: Path | None = None) -> Path:
    """Write a notebook's headline numbers atomically to ``results/NN_name.<profile>.json``."""
    path = results_path(notebook, profile, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "notebook": notebook,
        "profile": profile,
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        **_relative_paths(results, path.parent.parent.resolve()),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False, default=_json_default) + "\n")
    os.replace(tmp, path)
    return path


def _relative_paths(value: Any, root: Path) -> Any:
    """Paths inside the repository become repository-relative, so results files compare across machines."""
    if isinstance(value, dict):
        return {k: _relative_paths(v, root) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_relative_paths(v, root) for v in value]
    if isinstance(value, (str, Path)) and os.path.isabs(value):
        try:
            return Path(value).resolve().relative_to(root).as_posix()
        except ValueError:
            return str(value)
    return value


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
