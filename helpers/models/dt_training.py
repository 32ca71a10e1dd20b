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

import csv
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..core.checkpoints import append_csv_row, atomic_write_json
from ..core.errors import InvalidArgumentError
from ..core.provenance import StagedPublish, card_core, training_cost
from ..core.schedules import warmup_cosine_lr
from ..core.training import (PRECISIONS, adamw, autocast_dtype, check_resume, checkpoint_state, grad_scaler,
                             load_checkpoint, param_digest, save_checkpoint, setup_distributed)
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


def _truncate_csv(path: Path, last_step: int) -> None:
    """Drop the rows of a log with ``step > last_step`` (written after the checkpoint we resume from)."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    kept = [r for r in rows if int(r["step"]) <= last_step]
    if len(kept) == len(rows):
        return
    if not kept:
        path.unlink()
        return
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(kept)


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
    rank, world, device, main = dist_info.rank, dist_info.world, dist_info.device, dist_info.main
    is_dist = world > 1
    if is_dist:
        import torch.distributed as dist
    # data: rank 0 builds the flat arrays once; the others wait, then memory-map the same files
    if main:
        data = flat_dataset(cfg.root, cfg.datasets)
    if is_dist:
        dist.barrier()
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
    ckpt_path = out / "checkpoint.safetensors"
    state = {"step": 0, "train_seconds": 0.0, "samples": 0, "world_size": world, "threads": torch.get_num_threads(),
             "config": asdict(cfg),
             "model": asdict(model_cfg), "data": {"datasets": list(cfg.datasets), "n_steps": data.n_steps,
                                                  "n_episodes": data.n_episodes}}
    if ckpt_path.exists():
        check_resume(checkpoint_state(ckpt_path)["config"], asdict(cfg), where=str(ckpt_path),
                     ignore=("steps", "log_every", "ckpt_every", "eval_every", "eval_episodes", "device"))
        saved = load_checkpoint(ckpt_path, model, optimizer, scaler)
        state.update(step=saved["step"], train_seconds=saved["train_seconds"], samples=saved["samples"])
        if main:
            print(f"resuming {out} at step {state['step']}", file=sys.stderr, flush=True)
            for name in ("progress.csv", "eval.csv"):  # rows logged after the checkpoint are redone
                _truncate_csv(out / name, state["step"])
    if main:
        atomic_write_json(out / "config.json", export_config(cfg, model_cfg, data, target_return) | {"model": asdict(model_cfg)})
    train_model = model
    if is_dist:
        from torch.nn.parallel import DistributedDataParallel as DDP  # only under torchrun

        train_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    writer = None
    if main:
        try:
            from torch.utils.tensorboard import SummaryWriter  # tensorboard: heavy, only for logging

            writer = SummaryWriter(str(out / "tb"))
        except ImportError:  # pragma: no cover - tensorboard is a dependency, but logging is optional
            writer = None
    bar = tqdm(total=cfg.steps, initial=state["step"], disable=not (main and progress), desc="DT training",
               dynamic_ncols=True)
    end = cfg.steps if stop_after is None else min(cfg.steps, state["step"] + stop_after)
    model.train()
    t_last, loss_sum, loss_n, samples_since = time.perf_counter(), 0.0, 0, 0
    step = state["step"]
    while step < end:
        rng = np.random.default_rng([cfg.seed, rank, step])
        torch.manual_seed(cfg.seed * 1_000_003 + rank * 10_007 + step)  # dropout: exact on resume
        batch = sampler.sample(cfg.batch_size, rng)
        b = {k: torch.from_numpy(v).to(device, non_blocking=True) for k, v in batch.items()}
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr_at(step)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            outputs = train_model(b["states"], b["actions"], b["returns_to_go"], b["timesteps"],
                                  return_log_std=cfg.predict_std)
            pred, log_std = outputs if cfg.predict_std else (outputs, None)
            mse = action_loss(pred.float(), b["actions"], b["mask"])
            loss = mse if log_std is None else mse + spread_loss(pred.float(), log_std.float(), b["actions"], b["mask"])
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        step += 1
        loss_sum += mse.item()  # the logged loss is the action MSE, comparable with or without predict_std
        loss_n += 1
        samples_since += cfg.batch_size * world
        bar.update(1)
        if step % cfg.log_every == 0 or step == end:
            now = time.perf_counter()
            state["train_seconds"] += now - t_last
            state["samples"] += samples_since
            row = {"step": step, "loss": loss_sum / loss_n, "lr": cfg.lr_at(step - 1),
                   "samples_per_s": samples_since / (now - t_last), "train_seconds": round(state["train_seconds"], 2)}
            if main:
                append_csv_row(out / "progress.csv", row)
                if writer is not None:
                    writer.add_scalar("train/loss", row["loss"], step)
                    writer.add_scalar("train/lr", row["lr"], step)
                    writer.add_scalar("train/samples_per_s", row["samples_per_s"], step)
                bar.set_postfix(loss=f"{row['loss']:.4f}")
            loss_sum, loss_n, samples_since = 0.0, 0, 0
            t_last = time.perf_counter()
        if main and cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.steps):
            # at the best return in the data, and at 40% of it: does asking for less give less?
            res = evaluate_dt(model, data.meta, cfg, target_return, cfg.eval_episodes, EVAL_SEED)
            low = evaluate_dt(model, data.meta, cfg, 0.4 * target_return, cfg.eval_episodes, EVAL_SEED)
            append_csv_row(out / "eval.csv", {"step": step, "target_return": target_return,
                                           "mean_return": res["mean_return"], "std_return": res["std_return"],
                                           "low_target_return": 0.4 * target_return,
                                           "low_mean_return": low["mean_return"], "low_std_return": low["std_return"],
                                           "train_seconds": round(state["train_seconds"], 2)})
            if writer is not None:
                writer.add_scalar("eval/mean_return", res["mean_return"], step)
                writer.add_scalar("eval/mean_return_at_40pct_target", low["mean_return"], step)
            bar.write(f"step {step}: return {res['mean_return']:.0f} +- {res['std_return']:.0f} at target "
                      f"{target_return:.0f}; {low['mean_return']:.0f} +- {low['std_return']:.0f} at {0.4 * target_return:.0f}")
            t_last = time.perf_counter()  # evaluation is not training time
        if step % cfg.ckpt_every == 0 or step == end:
            state["step"] = step
            if main:
                save_checkpoint(ckpt_path, model, optimizer, state, scaler)
                atomic_write_json(out / "state.json", state)
            t_last = time.perf_counter()
    bar.close()
    state["step"] = step
    digest = param_digest(model)
    digests = [digest]
    if is_dist:
        digests = [None] * world
        dist.all_gather_object(digests, digest)
    state["rank_param_digests"] = digests
    if main:
        atomic_write_json(out / "state.json", state)
        save_model(model, out / "export", export_config(cfg, model_cfg, data, target_return))
        if writer is not None:
            writer.close()
    if is_dist:
        dist.barrier()
        dist.destroy_process_group()
    if len(set(digests)) != 1:
        raise RuntimeError(f"the {world} processes ended with different weights: {digests}")
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
