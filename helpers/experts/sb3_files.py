"""stable-baselines3 files without pickles of our own: the algorithm classes, observation statistics
and replay buffers as ``.npz``.

SB3's own ``model.zip`` carries pickled objects, so it is opened only through
:func:`helpers.core.checkpoints.verify_file` (this repository's ``pretrained/`` or ``runs/``, checksum
checked). Everything else a run keeps is plain arrays, loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core.checkpoints import load_npz, save_npz
from ..core.errors import InvalidArgumentError
from .normalization import ObservationNormalizer
from .ppo import ACTIVATIONS


def algo_class(algo: str):
    """The SB3 (or sb3-contrib) class of ``algo``: ppo, sac, tqc or crossq."""
    from sb3_contrib import TQC, CrossQ
    from stable_baselines3 import PPO, SAC

    table = {"ppo": PPO, "sac": SAC, "tqc": TQC, "crossq": CrossQ}
    if algo not in table:
        raise InvalidArgumentError(f"unknown algorithm {algo!r}; known: {', '.join(table)}")
    return table[algo]


def sb3_policy_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Policy keyword arguments as JSON keeps them (activation by name) -> as SB3 takes them."""
    out = dict(kwargs)
    if isinstance(out.get("activation_fn"), str):
        out["activation_fn"] = ACTIVATIONS[out["activation_fn"]]
    return out


def save_vecnormalize(venv, path: Path) -> None:
    save_npz(path, obs_mean=venv.obs_rms.mean, obs_var=venv.obs_rms.var, obs_count=np.array(venv.obs_rms.count),
             ret_mean=venv.ret_rms.mean, ret_var=venv.ret_rms.var, ret_count=np.array(venv.ret_rms.count),
             clip_obs=np.array(venv.clip_obs), clip_reward=np.array(venv.clip_reward),
             epsilon=np.array(venv.epsilon))


def load_vecnormalize_into(venv, path: Path) -> None:
    d = load_npz(path)
    venv.obs_rms.mean, venv.obs_rms.var, venv.obs_rms.count = d["obs_mean"], d["obs_var"], float(d["obs_count"])
    venv.ret_rms.mean, venv.ret_rms.var, venv.ret_rms.count = d["ret_mean"], d["ret_var"], float(d["ret_count"])


def load_obs_normalizer(path: Path) -> ObservationNormalizer:
    """The frozen observation statistics a training run saved with :func:`save_vecnormalize`."""
    d = load_npz(path)
    return ObservationNormalizer.frozen(d["obs_mean"], d["obs_var"], float(d["clip_obs"]), float(d["epsilon"]))

_BUFFER_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def save_replay_buffer(buffer, path: Path) -> None:
    n = buffer.buffer_size if buffer.full else buffer.pos
    arrays = {k: getattr(buffer, k)[:n] for k in _BUFFER_FIELDS}
    save_npz(path, pos=np.array(buffer.pos), full=np.array(buffer.full), **arrays)


def load_replay_buffer_into(buffer, path: Path) -> None:
    d = load_npz(path)
    n = len(d["actions"])
    for k in _BUFFER_FIELDS:
        getattr(buffer, k)[:n] = d[k]
    buffer.pos, buffer.full = int(d["pos"]), bool(d["full"])
