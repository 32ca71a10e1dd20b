"""Shards: finished episodes of a collection job as ``.npz`` files, each written atomically.

A worker flushes its finished episodes to a new shard every :data:`SHARD_STEPS` steps. Shards carry
their episode ids, so a rerun knows which episodes are done; a damaged or foreign shard raises
:class:`ShardError` naming the file. Loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..core.errors import CourseError

SHARD_STEPS = int(os.environ.get("COURSE_SHARD_STEPS", 100_000))  # a worker flushes a shard at this many steps
# per-step info kept with every episode (Minari's "infos"): what the metrics and relabelling need
INFO_KEYS = ("x_velocity", "torso_height", "torso_up", "pitch", "target_speed")


class ShardError(CourseError, RuntimeError):
    """A shard file is corrupt, truncated or does not match the job."""


def write_shard(path: Path, episodes: list[dict[str, Any]]) -> None:
    """Write finished episodes to one .npz shard, atomically (temp file + rename)."""
    lengths = np.array([len(e["rewards"]) for e in episodes], dtype=np.int64)
    arrays = {
        "episode_ids": np.array([e["id"] for e in episodes], dtype=np.int64),
        "seeds": np.array([e["seed"] for e in episodes], dtype=np.int64),
        "lengths": lengths,
        "observations": np.concatenate([e["observations"] for e in episodes]),
        "actions": np.concatenate([e["actions"] for e in episodes]),
        "rewards": np.concatenate([e["rewards"] for e in episodes]),
        "terminations": np.concatenate([e["terminations"] for e in episodes]),
        "truncations": np.concatenate([e["truncations"] for e in episodes]),
        "target_speed": np.array([e["target_speed"] for e in episodes], dtype=np.float64),
    }
    keys = list(episodes[0]["infos"])  # INFO_KEYS, and for a transitions job the per-step skill and quality
    if any(list(e["infos"]) != keys for e in episodes):
        raise ShardError(f"{path}: the episodes of one shard must carry the same info keys")
    arrays["info_keys"] = np.array(keys)
    for key in keys:
        arrays[f"info_{key}"] = np.concatenate([e["infos"][key] for e in episodes])
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def list_shards(stage: Path) -> list[Path]:
    return sorted(p for p in stage.glob("shard_*.npz"))


def _load_shard(path: Path, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Arrays of a shard (all, or just ``keys``); a damaged file raises ShardError naming it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in (keys or data.files)}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ShardError(f"{path}: corrupt or truncated shard ({type(exc).__name__}: {exc}); "
                         "delete it and rerun to collect its episodes again") from None
    except KeyError as exc:
        raise ShardError(f"{path}: missing array {exc}") from None


def shard_episode_ids(path: Path) -> np.ndarray:
    """The episode ids a shard holds (reads only that small array)."""
    return _load_shard(path, ("episode_ids",))["episode_ids"]


def read_shard(path: Path, obs_dim: int, act_dim: int) -> Iterator[dict[str, Any]]:
    """Yield the episodes of one shard, validating shapes against the job's spaces."""
    d = _load_shard(path)
    required = {"episode_ids", "seeds", "lengths", "observations", "actions", "rewards", "terminations",
                "truncations", "target_speed", "info_keys"}
    missing = required - set(d)
    if missing:
        raise ShardError(f"{path}: missing arrays {sorted(missing)}")
    info_keys = [str(k) for k in d["info_keys"]]
    missing = {f"info_{k}" for k in info_keys} - set(d)
    if missing or not set(INFO_KEYS) <= set(info_keys):
        raise ShardError(f"{path}: info arrays {sorted(missing or set(INFO_KEYS) - set(info_keys))} are missing")
    lengths = d["lengths"]
    steps, n = int(lengths.sum()), len(lengths)
    if d["observations"].ndim != 2 or d["observations"].shape[1] != obs_dim:
        raise ShardError(f"{path}: observations have shape {d['observations'].shape}, expected (N, {obs_dim}) "
                         "for this skill: shards from another job?")
    if d["actions"].ndim != 2 or d["actions"].shape[1] != act_dim:
        raise ShardError(f"{path}: actions have shape {d['actions'].shape}, expected (N, {act_dim})")
    if len(d["observations"]) != steps + n or len(d["actions"]) != steps or len(d["rewards"]) != steps:
        raise ShardError(f"{path}: array lengths do not add up to the episode lengths it lists")
    obs_start, step_start = 0, 0
    for i, length in enumerate(lengths):
        length = int(length)
        ep = {
            "id": int(d["episode_ids"][i]), "seed": int(d["seeds"][i]),
            "target_speed": float(d["target_speed"][i]),
            "observations": d["observations"][obs_start: obs_start + length + 1],
            "actions": d["actions"][step_start: step_start + length],
            "rewards": d["rewards"][step_start: step_start + length],
            "terminations": d["terminations"][step_start: step_start + length],
            "truncations": d["truncations"][step_start: step_start + length],
            "infos": {k: d[f"info_{k}"][obs_start: obs_start + length + 1] for k in info_keys},
        }
        obs_start += length + 1
        step_start += length
        yield ep


def completed(stage: Path) -> dict[int, Path]:
    """Episode id -> shard holding it, over all shards; duplicated ids are an error."""
    done: dict[int, Path] = {}
    for shard in list_shards(stage):
        for ep_id in shard_episode_ids(shard).tolist():
            if ep_id in done:
                raise ShardError(f"episode {ep_id} is in both {done[ep_id].name} and {shard.name}")
            done[ep_id] = shard
    return done


def shard_lengths(stage: Path) -> dict[int, int]:
    out: dict[int, int] = {}
    for shard in list_shards(stage):
        d = _load_shard(shard, ("episode_ids", "lengths"))
        for ep_id, length in zip(d["episode_ids"].tolist(), d["lengths"].tolist()):
            if ep_id in out:
                raise ShardError(f"episode {ep_id} appears twice in the shards of {stage} (second: {shard.name})")
            out[ep_id] = length
    return out
