"""Trajectory data for sequence models: Minari datasets -> flat memory-mapped arrays.

    >>> data = flat_dataset("datasets/cpu", ["course/run_forward/expert-v0", "course/run_forward/medium-v0"])
    >>> sampler = WindowSampler(data, context_len=20, return_scale=1000.0)   # helpers.data.windows
    >>> batch = sampler.sample(64, np.random.default_rng(0))      # dict of (64, 20, ...) arrays

Why flat arrays: Minari (hdf5) stores one group per episode, and reading an episode costs about a
millisecond of bookkeeping. A training step needs 64 windows from 64 random episodes, so we read
every episode **once**, concatenate the steps into one array per field, save them as ``.npy`` and
open them memory-mapped (``np.load(mmap_mode="r")``): the operating system pages in only what a batch
touches, so a 5M-step dataset trains in a few hundred MB of RAM, and every training process on a
machine shares the same page cache. ``episode_starts[e]`` is where episode ``e`` begins in the flat
arrays.

Sampling (:mod:`helpers.data.windows`) weights episodes by length, so every *step* is equally
likely, as in the Decision Transformer paper.

Layout of a flat folder (``<minari root>/.flat/<name>-<hash>/``, rebuilt when a dataset changes)::

    observations.npy (N, obs_dim) float32   actions.npy (N, act_dim) float32   rewards.npy (N,) float32
    returns_to_go.npy (N,) float32          timesteps.npy (N,) int32
    episode_starts.npy (E,) int64  episode_lengths.npy (E,) int64  episode_returns.npy (E,) float64
    episode_source.npy (E,) int16 (index into meta["datasets"])      meta.json (ids, obs mean/std, ...)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..core.errors import InvalidArgumentError, NotAvailableError
from ..envs.skills import SKILLS

SKILL_NAMES = tuple(SKILLS)

FLAT_VERSION = 2  # 2: per-step goal labels (skill, target speed, quality) for the generalist
ARRAYS = ("observations", "actions", "rewards", "returns_to_go", "timesteps", "episode_starts", "episode_lengths",
          "episode_returns", "episode_source", "step_skill", "step_speed", "step_quality")
# per-step labels: which skill was asked for (an index into SKILLS), its target speed (NaN: none) and
# the quality of the behaviour (an index into QUALITY_LEVELS). A dataset of one skill and quality has one
# of each; a transitions dataset records them per step in its infos ("skill_id", "quality_id").
QUALITY_LEVELS = ("random", "medium", "expert")


@dataclass
class FlatData:
    """Every step of one or more datasets, as flat (memory-mapped) arrays plus episode boundaries."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    returns_to_go: np.ndarray  # sum of rewards from this step to the end of its episode (unscaled)
    timesteps: np.ndarray  # step index within the episode
    episode_starts: np.ndarray
    episode_lengths: np.ndarray
    episode_returns: np.ndarray
    episode_source: np.ndarray  # which dataset (index into meta["datasets"]) each episode came from
    meta: dict[str, Any]
    path: Path | None = None
    step_skill: np.ndarray | None = None  # (N,) int8: index into helpers.envs.skills.SKILLS of the skill asked for
    step_speed: np.ndarray | None = None  # (N,) float32: the target speed asked for (NaN for skills without one)
    step_quality: np.ndarray | None = None  # (N,) int8: index into QUALITY_LEVELS

    @property
    def n_steps(self) -> int:
        return int(self.episode_lengths.sum())

    @property
    def n_episodes(self) -> int:
        return len(self.episode_starts)

    @property
    def obs_dim(self) -> int:
        return self.observations.shape[1]

    @property
    def act_dim(self) -> int:
        return self.actions.shape[1]

    @property
    def obs_mean(self) -> np.ndarray:
        return np.asarray(self.meta["obs_mean"], dtype=np.float32)

    @property
    def obs_std(self) -> np.ndarray:
        return np.asarray(self.meta["obs_std"], dtype=np.float32)

    def top_episodes(self, fraction: float) -> np.ndarray:
        """Indices of the best ``fraction`` of episodes by return (filtered behaviour cloning)."""
        if not 0.0 < fraction <= 1.0:
            raise InvalidArgumentError(f"fraction must be in (0, 1], got {fraction}")
        n = max(1, int(round(fraction * self.n_episodes)))
        return np.sort(np.argsort(-self.episode_returns, kind="stable")[:n])


# --------------------------------------------------------------------------------------------------
# Building flat arrays
# --------------------------------------------------------------------------------------------------

def returns_to_go(rewards: np.ndarray, episode_starts: np.ndarray, episode_lengths: np.ndarray) -> np.ndarray:
    """Per-step return-to-go, vectorised over all episodes: rtg[i] = sum of rewards[i:end of episode].

    With c = cumsum(rewards): rtg[i] = c[end - 1] - c[i] + rewards[i]. Accumulated in float64 so that
    a million steps do not lose precision.
    """
    r = np.asarray(rewards, dtype=np.float64)
    c = np.cumsum(r)
    ends = np.asarray(episode_starts) + np.asarray(episode_lengths) - 1
    episode_total_to_end = np.repeat(c[ends], episode_lengths)  # c[end] for every step of the episode
    return episode_total_to_end - c + r


def _hdf5_path(root: Path, dataset_id: str) -> Path:
    path = Path(root) / dataset_id / "data" / "main_data.hdf5"
    if not path.exists():
        raise NotAvailableError(
            f"no dataset {dataset_id!r} under the Minari root {root} (looked for {path}); collect it with "
            f"`python -m helpers.collect --skill SKILL --quality QUALITY --steps N --out {root}`")
    return path


def _flat_key(root: Path, dataset_ids: Sequence[str], obs_dim: int | None = None) -> str:
    """Folder name of a set of datasets: readable, plus a hash of their metadata (a recollection changes it)."""
    h = hashlib.sha256(f"v{FLAT_VERSION}:{obs_dim}".encode() if obs_dim else f"v{FLAT_VERSION}".encode())
    for ds in dataset_ids:
        h.update(ds.encode())
        h.update((Path(root) / ds / "data" / "metadata.json").read_bytes())
    name = "+".join(re.sub(r"[^A-Za-z0-9_.-]", "_", ds.removeprefix("course/")) for ds in dataset_ids)
    return f"{name[:120]}-{h.hexdigest()[:12]}"


def _dataset_labels(root: Path, dataset_id: str) -> dict[str, Any]:
    """The skill and quality a dataset was collected for, from the metadata the collector wrote."""
    meta = json.loads((Path(root) / dataset_id / "data" / "metadata.json").read_text())
    skill, quality = meta.get("course_skill"), meta.get("course_quality")
    return {"skill": SKILL_NAMES.index(skill) if skill in SKILL_NAMES else None,
            "quality": QUALITY_LEVELS.index(quality) if quality in QUALITY_LEVELS else QUALITY_LEVELS.index("expert")}


def _step_labels(group, n: int, labels: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-step skill, target speed and quality of one hdf5 episode group (infos first, then the dataset's)."""
    infos = group["infos"] if "infos" in group else {}
    if "skill_id" in infos:
        skill = infos["skill_id"][:n].astype(np.int8)
    elif labels["skill"] is not None:
        skill = np.full(n, labels["skill"], np.int8)
    else:
        raise InvalidArgumentError(f"episode {group.name} says neither which skill it is (infos/skill_id) nor does "
                                   "its dataset's metadata (course_skill)")
    quality = infos["quality_id"][:n].astype(np.int8) if "quality_id" in infos else np.full(n, labels["quality"], np.int8)
    speed = infos["target_speed"][:n].astype(np.float32) if "target_speed" in infos else np.full(n, np.nan, np.float32)
    has_goal = np.asarray([SKILLS[name].has_goal for name in SKILL_NAMES])[skill]
    return skill, np.where(has_goal, speed, np.nan).astype(np.float32), quality


def build_flat(root: Path | str, dataset_ids: Sequence[str], out: Path | str, obs_dim: int | None = None) -> Path:
    """Read every episode of ``dataset_ids`` once and write the flat arrays to ``out`` (atomically).

    Streams episode by episode into preallocated ``.npy`` memmaps, so memory stays at one episode
    whatever the dataset size. ``obs_dim`` keeps only the first ``obs_dim`` observation columns: the
    body's state, without the target speed the target_speed env appends (the generalist reads the
    target from ``step_speed``), so that every skill of one body shares one observation.
    """
    import h5py  # heavy: only when flat arrays are built

    root, out = Path(root), Path(out)
    if not dataset_ids:
        raise InvalidArgumentError("build_flat needs at least one dataset id")
    # pass 1: sizes, from the episode groups' lengths
    files, totals, act_dim = [], 0, None
    episodes: list[tuple[int, str, int]] = []  # (source index, group name, length)
    for k, ds in enumerate(dataset_ids):
        f = h5py.File(_hdf5_path(root, ds), "r")
        files.append(f)
        names = sorted(f.keys(), key=lambda n: int(n.split("_")[-1]))
        for name in names:
            g = f[name]
            n = g["actions"].shape[0]
            o, a = g["observations"].shape[1], g["actions"].shape[1]
            if obs_dim is not None and o > obs_dim:
                o = obs_dim
            if act_dim is None:
                obs_dim, act_dim = o, a
            elif (o, a) != (obs_dim, act_dim):
                raise InvalidArgumentError(f"{ds} has obs/action dims {o}/{a}, but {dataset_ids[0]} has {obs_dim}/{act_dim}: "
                                 "build one flat folder per body (the generalist pads bodies to one width when it samples)")
            episodes.append((k, name, n))
            totals += n
    labels = [_dataset_labels(root, ds) for ds in dataset_ids]
    tmp, obs, act, rew = _new_flat_arrays(out, totals, obs_dim, act_dim)
    skill_ids, speeds = np.zeros(totals, np.int8), np.full(totals, np.nan, np.float32)
    quality_ids = np.zeros(totals, np.int8)
    n_eps = len(episodes)
    starts, lengths = np.zeros(n_eps, np.int64), np.zeros(n_eps, np.int64)
    ep_returns, source = np.zeros(n_eps, np.float64), np.zeros(n_eps, np.int16)
    rewards64 = np.zeros(totals, np.float64)
    obs_sum, obs_sq = np.zeros(obs_dim, np.float64), np.zeros(obs_dim, np.float64)
    pos = 0
    for e, (k, name, n) in enumerate(episodes):
        g = files[k][name]
        o = g["observations"][:n, :obs_dim]  # Minari stores n+1 observations (the last one after the final step)
        r = g["rewards"][:]
        obs[pos:pos + n] = o
        act[pos:pos + n] = g["actions"][:]
        rew[pos:pos + n] = r
        rewards64[pos:pos + n] = r
        obs_sum += o.sum(0)
        obs_sq += np.square(o).sum(0)
        skill_ids[pos:pos + n], speeds[pos:pos + n], quality_ids[pos:pos + n] = _step_labels(g, n, labels[k])
        starts[e], lengths[e], ep_returns[e], source[e] = pos, n, r.sum(), k
        pos += n
    for f in files:
        f.close()
    np.save(tmp / "returns_to_go.npy", returns_to_go(rewards64, starts, lengths).astype(np.float32))
    np.save(tmp / "timesteps.npy", (np.arange(totals) - np.repeat(starts, lengths)).astype(np.int32))
    for name, arr in [("episode_starts", starts), ("episode_lengths", lengths), ("episode_returns", ep_returns),
                      ("episode_source", source), ("step_skill", skill_ids), ("step_speed", speeds),
                      ("step_quality", quality_ids)]:
        np.save(tmp / f"{name}.npy", arr)
    mean = obs_sum / totals
    std = np.sqrt(np.maximum(obs_sq / totals - mean**2, 0.0))
    meta = {"version": FLAT_VERSION, "datasets": list(dataset_ids), "root": str(root), "n_steps": int(totals),
            "n_episodes": n_eps, "obs_dim": int(obs_dim), "act_dim": int(act_dim),
            "obs_mean": mean.tolist(), "obs_std": np.maximum(std, 1e-6).tolist(),
            "return_min": float(ep_returns.min()), "return_max": float(ep_returns.max()),
            "return_mean": float(ep_returns.mean()), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    for arr in (obs, act, rew):
        arr.flush()
    del obs, act, rew
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    if out.exists():  # built concurrently by another process: keep theirs
        shutil.rmtree(tmp)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(tmp, out)
        except OSError:  # lost a race to a process that built the same folder
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def open_flat(path: Path | str, mmap: bool = True) -> FlatData:
    """Open a flat folder; the per-step arrays are memory-mapped (read-only) unless ``mmap=False``."""
    path = Path(path)
    meta_path = path / "meta.json"
    if not meta_path.exists():
        raise NotAvailableError(f"{path} is not a flat dataset folder (no meta.json); build it with build_flat")
    meta = json.loads(meta_path.read_text())
    mode = "r" if mmap else None
    arrays = {name: np.load(path / f"{name}.npy", mmap_mode=mode, allow_pickle=False) for name in ARRAYS}
    for name in ("episode_starts", "episode_lengths", "episode_returns", "episode_source"):
        arrays[name] = np.asarray(arrays[name])  # small: keep in RAM
    return FlatData(**arrays, meta=meta, path=path)


def _new_flat_arrays(out: Path, n_steps: int, obs_dim: int, act_dim: int):
    """A fresh temporary folder beside ``out`` with writable memory-mapped observation/action/reward arrays."""
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    mm = np.lib.format.open_memmap
    obs = mm(tmp / "observations.npy", mode="w+", dtype=np.float32, shape=(n_steps, obs_dim))
    act = mm(tmp / "actions.npy", mode="w+", dtype=np.float32, shape=(n_steps, act_dim))
    rew = mm(tmp / "rewards.npy", mode="w+", dtype=np.float32, shape=(n_steps,))
    return tmp, obs, act, rew


def flat_dataset(root: Path | str, dataset_ids: Sequence[str] | str, cache_dir: Path | str | None = None,
                 mmap: bool = True, obs_dim: int | None = None) -> FlatData:
    """The flat arrays of ``dataset_ids`` under the Minari ``root``, built on first use and then reused
    (``obs_dim``: see :func:`build_flat`)."""
    root = Path(root)
    ids = [dataset_ids] if isinstance(dataset_ids, str) else list(dataset_ids)
    for ds in ids:
        _hdf5_path(root, ds)  # a clear error before anything else
    cache = Path(cache_dir) if cache_dir else root / ".flat"
    path = cache / _flat_key(root, ids, obs_dim)
    if not (path / "meta.json").exists():
        build_flat(root, ids, path, obs_dim)
    return open_flat(path, mmap=mmap)


def synthetic_flat(out: Path | str, n_steps: int, obs_dim: int = 17, act_dim: int = 6, episode_len: int = 1000,
                   seed: int = 0, chunk: int = 500_000) -> FlatData:
    """A flat folder of random data with the layout of a real one (for memory and speed benchmarks)."""
    out = Path(out)
    if (out / "meta.json").exists():
        data = open_flat(out)
        if data.n_steps == n_steps and data.obs_dim == obs_dim:
            return data
        shutil.rmtree(out)
    rng = np.random.default_rng(seed)
    tmp, obs, act, rew = _new_flat_arrays(out, n_steps, obs_dim, act_dim)
    for i in range(0, n_steps, chunk):  # bounded memory however large n_steps is
        j = min(i + chunk, n_steps)
        obs[i:j] = rng.standard_normal((j - i, obs_dim), dtype=np.float32)
        act[i:j] = rng.uniform(-1, 1, (j - i, act_dim)).astype(np.float32)
        rew[i:j] = rng.standard_normal(j - i, dtype=np.float32)
    lengths = np.full(n_steps // episode_len, episode_len, np.int64)
    if n_steps % episode_len:
        lengths = np.append(lengths, n_steps % episode_len)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    rtg = returns_to_go(np.asarray(rew), starts, lengths).astype(np.float32)
    np.save(tmp / "returns_to_go.npy", rtg)
    np.save(tmp / "timesteps.npy", (np.arange(n_steps) - np.repeat(starts, lengths)).astype(np.int32))
    np.save(tmp / "episode_starts.npy", starts)
    np.save(tmp / "episode_lengths.npy", lengths)
    np.save(tmp / "episode_returns.npy", rtg[starts].astype(np.float64))
    np.save(tmp / "episode_source.npy", np.zeros(len(starts), np.int16))
    np.save(tmp / "step_skill.npy", np.zeros(n_steps, np.int8))  # all run_forward, expert
    np.save(tmp / "step_speed.npy", np.full(n_steps, np.nan, np.float32))
    np.save(tmp / "step_quality.npy", np.full(n_steps, QUALITY_LEVELS.index("expert"), np.int8))
    for arr in (obs, act, rew):
        arr.flush()
    del obs, act, rew
    meta = {"version": FLAT_VERSION, "datasets": ["synthetic"], "root": None, "n_steps": n_steps,
            "n_episodes": len(starts), "obs_dim": obs_dim, "act_dim": act_dim, "obs_mean": [0.0] * obs_dim,
            "obs_std": [1.0] * obs_dim, "return_min": float(rtg[starts].min()), "return_max": float(rtg[starts].max()),
            "return_mean": float(rtg[starts].mean())}
    (tmp / "meta.json").write_text(json.dumps(meta) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return open_flat(out)
