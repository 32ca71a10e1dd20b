"""The Decision Transformer acting in an env: ``python -m helpers.evaluate --policy dt``.

    >>> policy = load_committed_dt("run_forward", target_return=3000)     # the committed pretrained/dt
    >>> policy.reset(info); action = policy(obs); policy.observe(obs, reward, info)

A policy here is a callable ``obs -> action`` that also tracks its episode: ``reset(info)`` at the
start (helpers.envs.rollouts.run_episode calls it) and ``observe(obs, reward, info)`` after every step. A
Decision Transformer needs both: it conditions on the return still to come (the target minus the
rewards received so far) and on the last K steps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.checkpoints import PRETRAINED_DIR, verify_file
from ..core.errors import InvalidArgumentError, NotAvailableError
from ..envs.skills import get_skill
from .dt import DTRunner, load_model

DT_DIR = PRETRAINED_DIR / "dt"
DT_FILES = ("model.safetensors", "config.json", "card.json")


class DTPolicy:
    """A Decision Transformer acting in an env: normalises states, tracks the return-to-go and context.

    ``target_return`` is the return asked for at the start of each episode; ``n_streams`` trades
    inference speed for context length (see :class:`helpers.models.dt.DTRunner`; ``context_len`` streams is
    the exact standard DT evaluation). A model that predicts the spread of the data's actions
    (``predict_std``) acts by sampling from it when ``sample`` is True (the default for such models),
    from a generator seeded with ``seed`` once: a fixed sequence of episodes gives fixed returns.
    """

    def __init__(self, model, obs_mean: np.ndarray, obs_std: np.ndarray, return_scale: float,
                 target_return: float, n_streams: int = 4, sample: bool | None = None, seed: int = 0):
        self.model = model.eval()
        self.runner = DTRunner(self.model, n_streams=n_streams)
        self.obs_mean = np.asarray(obs_mean, dtype=np.float32)
        self.obs_std = np.asarray(obs_std, dtype=np.float32)
        self.return_scale = float(return_scale)
        self.target_return = float(target_return)
        self.state_dim = model.cfg.state_dim
        self.sample = model.cfg.predict_std if sample is None else bool(sample)
        if self.sample and not model.cfg.predict_std:
            raise InvalidArgumentError("sample=True needs a model trained with predict_std (it has no action spread)")
        self.generator = torch.Generator(device=self.runner.device).manual_seed(seed)
        self.return_to_go = self.target_return
        self.prev_action: torch.Tensor | None = None
        self.started = False

    def reset(self, info: dict[str, Any] | None = None) -> None:
        self.runner.reset()
        self.return_to_go = self.target_return
        self.prev_action = None
        self.started = True

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if not self.started:
            self.reset()
        obs = np.asarray(obs, dtype=np.float32)
        if obs.shape != (self.state_dim,):
            raise InvalidArgumentError(f"DTPolicy acts on one observation of shape ({self.state_dim},), got {obs.shape}")
        state = torch.from_numpy((obs - self.obs_mean) / self.obs_std).to(self.runner.device)
        action = self.runner.act(state, self.return_to_go / self.return_scale, self.prev_action)
        if self.sample:
            noise = torch.randn(action.shape, generator=self.generator, device=action.device, dtype=action.dtype)
            action = (action + self.runner.log_std.exp() * noise).clamp(-1.0, 1.0)
        self.prev_action = action  # the action taken is the next step's action token
        return action.float().cpu().numpy().copy()

    def observe(self, obs: np.ndarray, reward: float, info: dict[str, Any] | None = None) -> None:
        self.return_to_go -= float(reward)


def load_dt(directory: Path | str, target_return: float | None = None, n_streams: int = 4,
            verify: bool = True, sample: bool | None = None, seed: int = 0) -> DTPolicy:
    """A DTPolicy from a folder with model.safetensors + config.json (+ card.json); default target from it."""
    d = Path(directory)
    if verify:
        for name in DT_FILES:
            verify_file(d / name)  # checksums against MANIFEST.sha256: refuse a tampered or partial folder
    model, config = load_model(d)
    target = config["target_return"] if target_return is None else float(target_return)
    return DTPolicy(model, config["obs_mean"], config["obs_std"], config["return_scale"], target, n_streams,
                    sample=sample, seed=seed)


def load_committed_dt(skill: str, target_return: float | None = None) -> DTPolicy:
    """The committed Decision Transformer (``pretrained/dt``), checked, for the skill it was trained on.

    Act with one torch thread: an action is 3 tokens through a small model, too little work to share
    (measured here: several times slower with 2 threads on a busy machine)."""
    s = get_skill(skill)
    if not (DT_DIR / "config.json").exists():
        raise NotAvailableError(f"no Decision Transformer at {DT_DIR}: train and publish one with "
                                "`python -m helpers.train_dt --publish pretrained/dt` (see notebook 05)")
    config = json.loads((DT_DIR / "config.json").read_text())
    if config.get("skill") != s.name:
        raise InvalidArgumentError(
            f"the committed Decision Transformer was trained on {config.get('skill')!r} data, not {s.name!r}: "
            f"evaluate it with --skill {config.get('skill')}, or use --policy generalist for every skill")
    return load_dt(DT_DIR, target_return)
