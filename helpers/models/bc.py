"""Behaviour cloning baselines for notebook 05: an MLP regressing actions from states, on all the data
(BC) or on the best episodes only (filtered BC, "%BC" in the Decision Transformer paper).

    >>> from helpers.models.bc import BCConfig, train_bc
    >>> policy, log = train_bc(data, BCConfig(top_fraction=0.1))   # filtered BC on the top 10% episodes
    >>> policy(obs)                                              # an action in [-1, 1]

BC copies the average behaviour in the data. On a mixture of expert, medium and random episodes it
averages the three, and nothing tells it which to prefer; filtered BC throws the worse episodes
away first. A Decision Transformer keeps all the data and is *told* which return to imitate.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ..core.checkpoints import atomic_save, atomic_write_json
from ..core.errors import InvalidArgumentError
from ..data.flat import FlatData
from ..data.windows import WindowSampler


@dataclass
class BCConfig:
    hidden_sizes: tuple[int, ...] = (256, 256)
    steps: int = 5000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    dropout: float = 0.1
    top_fraction: float = 1.0  # 1.0: plain BC; 0.1: filtered BC on the best 10% of episodes by return
    seed: int = 0

    def __post_init__(self):
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        if not 0.0 < self.top_fraction <= 1.0:
            raise InvalidArgumentError(f"BCConfig.top_fraction must be in (0, 1], got {self.top_fraction}")
        if self.steps < 1 or self.batch_size < 1:
            raise InvalidArgumentError("BCConfig.steps and batch_size must be >= 1")


class MLPActor(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes: tuple[int, ...], dropout: float = 0.0):
        super().__init__()
        layers, last = [], obs_dim
        for h in hidden_sizes:
            layers += [nn.Linear(last, h), nn.ReLU(), nn.Dropout(dropout)]
            last = h
        self.net = nn.Sequential(*layers, nn.Linear(last, act_dim), nn.Tanh())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


class BCPolicy:
    """``policy(obs) -> action`` for an MLPActor with the data's state normalisation."""

    def __init__(self, actor: MLPActor, obs_mean: np.ndarray, obs_std: np.ndarray):
        self.actor = actor.eval()
        self.obs_mean = np.asarray(obs_mean, dtype=np.float32)
        self.obs_std = np.asarray(obs_std, dtype=np.float32)

    @torch.inference_mode()
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        x = (np.asarray(obs, dtype=np.float32) - self.obs_mean) / self.obs_std
        return self.actor(torch.from_numpy(x)).numpy().copy()


def train_bc(data: FlatData, cfg: BCConfig, progress: bool = True) -> tuple[BCPolicy, list[dict[str, float]]]:
    """Train an MLP on (state, action) pairs; returns the policy and its loss curve."""
    episodes = data.top_episodes(cfg.top_fraction) if cfg.top_fraction < 1.0 else None
    sampler = WindowSampler(data, context_len=1, episodes=episodes)  # K = 1: single steps
    torch.manual_seed(cfg.seed)
    actor = MLPActor(data.obs_dim, data.act_dim, cfg.hidden_sizes, cfg.dropout)
    opt = torch.optim.AdamW(actor.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps, eta_min=0.1 * cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    log, t0, running = [], time.perf_counter(), 0.0
    name = "BC" if cfg.top_fraction == 1.0 else f"filtered BC (top {cfg.top_fraction:.0%})"
    for step in tqdm(range(1, cfg.steps + 1), desc=name, disable=not progress, dynamic_ncols=True):
        b = sampler.sample(cfg.batch_size, rng)
        pred = actor(torch.from_numpy(b["states"][:, 0]))
        loss = (pred - torch.from_numpy(b["actions"][:, 0])).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += loss.item()
        if step % 100 == 0 or step == cfg.steps:
            log.append({"step": step, "loss": running / (100 if step % 100 == 0 else step % 100),
                        "seconds": time.perf_counter() - t0})
            running = 0.0
    return BCPolicy(actor, data.obs_mean, data.obs_std), log


def save_bc(policy: BCPolicy, cfg: BCConfig, directory: Path | str, extra: dict[str, Any] | None = None) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in policy.actor.state_dict().items()}
    atomic_save(d / "model.safetensors", lambda tmp: save_file(state, str(tmp)))
    first = policy.actor.net[0]
    atomic_write_json(d / "config.json", {"bc": asdict(cfg), "obs_dim": first.in_features,
                                          "act_dim": policy.actor.net[-2].out_features,
                                          "obs_mean": policy.obs_mean.tolist(), "obs_std": policy.obs_std.tolist(),
                                          **(extra or {})})
    return d


def load_bc(directory: Path | str) -> BCPolicy:
    d = Path(directory)
    config = json.loads((d / "config.json").read_text())
    cfg = BCConfig(**config["bc"])
    actor = MLPActor(config["obs_dim"], config["act_dim"], cfg.hidden_sizes, cfg.dropout)
    actor.load_state_dict(load_file(str(d / "model.safetensors")))
    return BCPolicy(actor, config["obs_mean"], config["obs_std"])
