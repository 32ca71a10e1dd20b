"""Train a Decision Transformer offline on Minari datasets: one process, or many with torchrun (DDP).

    python -m helpers.train_dt --skill run_forward --root datasets/cpu --steps 12000 --out runs/dt/run_forward
    torchrun --nproc_per_node 2 -m helpers.train_dt --steps 200 --out runs/dt/ddp       # DDP, gloo on CPU
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv-endpoint HOST:29500 -m helpers.train_dt ...   # a cluster
    python -m helpers.train_dt ... --publish pretrained/dt      # + evaluated card, safetensors, manifest

This module is the library; ``python -m helpers.train_dt`` is its command line. Killed at any moment,
the same command resumes from the last checkpoint (``<out>/checkpoint.safetensors``, the format of
:mod:`helpers.core.training`, written atomically every ``--ckpt-every`` steps). Resuming is exact: batch ``i`` of rank ``r`` is drawn
from ``default_rng([seed, r, i])`` and dropout is reseeded the same way, so a run interrupted and
resumed ends with the same weights as one that was not (on the same hardware).

Under torchrun every process samples its own batches, gradients are averaged by DDP (gloo on CPU,
NCCL on GPU), and rank 0 alone logs (TensorBoard in ``<out>/tb``, ``progress.csv``, tqdm), evaluates
and checkpoints. At the end the ranks compare a digest of their weights and fail if they differ.
On a GPU the forward and backward run under bf16 autocast (fp16 with a gradient scaler where bf16
is unsupported).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.checkpoints import atomic_write_json
from ..core.errors import InvalidArgumentError
from ..core.provenance import StagedPublish, card_core, training_cost
from ..core.schedules import warmup_cosine_lr
from ..core.training import PRECISIONS, adamw, autocast_dtype, fit, grad_scaler, resume, setup_distributed
from ..data.flat import flat_dataset
from ..data.windows import WindowSampler
from ..envs.rollouts import evaluate_policy
from ..envs.skills import get_skill
from ..experts.policy import expert_dir
from .dt import DecisionTransformer, DTConfig, action_loss, load_model, save_model, spread_loss
from .dt_policy import DTPolicy

QUALITY_MIX = ("expert", "medium", "random")
EVAL_SEED = 5000  # evaluations during training; the card's held-out evaluation uses CARD_SEED
CARD_SEED = 1000  # the expert cards' evaluation seeds (1000..1009): no dataset episode uses them


@dataclass
class TrainConfig:
    """A training run: data, model size, optimisation, logging."""

    skill: str = "run_forward"
    root: str = "datasets/cpu"  # Minari root folder
    datasets: list[str] = field(default_factory=list)  # default: course/<skill>/{expert,medium,random}-v0
    steps: int = 12_000  # optimiser steps
    batch_size: int = 64  # per process
    context_len: int = 20
    n_layer: int = 3
    n_head: int = 1
    n_embd: int = 128
    dropout: float = 0.1
    predict_std: bool = False  # also learn the spread of the data's actions (acting samples from it)
    lr: float = 6e-4
    min_lr_ratio: float = 0.1  # cosine decay to lr * min_lr_ratio
    warmup: int = 500
    weight_decay: float = 1e-4
    grad_clip: float = 0.25
    return_scale: float = 1000.0  # returns-to-go are divided by this
    seed: int = 0
    precision: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | fp32 | bf16 | fp16
    device: str = "auto"  # auto | cpu | cuda
    log_every: int = 50
    ckpt_every: int = 500
    eval_every: int = 2000  # 0: no evaluation during training
    eval_episodes: int = 2

    def __post_init__(self):
        get_skill(self.skill)
        self.datasets = list(self.datasets) or [f"course/{self.skill}/{q}-v0" for q in QUALITY_MIX]
        for name in ("steps", "batch_size", "context_len", "log_every", "ckpt_every"):
            if int(getattr(self, name)) < 1:
                raise InvalidArgumentError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.precision not in PRECISIONS:
            raise InvalidArgumentError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise InvalidArgumentError(f"--device must be auto, cpu or cuda, got {self.device!r}")

    def model_config(self, data) -> DTConfig:
        return DTConfig(state_dim=data.obs_dim, act_dim=data.act_dim, context_len=self.context_len,
                        n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd, dropout=self.dropout,
                        max_ep_len=int(data.episode_lengths.max()), predict_std=self.predict_std)

    def lr_at(self, step: int) -> float:
        """Linear warmup, then cosine decay to ``lr * min_lr_ratio`` at the last step."""
        return warmup_cosine_lr(step, self.lr, self.warmup, self.steps, self.min_lr_ratio)


def evaluate_dt(model: DecisionTransformer, data_meta: dict[str, Any], cfg: TrainConfig, target_return: float,
                episodes: int, seed: int) -> dict[str, Any]:
    was_training = model.training
    policy = DTPolicy(model, data_meta["obs_mean"], data_meta["obs_std"], cfg.return_scale, target_return)
    res = evaluate_policy(policy, cfg.skill, episodes=episodes, seed=seed)
    model.train(was_training)
    return res


def export_config(cfg: TrainConfig, model_cfg: DTConfig, data, target_return: float) -> dict[str, Any]:
    """What config.json holds beside the architecture: everything needed to act with the model."""
    return {"skill": cfg.skill, "obs_mean": data.meta["obs_mean"], "obs_std": data.meta["obs_std"],
            "return_scale": cfg.return_scale, "target_return": float(target_return),
            "datasets": list(cfg.datasets), "training": asdict(cfg)}


def train(cfg: TrainConfig, out: Path | str, progress: bool = True, stop_after: int | None = None) -> dict[str, Any]:
    """Train (or resume) into ``out``; returns the final state. ``stop_after`` ends this sitting early.

    Torch threads are the caller's to set (the command line's ``--threads``)."""
    out = Path(out)
    dist_info = setup_distributed(cfg.device)
    world, device, main = dist_info.world, dist_info.device, dist_info.main
    # data: rank 0 builds the flat arrays once; the others wait, then memory-map the same files
    if main:
        data = flat_dataset(cfg.root, cfg.datasets)
    if world > 1:
        torch.distributed.barrier()
    if not main:
        data = flat_dataset(cfg.root, cfg.datasets)
    model_cfg = cfg.model_config(data)
    sampler = WindowSampler(data, cfg.context_len, cfg.return_scale, max_timestep=model_cfg.max_ep_len)
    target_return = float(data.meta["return_max"])

    torch.manual_seed(cfg.seed)
    model = DecisionTransformer(model_cfg).to(device)
    optimizer = adamw(model.named_parameters(), cfg.lr, cfg.weight_decay, device=device)
    amp_dtype = autocast_dtype(cfg.precision, device)
    scaler = grad_scaler(amp_dtype, device)

    out.mkdir(parents=True, exist_ok=True)
    state = {"step": 0, "train_seconds": 0.0, "samples": 0, "world_size": world, "threads": torch.get_num_threads(),
             "config": asdict(cfg),
             "model": asdict(model_cfg), "data": {"datasets": list(cfg.datasets), "n_steps": data.n_steps,
                                                  "n_episodes": data.n_episodes}}
    state = resume(out / "checkpoint.safetensors", model, optimizer, scaler, asdict(cfg), state, main=main,
                   ignore=("steps", "log_every", "ckpt_every", "eval_every", "eval_episodes", "device"),
                   logs=(out / "progress.csv", out / "eval.csv"))
    if main:
        atomic_write_json(out / "config.json", export_config(cfg, model_cfg, data, target_return) | {"model": asdict(model_cfg)})

    def batch_at(step: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        return {k: torch.from_numpy(v).to(device, non_blocking=True) for k, v in sampler.sample(cfg.batch_size, rng).items()}

    def loss_of(train_model, b):
        outputs = train_model(b["states"], b["actions"], b["returns_to_go"], b["timesteps"], return_log_std=cfg.predict_std)
        pred, log_std = outputs if cfg.predict_std else (outputs, None)
        mse = action_loss(pred.float(), b["actions"], b["mask"])
        loss = mse if log_std is None else mse + spread_loss(pred.float(), log_std.float(), b["actions"], b["mask"])
        return loss, mse  # the logged loss is the action MSE, comparable with or without predict_std

    def evaluate(step: int) -> dict[str, float]:
        # at the best return in the data, and at 40% of it: does asking for less give less?
        res = evaluate_dt(model, data.meta, cfg, target_return, cfg.eval_episodes, EVAL_SEED)
        low = evaluate_dt(model, data.meta, cfg, 0.4 * target_return, cfg.eval_episodes, EVAL_SEED)
        return {"target_return": target_return, "mean_return": res["mean_return"], "std_return": res["std_return"],
                "low_target_return": 0.4 * target_return, "low_mean_return": low["mean_return"],
                "low_std_return": low["std_return"]}

    state = fit(model, optimizer, scaler, amp_dtype, dist_info, state, out, steps=cfg.steps, seed=cfg.seed,
                lr_at=cfg.lr_at, batch_at=batch_at, loss_of=loss_of, grad_clip=cfg.grad_clip, log_every=cfg.log_every,
                ckpt_every=cfg.ckpt_every, samples_per_step=cfg.batch_size, evaluate=evaluate,
                eval_every=cfg.eval_every, stop_after=stop_after, progress=progress, desc="DT training")
    if main:
        save_model(model, out / "export", export_config(cfg, model_cfg, data, target_return))
    return state


# --------------------------------------------------------------------------------------------------
# Publishing: the committed checkpoint with its evaluated card
# --------------------------------------------------------------------------------------------------

def publish(run_dir: Path | str, out: Path | str, command: str, episodes: int = 10, seed: int = CARD_SEED,
            low_target_fraction: float = 0.4) -> dict[str, Any]:
    """Publish a finished run's weights to ``out`` with a card evaluated on held-out seeds (staged:
    the folder is swapped in whole once its card and checksums check)."""
    run_dir = Path(run_dir)
    state = json.loads((run_dir / "state.json").read_text())
    model, config = load_model(run_dir / "export")
    pub = StagedPublish(Path(out))
    for name in ("model.safetensors", "config.json"):
        pub.copy(run_dir / "export" / name)
    for name in ("progress.csv", "eval.csv"):
        if (run_dir / name).exists():
            pub.copy(run_dir / name)
    expert_card = json.loads((expert_dir(config["skill"]) / "card.json").read_text())
    expert_return = expert_card["evaluation"]["mean_return"]

    def run(target: float) -> dict[str, Any]:
        policy = DTPolicy(model, config["obs_mean"], config["obs_std"], config["return_scale"], target)
        res = evaluate_policy(policy, config["skill"], episodes=episodes, seed=seed)
        return {"target_return": target, **{k: res[k] for k in ("mean_return", "std_return", "mean_episode_length",
                                                                 "returns", "metric", "metrics", "metric_std")}}

    high = run(config["target_return"])
    low = run(low_target_fraction * expert_return)
    skill = get_skill(config["skill"])
    cost = training_cost(state["train_seconds"], state["step"], "optimizer_steps", processes=state["world_size"],
                         threads_per_process=state.get("threads", 1),
                         note="wall clock of the optimisation steps; evaluations and checkpoints excluded")
    evaluation = {"seeds": list(range(seed, seed + episodes)), "episodes": episodes,
                  "inference": "helpers.models.dt.DTRunner, 4 streams", **high,
                  "fraction_of_expert": high["mean_return"] / expert_return}
    card = card_core("decision_transformer", f"Decision Transformer, {skill.name}", [skill.name], [skill.body],
                     "Decision Transformer (offline, return-conditioned, supervised on Minari datasets)", command,
                     cost, evaluation)
    card.update({
        "skill": skill.name,
        "model": config["model"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": {"root": config["training"]["root"], "datasets": config["datasets"], **state["data"]},
        "training": {"steps": state["step"], "samples": state["samples"], "batch_size": config["training"]["batch_size"],
                     "world_size": state["world_size"], "train_seconds": round(state["train_seconds"], 1),
                     "config": config["training"]},
        "target_return": config["target_return"],
        "target_return_rule": "the best episode return in the training data",
        "expert_return": expert_return,
        "evaluation_low_target": {**low, "target_fraction_of_expert": low_target_fraction},
        "reproduce_evaluation": (f"python -m helpers.evaluate --skill {skill.name} --policy dt "
                                 f"--episodes {episodes} --seed {seed} --json"),
    })
    return pub.commit(card)
