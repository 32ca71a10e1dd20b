"""The pieces every hand-written training loop of the course shares (the Decision Transformer, the
generalist, the translator): device and precision, AdamW parameter groups, one checkpoint format
with an exact resume and a settings check, and the dataclass command line.

    >>> device = resolve_device("auto"); amp = autocast_dtype("auto", device)
    >>> optimizer = adamw(model.named_parameters(), lr=6e-4, weight_decay=1e-4)
    >>> save_checkpoint(run / "checkpoint.safetensors", model, optimizer, state)      # atomic
    >>> check_resume(saved_state["config"], asdict(cfg), ignore=("steps",))          # or ConfigMismatchError
    >>> cfg, rest = parse_config(TrainConfig, argv, prog="python -m helpers.train_dt")

A checkpoint is one safetensors file: the model's tensors (or only its trainable ones), the
optimiser's per-parameter tensors, and the JSON state (step, config, ...) in the metadata. No
pickles: it opens with ``safetensors`` alone, and a checkpoint from elsewhere cannot run code.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from . import faults
from .checkpoints import append_csv_row, atomic_save, atomic_write_json
from .errors import ConfigMismatchError, InvalidArgumentError, NotAvailableError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")


# --- device and precision -----------------------------------------------------------------------
def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto``: the GPU of this process (``cuda:LOCAL_RANK``) when torch sees one, else the CPU."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise InvalidArgumentError(f"device {name!r} is not one of {', '.join(DEVICES)} (or cuda:N)")
    use_cuda = torch.cuda.is_available() if name == "auto" else name.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise NotAvailableError(f"device {name!r} was asked for, but torch sees no CUDA GPU "
                                "(is this the CPU build of torch? see the README's CPU and GPU builds)")
    if not use_cuda:
        return torch.device("cpu")
    return torch.device(name if ":" in name else f"cuda:{local_rank}")


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; None means plain fp32 (no autocast).

    ``auto`` is fp32 on a CPU and bf16 on a GPU (fp16, with a gradient scaler, where bf16 is unsupported)."""
    if precision not in PRECISIONS:
        raise InvalidArgumentError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "fp32" or (precision == "auto" and device.type == "cpu"):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def grad_scaler(amp_dtype: torch.dtype | None, device: torch.device) -> torch.amp.GradScaler:
    """A gradient scaler that is active only under fp16 autocast (bf16 and fp32 need none)."""
    return torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)


# --- optimiser ----------------------------------------------------------------------------------
def no_weight_decay(name: str, param: torch.Tensor) -> bool:
    """GPT-2's rule: no decay on biases, LayerNorm gains and embeddings of time and token type."""
    return param.dim() < 2 or "embed_timestep" in name or "token_type" in name


def adamw(named_parameters: Iterable[tuple[str, torch.nn.Parameter]], lr: float, weight_decay: float,
          betas: tuple[float, float] = (0.9, 0.999), exempt: Callable[[str, torch.Tensor], bool] = no_weight_decay,
          device: torch.device | None = None) -> torch.optim.AdamW:
    """AdamW over the trainable parameters, in two groups: with weight decay, and ``exempt`` ones without."""
    decay, keep = [], []
    for name, p in named_parameters:
        if p.requires_grad:
            (keep if exempt(name, p) else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}],
                             lr=lr, betas=betas, fused=device is not None and device.type == "cuda")


# --- checkpoints --------------------------------------------------------------------------------
def _model_tensors(model: torch.nn.Module, trainable_only: bool) -> dict[str, torch.Tensor]:
    if trainable_only:
        return {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}
    return {n: t.detach().contiguous().cpu() for n, t in model.state_dict().items()}


def save_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any],
                    scaler: torch.amp.GradScaler | None = None, trainable_only: bool = False) -> None:
    """Model (or only its trainable tensors: a LoRA adapter), optimiser and ``state`` in one file, atomically."""
    tensors = {f"model.{k}": v for k, v in _model_tensors(model, trainable_only).items()}
    opt = optimizer.state_dict()
    for idx, per_param in opt["state"].items():
        for name, value in per_param.items():
            tensors[f"optim.{idx}.{name}"] = torch.as_tensor(value).detach().contiguous().cpu()
    meta = {"state": json.dumps(state), "param_groups": json.dumps(opt["param_groups"]),
            "scaler": json.dumps(scaler.state_dict() if scaler is not None and scaler.is_enabled() else None),
            "trainable_only": json.dumps(trainable_only)}
    atomic_save(Path(path), lambda tmp: save_file(tensors, str(tmp), metadata=meta))


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scaler: torch.amp.GradScaler | None = None) -> dict[str, Any]:
    """Load what :func:`save_checkpoint` wrote into ``model`` (and ``optimizer``, ``scaler``); returns the state."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    device = next(model.parameters()).device
    weights = {k[6:]: v.to(device) for k, v in tensors.items() if k.startswith("model.")}
    if json.loads(meta.get("trainable_only", "false")):
        missing = {n for n, p in model.named_parameters() if p.requires_grad} - set(weights)
        if missing:
            raise NotAvailableError(f"checkpoint {path} lacks {len(missing)} trainable tensors, e.g. {sorted(missing)[:3]}")
        model.load_state_dict(weights, strict=False)
    else:
        model.load_state_dict(weights)
    if optimizer is not None:
        per_param: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, idx, name = k.split(".", 2)
                per_param.setdefault(int(idx), {})[name] = v if name == "step" else v.to(device)
        optimizer.load_state_dict({"state": per_param, "param_groups": json.loads(meta["param_groups"])})
    scaler_state = json.loads(meta.get("scaler", "null"))
    if scaler is not None and scaler_state:
        scaler.load_state_dict(scaler_state)
    return json.loads(meta["state"])


def checkpoint_state(path: Path) -> dict[str, Any]:
    """The JSON state of a checkpoint (step, config, ...), without reading its tensors."""
    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["state"])


def check_resume(saved: dict[str, Any], now: dict[str, Any], ignore: Iterable[str] = (), where: str = "") -> None:
    """Raise :class:`ConfigMismatchError` when a run is resumed with settings other than it started with.

    ``ignore``: settings a later sitting may change (the number of steps, logging, the device)."""
    skip = set(ignore)
    norm = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731 - JSON turns tuples into lists
    mismatch = {k: (saved.get(k), norm(v)) for k, v in now.items() if k not in skip and saved.get(k) != norm(v)}
    if mismatch:
        raise ConfigMismatchError(f"{where or 'this run folder'} holds a run made with other settings {mismatch} "
                                  "(saved, now): use another output folder, or the same settings to resume")


def param_digest(model: torch.nn.Module) -> str:
    """A hash of every weight: processes of one DDP run must end with the same digest."""
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


# --- the command line of a config dataclass -----------------------------------------------------
def parse_config(cls, argv: list[str] | None, prog: str, description: str = "",
                 extra: Callable[[argparse.ArgumentParser], None] | None = None):
    """``(config, other_args)``: the dataclass ``cls`` from ``--field value`` flags (``--field-name`` works
    too) through ``transformers.HfArgumentParser``; ``extra`` adds flags that are not settings of the run."""
    from transformers import HfArgumentParser  # heavy: imported by the command lines that parse configs

    parser = HfArgumentParser(cls, prog=prog, description=description)
    if extra is not None:
        extra(parser)
    try:  # unknown flags and the dataclass's own checks (__post_init__): one line through argparse, exit code 2
        outputs = parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
    except ValueError as exc:
        parser.error(str(exc))
    config = outputs[0]
    rest = outputs[1] if len(outputs) > 1 else argparse.Namespace()
    return config, rest


def config_command(prog: str, config: Any) -> str:
    """The command line that rebuilds ``config``: every setting that differs from its default."""
    parts = [prog]
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        if value == default or (isinstance(value, (list, tuple)) and list(value) == list(default or [])):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else f"--no-{f.name.replace('_', '-')}")
        elif isinstance(value, (list, tuple)):
            parts += [flag, *(shlex.quote(str(v)) for v in value)]
        else:
            parts += [flag, shlex.quote(str(value))]
    return " ".join(parts)


# --- processes: one, or many under torchrun -----------------------------------------------------
@dataclasses.dataclass
class Dist:
    """This process's place in a (possibly distributed) run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str = "auto") -> Dist:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK); start the process group (NCCL on a
    GPU, gloo on the CPU) when there is more than one process."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    rank, local_rank = int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0))
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1:
        torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, world, local_rank, dev)


def rank_share(batch: dict[str, torch.Tensor], dist: Dist) -> dict[str, torch.Tensor]:
    """This rank's contiguous share of a global batch: rows ``[r * B/W, (r+1) * B/W)`` of every tensor
    (0-dim tensors, batch-wide numbers, are kept whole)."""
    sizes = {len(v) for v in batch.values() if v.dim() > 0}
    if len(sizes) != 1:
        raise InvalidArgumentError(f"a global batch's tensors must share their first dimension, got {sorted(sizes)}")
    size = sizes.pop()
    if size % dist.world:
        raise InvalidArgumentError(f"a global batch of {size} does not split evenly over {dist.world} processes")
    n = size // dist.world
    return {k: (v[dist.rank * n:(dist.rank + 1) * n] if v.dim() > 0 else v) for k, v in batch.items()}


# --- the loop every hand-written trainer runs -----------------------------------------------------
def truncate_log(path: Path, last_step: int) -> None:
    """Drop the rows of a CSV log with ``step > last_step`` (written after the checkpoint a run resumes from)."""
    path = Path(path)
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
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)


def resume(ckpt_path: Path, model: torch.nn.Module, optimizer, scaler, config: dict[str, Any], state: dict[str, Any],
           ignore: Iterable[str], logs: Iterable[Path] = (), main: bool = True) -> dict[str, Any]:
    """Continue from ``ckpt_path`` when it exists (after checking it was made with ``config``): the
    weights, optimiser and counters; log rows written after it are dropped, to be redone."""
    if not Path(ckpt_path).exists():
        return state
    check_resume(checkpoint_state(ckpt_path)["config"], config, where=str(ckpt_path), ignore=ignore)
    saved = load_checkpoint(ckpt_path, model, optimizer, scaler)
    state.update({k: saved[k] for k in ("step", "train_seconds", "samples") if k in saved})
    if main:
        print(f"resuming {Path(ckpt_path).parent} at step {state['step']}", file=sys.stderr, flush=True)
        for log in logs:
            truncate_log(log, state["step"])
    return state


def fit(model: torch.nn.Module, optimizer, scaler, amp_dtype, dist: Dist, state: dict[str, Any], out: Path, *,
        steps: int, seed: int, lr_at: Callable[[int], float], batch_at: Callable[[int, np.random.Generator], dict],
        loss_of: Callable[[torch.nn.Module, dict], tuple[torch.Tensor, torch.Tensor]], grad_clip: float,
        log_every: int, ckpt_every: int, samples_per_step: int, evaluate: Callable[[int], dict] | None = None,
        eval_every: int = 0, stop_after: int | None = None, progress: bool = True, desc: str = "training",
        trainable_only: bool = False, global_batch: bool = False) -> dict:
    """Train ``model`` from ``state["step"]`` to ``steps`` (or ``stop_after`` more): one process, or
    one of many under torchrun (DDP averages the gradients; rank 0 alone logs, evaluates and checkpoints).

    Exact on resume: the batch of step ``i`` on rank ``r`` comes from ``batch_at(i, default_rng([seed, r, i]))``
    and dropout is reseeded from (seed, rank, step). ``loss_of(train_model, batch)`` returns the loss to
    optimise and the number to log. ``progress.csv`` gets a row every ``log_every`` steps, ``eval.csv`` the
    rows ``evaluate(step)`` returns every ``eval_every`` steps, TensorBoard both (``out/tb``).
    ``trainable_only``: checkpoints hold only the tensors that train (a LoRA adapter, not its base).
    ``global_batch``: ``batch_at`` returns the batch of all processes together, drawn from
    ``default_rng([seed, 0, i])`` on every rank (rank 0's stream, so one process is unchanged); each rank
    trains on its :func:`rank_share` and the logged loss is the ranks' average. W processes then follow
    one process at the same batch, up to the order of float sums (dropout, seeded per rank, aside)."""
    out = Path(out)
    train_model = model
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP  # only under torchrun

        train_model = DDP(model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)
    writer = None
    if dist.main:
        from torch.utils.tensorboard import SummaryWriter  # tensorboard: heavy, only for logging

        writer = SummaryWriter(str(out / "tb"))
    ckpt_path = out / "checkpoint.safetensors"
    bar = tqdm(total=steps, initial=state["step"], disable=not (dist.main and progress), desc=desc, dynamic_ncols=True)
    end = steps if stop_after is None else min(steps, state["step"] + stop_after)
    model.train()
    t_last, loss_sum, loss_n, samples_since = time.perf_counter(), 0.0, 0, 0
    step = state["step"]
    while step < end:
        faults.before_step(dist.rank, step, out)  # off unless COURSE_FAULT_TRAIN is set
        rng = np.random.default_rng([seed, 0 if global_batch else dist.rank, step])
        torch.manual_seed(seed * 1_000_003 + dist.rank * 10_007 + step)  # dropout: exact on resume
        batch = batch_at(step, rng)
        if global_batch and dist.world > 1:
            batch = rank_share(batch, dist)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        with torch.autocast(dist.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss, logged = loss_of(train_model, batch)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        step += 1
        if global_batch and dist.world > 1:  # the global batch's loss: the average of the ranks' shares
            logged = logged.detach().clone()
            torch.distributed.all_reduce(logged)
            logged /= dist.world
        loss_sum += logged.item()
        loss_n += 1
        samples_since += samples_per_step * (1 if global_batch else dist.world)
        bar.update(1)
        if step % log_every == 0 or step == end:
            now = time.perf_counter()
            state["train_seconds"] += now - t_last
            state["samples"] += samples_since
            row = {"step": step, "loss": loss_sum / loss_n, "lr": lr_at(step - 1),
                   "samples_per_s": samples_since / (now - t_last), "train_seconds": round(state["train_seconds"], 2)}
            if dist.main:
                append_csv_row(out / "progress.csv", row)
                for key in ("loss", "lr", "samples_per_s"):
                    writer.add_scalar(f"train/{key}", row[key], step)
                bar.set_postfix(loss=f"{row['loss']:.4f}")
            loss_sum, loss_n, samples_since = 0.0, 0, 0
            t_last = time.perf_counter()
        if dist.main and evaluate is not None and eval_every and (step % eval_every == 0 or step == steps):
            row = evaluate(step)
            append_csv_row(out / "eval.csv", {"step": step, **row, "train_seconds": round(state["train_seconds"], 2)})
            for key, value in row.items():
                if isinstance(value, (int, float)):
                    writer.add_scalar(f"eval/{key}", value, step)
            bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if isinstance(v, float)))
            model.train()
            t_last = time.perf_counter()  # evaluation is not training time
        if step % ckpt_every == 0 or step == end:
            state["step"] = step
            if dist.main:
                save_checkpoint(ckpt_path, model, optimizer, state, scaler, trainable_only)
                atomic_write_json(out / "state.json", state)
            t_last = time.perf_counter()
    bar.close()
    state["step"] = step
    digests = [param_digest(model)]
    if dist.world > 1:
        digests = [None] * dist.world
        torch.distributed.all_gather_object(digests, param_digest(model))
    state["rank_param_digests"] = digests
    if dist.main:
        atomic_write_json(out / "state.json", state)
        writer.close()
    if dist.world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    if len(set(digests)) != 1:
        raise RuntimeError(f"the {dist.world} processes ended with different weights: {digests}")
    return state
