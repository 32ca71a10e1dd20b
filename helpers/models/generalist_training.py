"""Training the generalist offline on every skill's datasets and the transitions, and publishing it.

    python -m helpers.train_generalist --root datasets/cpu --steps 30000 --out runs/generalist/main
    torchrun --nproc_per_node 2 -m helpers.train_generalist ... --steps 200     # DDP, gloo on CPU
    python -m helpers.train_generalist ... --publish pretrained/generalist      # + evaluated card
    torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint HEAD:29500 \
        -m helpers.train_generalist ... --global-batch --batch-size 64             # 2 nodes, 32 windows each

The data is one flat memory-mapped folder per body (:mod:`helpers.data.flat`: observations, actions
and the per-step skill, target speed and quality each step was collected for). A batch mixes bodies:
each window is drawn from one source dataset, chosen by weight (each skill's expert data equally,
medium and random data and the transitions by their own weights), states normalised with their
body's statistics and zero-padded to the widest body, actions divided by their body's action bound
and padded. Target-speed episodes within ``HELD_OUT_SPEED_BAND`` of a held-out speed are never
drawn. The loop is :func:`helpers.core.training.fit`: the same resumable, DDP-ready loop as the
Decision Transformer's. With ``global_batch`` the batch size is that of all processes together: every
rank draws the same windows and trains on its share, the loss of each share is divided by the global
batch's real steps, so W processes follow the single-process run (up to float sums; dropout aside).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ..core.checkpoints import atomic_write_json
from ..core.errors import ConfigMismatchError, InvalidArgumentError, NotAvailableError
from ..core.schedules import warmup_cosine_lr
from ..core.training import (PRECISIONS, adamw, autocast_dtype, checkpoint_state, fit, grad_scaler, resume,
                             setup_distributed)
from ..data.flat import QUALITY_LEVELS, FlatData, flat_dataset
from ..data.windows import WindowSampler
from ..envs.skills import HELD_OUT_SPEED_BAND, HELD_OUT_SPEEDS, MODELS, SKILLS, model_of
from .generalist import Generalist, GeneralistConfig, goal_features, load_generalist, save_generalist

QUALITIES = ("expert", "medium", "random")
# the body's own state: target_speed's observation appends its goal, which the generalist reads from its goal token
BODY_OBS_DIM = {"cheetah": 17, "humanoid": 45, "humanoid_standup": 45}


def default_datasets(skills: list[str] | None = None, transitions: tuple[str, ...] = ("recovery",)) -> list[str]:
    """Every skill's expert, medium and random datasets, and the transitions collected by ``transitions``."""
    ids = [f"course/{s}/{q}-v0" for s in (skills or list(SKILLS)) for q in QUALITIES]
    return ids + [f"course/transitions/{c}-v0" for c in transitions]


@dataclass
class GeneralistTrainConfig:
    """A training run: data mixture, model size, optimisation, logging."""

    root: str = "datasets/cpu"  # Minari root folder
    datasets: list[str] = field(default_factory=default_datasets)
    exclude_skills: list[str] = field(default_factory=list)  # left out of the data (the new-skill experiment)
    expert_weight: float = 1.0  # each skill's expert dataset
    medium_weight: float = 0.25
    random_weight: float = 0.1
    transitions_weight: float = 2.0  # each transitions dataset, relative to one skill's expert data
    quality: bool = True  # condition on the data's quality (False: return-free, expert data only)
    steps: int = 30_000
    batch_size: int = 64  # per process (with global_batch: of all processes together)
    global_batch: bool = False  # batch_size is the global batch, split over the processes (W match 1)
    context_len: int = 20
    n_layer: int = 3
    n_head: int = 1
    n_embd: int = 128
    dropout: float = 0.1
    lr: float = 6e-4
    min_lr_ratio: float = 0.1
    warmup: int = 1000
    weight_decay: float = 1e-4
    grad_clip: float = 0.25
    seed: int = 0
    precision: str = "auto"
    device: str = "auto"
    log_every: int = 50
    ckpt_every: int = 500
    init_from: str = ""  # a generalist folder to start from (fine-tuning to add a skill)

    def __post_init__(self):
        unknown = set(self.exclude_skills) - set(SKILLS)
        if unknown:
            raise InvalidArgumentError(f"--exclude-skills {sorted(unknown)}: known skills are {', '.join(SKILLS)}")
        for name in ("steps", "batch_size", "context_len", "log_every", "ckpt_every"):
            if int(getattr(self, name)) < 1:
                raise InvalidArgumentError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.precision not in PRECISIONS:
            raise InvalidArgumentError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not self.quality and any("/medium-" in d or "/random-" in d for d in self.used_datasets()):
            raise InvalidArgumentError("--no-quality trains return-free on expert behaviour: leave the medium and "
                                       "random datasets out (--datasets course/<skill>/expert-v0 ...)")

    def used_datasets(self) -> list[str]:
        return [d for d in self.datasets if d.split("/")[1] not in self.exclude_skills]

    def lr_at(self, step: int) -> float:
        return warmup_cosine_lr(step, self.lr, self.warmup, self.steps, self.min_lr_ratio)

    def weight_of(self, dataset_id: str) -> float:
        name, kind = dataset_id.split("/")[1], dataset_id.split("/")[2].rsplit("-", 1)[0]
        if name == "transitions":
            return self.transitions_weight
        return {"expert": self.expert_weight, "medium": self.medium_weight, "random": self.random_weight}[kind]


def body_of_dataset(dataset_id: str) -> str:
    """The MuJoCo model a dataset's episodes run in (transitions are the cheetah's)."""
    name = dataset_id.split("/")[1]
    return "cheetah" if name == "transitions" else model_of(name)


class MixtureSampler:
    """Batches of windows from several bodies' flat data, each window from one source dataset drawn by
    weight; returns padded tensors ready for :class:`Generalist` (see the module docstring)."""

    def __init__(self, cfg: GeneralistTrainConfig, model_cfg: GeneralistConfig, flats: dict[str, FlatData],
                 action_scale: dict[str, np.ndarray]):
        self.cfg, self.model_cfg, self.flats, self.action_scale = cfg, model_cfg, flats, action_scale
        self.bodies = list(model_cfg.bodies)
        self.samplers, self.weights, self.names = [], [], []
        for body, data in flats.items():
            for k, dataset_id in enumerate(data.meta["datasets"]):
                episodes = np.flatnonzero(data.episode_source == k)
                episodes = self._without_held_out_speeds(data, episodes)
                if len(episodes) == 0:
                    continue
                self.samplers.append((body, WindowSampler(data, cfg.context_len, episodes=episodes,
                                                          max_timestep=model_cfg.max_ep_len)))
                self.weights.append(cfg.weight_of(dataset_id))
                self.names.append(dataset_id)
        if not self.samplers:
            raise NotAvailableError("no training episodes: every dataset was excluded or empty")
        self.p = np.asarray(self.weights) / np.sum(self.weights)
        self.skill_index = np.array([model_cfg.skills.index(s) if s in model_cfg.skills else -1 for s in SKILLS])

    @staticmethod
    def _without_held_out_speeds(data: FlatData, episodes: np.ndarray) -> np.ndarray:
        """Drop target-speed episodes whose (first) target is within the band of a held-out speed."""
        first = data.step_speed[data.episode_starts[episodes]]
        near = np.zeros(len(episodes), bool)
        for speed in HELD_OUT_SPEEDS:
            near |= np.abs(first - speed) <= HELD_OUT_SPEED_BAND  # NaN (no target) compares False
        return episodes[~near]

    def mixture(self) -> dict[str, float]:
        return {name: round(float(p), 4) for name, p in zip(self.names, self.p)}

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        mc, K = self.model_cfg, self.cfg.context_len
        S, A = mc.state_dim, mc.act_dim
        out = {"states": np.zeros((batch_size, K, S), np.float32), "actions": np.zeros((batch_size, K, A), np.float32),
               "goals": np.zeros((batch_size, K, mc.goal_dim), np.float32),
               "timesteps": np.zeros((batch_size, K), np.int64), "mask": np.zeros((batch_size, K), bool),
               "body": np.zeros(batch_size, np.int64)}
        source = rng.choice(len(self.samplers), size=batch_size, p=self.p)
        for k in np.unique(source):
            rows = np.flatnonzero(source == k)
            body, sampler = self.samplers[k]
            idx, mask = sampler.sample_indices(len(rows), rng)
            batch = sampler.gather(idx, mask)
            data = sampler.data
            obs_dim, act_dim = mc.bodies[body]
            out["states"][rows, :, :obs_dim] = batch["states"]
            out["actions"][rows, :, :act_dim] = batch["actions"] / self.action_scale[body]
            flat_idx = idx.reshape(-1)
            skills = self.skill_index[data.step_skill[flat_idx].astype(np.int64)]
            goals = goal_features(mc, skills, data.step_speed[flat_idx], data.step_quality[flat_idx])
            out["goals"][rows] = goals.reshape(len(rows), K, -1) * mask[..., None]
            out["timesteps"][rows], out["mask"][rows] = batch["timesteps"], mask
            out["body"][rows] = self.bodies.index(body)
        return out


def train(cfg: GeneralistTrainConfig, out: Path | str, progress: bool = True, stop_after: int | None = None) -> dict:
    """Train (or resume) into ``out``; returns the final state. Torch threads are the caller's to set."""
    out = Path(out)
    dist = setup_distributed(cfg.device)
    if cfg.global_batch and cfg.batch_size % dist.world:
        raise InvalidArgumentError(f"--global-batch: --batch-size {cfg.batch_size} does not split evenly over "
                                   f"{dist.world} processes")
    flats: dict[str, FlatData] = {}
    by_body: dict[str, list[str]] = {}
    if not cfg.used_datasets():
        raise InvalidArgumentError(f"no dataset to train on (datasets={cfg.datasets}, exclude_skills={cfg.exclude_skills}); "
                                   f"collect them under {cfg.root} first (notebook 04, or python -m helpers.collect)")
    for dataset_id in cfg.used_datasets():
        by_body.setdefault(body_of_dataset(dataset_id), []).append(dataset_id)
    for rank_turn in (True, False):  # rank 0 builds the flat folders; the others then memory-map them
        if dist.main == rank_turn:
            flats = {body: flat_dataset(cfg.root, ids, obs_dim=BODY_OBS_DIM[body]) for body, ids in by_body.items()}
        if dist.world > 1 and rank_turn:
            torch.distributed.barrier()
    skills = [s for s in SKILLS if s not in cfg.exclude_skills] if not cfg.init_from else list(SKILLS)
    bodies = {b: [flats[b].obs_dim, flats[b].act_dim] for b in MODELS if b in flats}
    model_cfg = GeneralistConfig(bodies=bodies, skills=list(SKILLS), context_len=cfg.context_len, n_layer=cfg.n_layer,
                                 n_head=cfg.n_head, n_embd=cfg.n_embd, dropout=cfg.dropout, quality=cfg.quality)
    action_scale = {b: np.asarray(_action_high(b), np.float32) for b in bodies}
    sampler = MixtureSampler(cfg, model_cfg, flats, action_scale)

    torch.manual_seed(cfg.seed)
    model = Generalist(model_cfg).to(dist.device)
    if cfg.init_from:
        start, _ = load_generalist(cfg.init_from, str(dist.device))
        model.load_state_dict(start.state_dict())
    optimizer = adamw(model.named_parameters(), cfg.lr, cfg.weight_decay, device=dist.device)
    amp_dtype = autocast_dtype(cfg.precision, dist.device)
    scaler = grad_scaler(amp_dtype, dist.device)
    out.mkdir(parents=True, exist_ok=True)
    state = {"step": 0, "train_seconds": 0.0, "samples": 0, "world_size": dist.world, "threads": torch.get_num_threads(),
             "config": asdict(cfg), "model": asdict(model_cfg), "mixture": sampler.mixture(),
             "data": {b: {"datasets": f.meta["datasets"], "n_steps": f.n_steps, "n_episodes": f.n_episodes}
                      for b, f in flats.items()}, "trained_skills": skills}
    run_config = asdict(cfg)
    ckpt = out / "checkpoint.safetensors"
    if not cfg.global_batch:  # runs from before the setting existed resume as they were
        run_config.pop("global_batch")
        if ckpt.exists() and checkpoint_state(ckpt)["config"].get("global_batch"):
            raise ConfigMismatchError(f"{ckpt} was trained with --global-batch: resume it with --global-batch")
    state = resume(ckpt, model, optimizer, scaler, run_config, state, main=dist.main,
                   ignore=("steps", "log_every", "ckpt_every", "device"), logs=(out / "progress.csv",))
    if dist.main:
        atomic_write_json(out / "config.json", export_config(cfg, model_cfg, flats, action_scale) | {"state": {
            k: state[k] for k in ("mixture", "data", "trained_skills")}})

    split = cfg.global_batch and dist.world > 1

    def batch_at(step: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        batch = {k: torch.from_numpy(v).to(dist.device) for k, v in sampler.sample(cfg.batch_size, rng).items()}
        if split:  # each share's loss is divided by the global batch's real steps over the processes
            batch["share_denominator"] = batch["mask"].sum().float().clamp_min(1.0) / dist.world
        return batch

    def loss_of(train_model, b):
        pred = train_model(b["states"], b["actions"], b["goals"], b["timesteps"], b["body"])
        loss = model.loss(pred.float(), b["actions"], b["mask"], b["body"], denominator=b.get("share_denominator"))
        return loss, loss

    state = fit(model, optimizer, scaler, amp_dtype, dist, state, out, steps=cfg.steps, seed=cfg.seed, lr_at=cfg.lr_at,
                batch_at=batch_at, loss_of=loss_of, grad_clip=cfg.grad_clip, log_every=cfg.log_every,
                ckpt_every=cfg.ckpt_every, samples_per_step=cfg.batch_size, stop_after=stop_after, progress=progress,
                desc="generalist training", global_batch=cfg.global_batch)
    if dist.main and state["step"] >= cfg.steps:
        save_generalist(model, out / "export", export_config(cfg, model_cfg, flats, action_scale))
    return state


def _action_high(body: str) -> list[float]:
    env_id, kwargs = MODELS[body]
    env = gym.make(env_id, **kwargs)
    high = env.action_space.high.tolist()
    env.close()
    return high


def export_config(cfg: GeneralistTrainConfig, model_cfg: GeneralistConfig, flats: dict[str, FlatData],
                  action_scale: dict[str, np.ndarray]) -> dict[str, Any]:
    """What ``config.json`` holds beside the architecture: all that acting with the model needs."""
    return {"normalisation": {b: {"obs_mean": f.meta["obs_mean"], "obs_std": f.meta["obs_std"]} for b, f in flats.items()},
            "action_scale": {b: v.tolist() for b, v in action_scale.items()},
            "held_out_speeds": list(HELD_OUT_SPEEDS), "held_out_speed_band": HELD_OUT_SPEED_BAND,
            "quality_levels": list(QUALITY_LEVELS), "training": asdict(cfg)}


def read_export(directory: Path | str) -> dict[str, Any]:
    return json.loads((Path(directory) / "config.json").read_text())
