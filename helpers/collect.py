"""Collect trajectories of a skill into a Minari dataset: fast, streaming, resumable, optionally on Ray.

    python -m helpers.collect --skill run_forward --quality expert --steps 1000000 --out datasets
    python -m helpers.collect --skill jump --quality medium --steps 200000 --out datasets --workers 2
    python -m helpers.collect --skill walk --quality random --steps 100000 --out datasets --ray auto

The last line printed is one JSON object with ``dataset_id`` (``course/<skill>/<quality>-v0``).

How it is fast: each worker process steps a batch of environments and calls the policy once per
step for the whole batch (a NumPy copy of the expert's actor), and there is one worker per core,
each writing its own shards, so nothing but a list of episode ids crosses a process boundary.

How it is safe: the job is a fixed plan of episodes (episode ``i`` is reset with seed
``seed * 1_000_000 + i`` and its action noise drawn from ``default_rng([seed, i])``). Workers write
finished episodes to shards in ``<out>/.staging/``, each shard atomically. A rerun with the same
arguments reads which episodes the shards hold, runs only the missing ones, and merges the first
episodes whose lengths cover ``--steps`` into the Minari dataset, which is moved into place in one
rename. Corrupt, truncated or mismatched shards raise an error naming the file.

Quality levels: ``expert`` is the committed expert (deterministic); ``medium`` adds Gaussian action
noise whose scale (MEDIUM_NOISE, per skill) puts the normalised return near 0.5, halfway between
random and expert; ``random`` is uniform random actions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
import warnings
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from . import REPO_ROOT
from .checkpoints import atomic_write_json, sha256
from .skills import SKILLS, get_skill, make_env

QUALITIES = ("expert", "medium", "random")
DATASETS_DIR = REPO_ROOT / "datasets"  # git-ignored; notebooks use datasets/<profile>/ as the Minari root
# Std of the Gaussian action noise of `medium`, in units of half the action range. Calibrated with
# `python -m helpers.collect --calibrate-medium --skill S` so that (R - R_random) / (R_expert -
# R_random) is about 0.5 for each expert.
MEDIUM_NOISE = {"run_forward": 0.2, "run_backward": 0.22, "jump": 1.5, "front_flip": 0.6,
                "target_speed": 0.4, "walk": 0.3, "stand_up": 0.3}
SEED_STRIDE = 1_000_000
SHARD_STEPS = int(os.environ.get("COURSE_SHARD_STEPS", 100_000))  # a worker flushes a shard at this many steps
INFO_KEYS = ("x_velocity", "torso_height", "pitch", "target_speed")
COLLECTOR_VERSION = 1


class ShardError(RuntimeError):
    """A shard file is corrupt, truncated or does not match the job."""


@dataclass(frozen=True)
class Job:
    skill: str
    quality: str
    steps: int
    seed: int
    envs_per_worker: int = 16

    @property
    def dataset_id(self) -> str:
        return f"course/{self.skill}/{self.quality}-v0"

    def key(self) -> dict[str, Any]:
        """What must match for a rerun to continue this job's shards."""
        return {"skill": self.skill, "quality": self.quality, "steps": self.steps, "seed": self.seed,
                "collector_version": COLLECTOR_VERSION}


# --------------------------------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------------------------------

class BatchPolicy:
    """Actions for a batch of observations at one quality level, with per-episode noise streams."""

    def __init__(self, skill: str, quality: str, action_space):
        if quality not in QUALITIES:
            raise ValueError(f"unknown quality {quality!r}; valid: {', '.join(QUALITIES)}")
        self.quality = quality
        self.low, self.high = action_space.low.astype(np.float32), action_space.high.astype(np.float32)
        self.actor = None
        self.card_sha256 = None
        if quality != "random":
            from .experts import expert_dir, load_expert, fast_actor

            self.actor = fast_actor(load_expert(skill))
            self.card_sha256 = sha256(expert_dir(skill) / "card.json")
        self.noise = MEDIUM_NOISE[skill] if quality == "medium" else 0.0

    def __call__(self, obs: np.ndarray, rngs: list[np.random.Generator]) -> np.ndarray:
        n, dim = len(obs), len(self.low)
        if self.actor is None:
            return np.stack([rng.uniform(self.low, self.high) for rng in rngs]).astype(np.float32)
        actions = self.actor(obs)
        if self.noise:
            half_range = 0.5 * (self.high - self.low)
            noise = np.stack([rng.standard_normal(dim) for rng in rngs]).astype(np.float32)
            actions = np.clip(actions + self.noise * half_range * noise, self.low, self.high)
        return actions.reshape(n, dim)


# --------------------------------------------------------------------------------------------------
# Shards
# --------------------------------------------------------------------------------------------------

def staging_dir(out: Path, job: Job) -> Path:
    return Path(out) / ".staging" / job.dataset_id.replace("/", "__")


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
    for key in INFO_KEYS:
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
                "truncations", "target_speed"} | {f"info_{k}" for k in INFO_KEYS}
    missing = required - set(d)
    if missing:
        raise ShardError(f"{path}: missing arrays {sorted(missing)}")
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
            "infos": {k: d[f"info_{k}"][obs_start: obs_start + length + 1] for k in INFO_KEYS},
        }
        obs_start += length + 1
        step_start += length
        yield ep


# --------------------------------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------------------------------

def _info_row(info: dict[str, Any]) -> list[float]:
    return [float(info.get(k, 0.0) or 0.0) for k in INFO_KEYS]


def run_episodes(job_dict: dict[str, Any], episode_ids: list[int], stage: str, worker_tag: str,
                 threads: int = 1) -> dict[str, Any]:
    """Worker: run the given episodes with a batch of envs; write them to shards. Returns a summary."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover
        pass
    job = Job(**job_dict)
    stage_path = Path(stage)
    skill = get_skill(job.skill)
    n_envs = max(1, min(job.envs_per_worker, len(episode_ids)))
    envs = [make_env(skill, disable_env_checker=True) for _ in range(n_envs)]
    policy = BatchPolicy(job.skill, job.quality, envs[0].action_space)
    queue = list(episode_ids)[::-1]  # pop() from the end = ascending ids
    slots: list[dict[str, Any] | None] = [None] * n_envs
    obs = np.zeros((n_envs,) + envs[0].observation_space.shape, dtype=np.float64)
    finished: list[dict[str, Any]] = []
    buffered_steps, shard_index, steps_done, eps_done = 0, 0, 0, 0

    def start(slot: int) -> bool:
        if not queue:
            slots[slot] = None
            return False
        ep_id = queue.pop()
        seed = job.seed * SEED_STRIDE + ep_id
        o, info = envs[slot].reset(seed=seed)
        obs[slot] = o
        slots[slot] = {"id": ep_id, "seed": seed, "rng": np.random.default_rng([job.seed, ep_id]),
                       "target_speed": float(info.get("target_speed", np.nan) if skill.has_goal else np.nan),
                       "observations": [o], "actions": [], "rewards": [], "terminations": [],
                       "truncations": [], "infos": [_info_row(info)]}
        return True

    def flush() -> None:
        nonlocal finished, buffered_steps, shard_index
        if finished:
            write_shard(stage_path / f"shard_{worker_tag}_{shard_index:04d}.npz", finished)
            shard_index += 1
            finished, buffered_steps = [], 0

    for i in range(n_envs):
        start(i)
    while any(s is not None for s in slots):
        active = [i for i, s in enumerate(slots) if s is not None]
        actions = policy(obs[active], [slots[i]["rng"] for i in active])
        for a, i in zip(actions, active):
            ep = slots[i]
            o, r, term, trunc, info = envs[i].step(a)
            obs[i] = o
            ep["observations"].append(o)
            ep["actions"].append(a)
            ep["rewards"].append(r)
            ep["terminations"].append(term)
            ep["truncations"].append(trunc)
            ep["infos"].append(_info_row(info))
            if term or trunc:
                infos = np.asarray(ep.pop("infos"), dtype=np.float64)
                finished.append({
                    "id": ep["id"], "seed": ep["seed"], "target_speed": ep["target_speed"],
                    "observations": np.asarray(ep["observations"], dtype=np.float64),
                    "actions": np.asarray(ep["actions"], dtype=np.float32),
                    "rewards": np.asarray(ep["rewards"], dtype=np.float64),
                    "terminations": np.asarray(ep["terminations"], dtype=bool),
                    "truncations": np.asarray(ep["truncations"], dtype=bool),
                    "infos": {k: infos[:, j] for j, k in enumerate(INFO_KEYS)},
                })
                n = len(ep["rewards"])
                steps_done += n
                buffered_steps += n
                eps_done += 1
                if buffered_steps >= SHARD_STEPS:
                    flush()
                start(i)
    flush()
    for env in envs:
        env.close()
    return {"worker": worker_tag, "episodes": eps_done, "steps": steps_done}


# --------------------------------------------------------------------------------------------------
# Planning, running and merging
# --------------------------------------------------------------------------------------------------

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


def episodes_needed(lengths: dict[int, int], steps: int) -> int | None:
    """Smallest K such that episodes 0..K-1 are all done and cover ``steps``; None if not yet."""
    total = 0
    for k in range(len(lengths) + 1):
        if total >= steps:
            return k
        if k not in lengths:
            return None
        total += lengths[k]
    return None


def plan_round(lengths: dict[int, int], steps: int, max_episode_steps: int) -> list[int]:
    """Episode ids to run next: the missing ones of the prefix expected to cover ``steps``.

    Lengths of episodes not yet run are guessed from those done (or the time limit). When episodes
    can end early (the humanoid falls) we plan 10% more, so that one round usually suffices; any
    episode beyond the covering prefix is simply not merged.
    """
    mean_len = float(np.mean(list(lengths.values()))) if lengths else float(max_episode_steps)
    covered, k = 0.0, 0
    while covered < steps:
        covered += lengths.get(k, mean_len)
        k += 1
    missing = [i for i in range(k) if i not in lengths]
    if mean_len < max_episode_steps and missing:
        extra = int(np.ceil(0.1 * len(missing)))
        missing += [i for i in range(k, k + extra) if i not in lengths]
    return missing


def _split(ids: list[int], parts: int) -> list[list[int]]:
    parts = max(1, min(parts, len(ids)))
    return [ids[i::parts] for i in range(parts)]


def run_round(job: Job, ids: list[int], stage: Path, workers: int, round_index: int, ray_address: str | None,
              progress=None) -> list[dict[str, Any]]:
    chunks = _split(ids, workers)
    tags = [f"r{round_index:02d}w{w:02d}_{int(time.time() * 1000) % 10**8:08d}" for w in range(len(chunks))]
    if ray_address is not None:
        import ray

        remote = ray.remote(num_cpus=1)(run_episodes)
        refs = [remote.remote(asdict(job), c, str(stage), t) for c, t in zip(chunks, tags)]
        return ray.get(refs)
    if len(chunks) == 1:
        return [run_episodes(asdict(job), chunks[0], str(stage), tags[0])]
    import multiprocessing as mp

    ctx = mp.get_context("fork" if sys.platform == "linux" else "spawn")
    with ctx.Pool(len(chunks)) as pool:
        return pool.starmap(run_episodes, [(asdict(job), c, str(stage), t) for c, t in zip(chunks, tags)])


@contextlib.contextmanager
def _minari_root(path: Path):
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def dataset_path(out: Path, dataset_id: str) -> Path:
    return Path(out) / dataset_id


def is_complete(out: Path, job: Job) -> bool:
    meta = dataset_path(out, job.dataset_id) / "data" / "metadata.json"
    if not meta.exists():
        return False
    data = json.loads(meta.read_text())
    spec = data.get("course_job")
    if spec is None or {k: spec.get(k) for k in job.key()} != job.key():
        raise FileExistsError(
            f"{dataset_path(out, job.dataset_id)} already holds a dataset made with different arguments "
            f"({spec}); use another --out or delete it")
    return True


def merge(job: Job, stage: Path, out: Path, n_episodes: int, extra_metadata: dict[str, Any]) -> dict[str, Any]:
    """Stream episodes 0..n-1 from the shards into a Minari dataset; move it into place atomically."""
    import minari
    from minari.data_collector import EpisodeBuffer

    env = make_env(job.skill)
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    done = completed(stage)
    wanted = set(range(n_episodes))
    by_shard: dict[Path, list[int]] = {}
    for ep_id in sorted(wanted):
        by_shard.setdefault(done[ep_id], []).append(ep_id)
    build_root = stage / "build"
    shutil.rmtree(build_root, ignore_errors=True)
    returns, lengths, goals = np.zeros(n_episodes), np.zeros(n_episodes, dtype=np.int64), np.full(n_episodes, np.nan)

    def buffers_in_order() -> Iterator[EpisodeBuffer]:
        # Minari wants ids in order; shards hold interleaved ids, so read each shard once and
        # hold back only the episodes that are not yet due (bounded by the number of workers).
        pending: dict[int, dict[str, Any]] = {}
        next_id = 0
        for shard in sorted(by_shard, key=lambda p: min(by_shard[p])):
            for ep in read_shard(shard, obs_space.shape[0], act_space.shape[0]):
                if ep["id"] < n_episodes:
                    pending[ep["id"]] = ep
            while next_id in pending:
                ep = pending.pop(next_id)
                returns[next_id], lengths[next_id] = ep["rewards"].sum(), len(ep["rewards"])
                goals[next_id] = ep["target_speed"]
                options = {"target_speed": ep["target_speed"]} if np.isfinite(ep["target_speed"]) else None
                yield EpisodeBuffer(id=next_id, seed=ep["seed"], options=options,
                                    observations=ep["observations"], actions=ep["actions"],
                                    rewards=ep["rewards"], terminations=ep["terminations"],
                                    truncations=ep["truncations"], infos=ep["infos"])
                next_id += 1
        if next_id != n_episodes:
            raise ShardError(f"episodes {next_id}..{n_episodes - 1} are missing from the shards in {stage}")

    skill = get_skill(job.skill)
    with _minari_root(build_root), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(author_email|eval_env|env_spec).*")
        episodes = buffers_in_order()
        dataset = minari.create_dataset_from_buffers(
            job.dataset_id, [next(episodes)], env=f"course/{job.skill}-v0", observation_space=obs_space,
            action_space=act_space,
            algorithm_name=f"{job.quality} ({extra_metadata.get('policy', '')})", author="generalist-rl course",
            description=f"{skill.description} ({skill.body}, {skill.env_id}); quality {job.quality}",
            code_permalink="helpers/collect.py", data_format="hdf5")
        batch: list[EpisodeBuffer] = []
        for buf in episodes:
            batch.append(buf)
            if len(batch) >= 50:
                dataset.storage.update_episodes(batch)
                batch = []
        if batch:
            dataset.storage.update_episodes(batch)
        summary = {
            "course_job": job.key(),
            "course_skill": job.skill,
            "course_quality": job.quality,
            "course_env_id": skill.env_id,
            "course_env_kwargs": json.dumps(skill.env_kwargs),
            "course_returns": {"mean": float(returns.mean()), "std": float(returns.std()),
                               "min": float(returns.min()), "max": float(returns.max())},
            "course_mean_episode_length": float(lengths.mean()),
            "course_goal_per_episode": "options/target_speed" if skill.has_goal else None,
            **extra_metadata,
        }
        dataset.storage.update_metadata(summary)
    final = dataset_path(out, job.dataset_id)
    with _minari_root(out):
        from minari.namespace import create_namespace, list_local_namespaces

        namespace = job.dataset_id.rsplit("/", 1)[0]
        if namespace not in list_local_namespaces():
            with contextlib.suppress(ValueError):  # created concurrently by another job
                create_namespace(namespace, description=f"course datasets of skill {job.skill}")
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(build_root / job.dataset_id, final)
    return {**summary, "total_steps": int(lengths.sum()), "total_episodes": n_episodes,
            "returns": returns, "goals": goals}


def collect(skill: str, quality: str, steps: int, out: Path | str, seed: int = 0, workers: int | None = None,
            envs_per_worker: int = 16, ray_address: str | None = None, verbose: bool = True,
            keep_shards: bool = False) -> dict[str, Any]:
    """Collect (or finish collecting) a dataset; returns a summary with ``dataset_id``."""
    s = get_skill(skill)
    if quality not in QUALITIES:
        raise ValueError(f"unknown quality {quality!r}; valid: {', '.join(QUALITIES)}")
    if steps < 1:
        raise ValueError(f"--steps must be positive, got {steps}")
    out = Path(out)
    job = Job(s.name, quality, int(steps), int(seed), envs_per_worker)
    t0 = time.time()
    lock = Path(out) / ".staging" / (job.dataset_id.replace("/", "__") + ".lock")
    with _exclusive(lock, f"another process is collecting {job.dataset_id}; waiting for it", verbose):
        if is_complete(out, job):  # done before, or by the process we waited for
            meta = json.loads((dataset_path(out, job.dataset_id) / "data" / "metadata.json").read_text())
            return {"dataset_id": job.dataset_id, "path": str(dataset_path(out, job.dataset_id)),
                    "total_steps": meta["total_steps"], "total_episodes": meta["total_episodes"],
                    "mean_return": meta["course_returns"]["mean"], "std_return": meta["course_returns"]["std"],
                    "already_complete": True, "seconds": 0.0}
        return _collect_locked(job, out, t0, workers, ray_address, verbose, keep_shards)


@contextlib.contextmanager
def _exclusive(path: Path, message: str, verbose: bool):
    """Hold an exclusive lock on ``path`` (two collections of one dataset would duplicate episodes)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if verbose:
                print(f"[collect] {message}", file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _collect_locked(job: Job, out: Path, t0: float, workers: int | None, ray_address: str | None, verbose: bool,
                    keep_shards: bool) -> dict[str, Any]:
    s = get_skill(job.skill)
    quality, steps, seed = job.quality, job.steps, job.seed
    stage = staging_dir(out, job)
    stage.mkdir(parents=True, exist_ok=True)
    for tmp in stage.glob(".*.tmp"):
        tmp.unlink()  # half-written shards of a killed run
    job_file = stage / "job.json"
    if job_file.exists() and json.loads(job_file.read_text()) != job.key():
        raise FileExistsError(f"{stage} holds shards of a different job ({job_file.read_text().strip()}); "
                              f"this one is {job.key()}: delete {stage} or use another --out")
    atomic_write_json(job_file, job.key())
    workers = workers or (os.cpu_count() or 1)
    if ray_address is not None:
        import ray

        if not ray.is_initialized():
            # "local" always starts a throwaway single-machine Ray (never joins one found in RAY_ADDRESS
            # or /tmp/ray); "auto" or HOST:PORT joins a running cluster
            if ray_address == "local":
                # loopback only: a sandbox's public interface may be firewalled or proxied
                ray.init(address="local", num_cpus=workers, _node_ip_address="127.0.0.1", include_dashboard=False,
                         log_to_driver=False)
            else:
                ray.init(address=ray_address, log_to_driver=False)
        workers = max(workers, int(ray.cluster_resources().get("CPU", 1)))
    max_len = make_env(s).spec.max_episode_steps or 1000
    if quality != "random":
        from . import experts  # noqa: F401  (import torch and SB3 once, before workers fork)
    policy_desc = "uniform random actions" if quality == "random" else (
        f"expert + N(0, {MEDIUM_NOISE[s.name]}^2) action noise" if quality == "medium" else "expert, deterministic")
    for round_index in range(100):
        lengths = shard_lengths(stage)
        n = episodes_needed(lengths, steps)
        if n is not None:
            break
        ids = plan_round(lengths, steps, max_len)
        if verbose:
            print(f"[collect {job.dataset_id}] round {round_index}: {len(ids)} episodes on {workers} workers "
                  f"({len(lengths)} already done)", file=sys.stderr, flush=True)
        run_round(job, ids, stage, workers, round_index, ray_address)
    else:  # pragma: no cover - a plan that never converges is a bug
        raise RuntimeError("collection did not converge in 100 rounds")
    collect_seconds = time.time() - t0
    extra = {"policy": policy_desc, "course_seed": seed, "course_medium_noise": MEDIUM_NOISE[s.name] if quality == "medium" else None}
    if quality != "random":
        from .experts import expert_dir

        card = json.loads((expert_dir(s.name) / "card.json").read_text())
        extra["course_expert_card"] = {"path": f"pretrained/{s.name}/card.json", "sha256": sha256(expert_dir(s.name) / "card.json"),
                                       "algorithm": card["algorithm"], "env_steps": card["env_steps"],
                                       "mean_return": card["evaluation"]["mean_return"]}
    summary = merge(job, stage, out, n, extra)
    if not keep_shards:
        shutil.rmtree(stage)
    return {"dataset_id": job.dataset_id, "path": str(dataset_path(out, job.dataset_id)),
            "total_steps": summary["total_steps"], "total_episodes": summary["total_episodes"],
            "mean_return": summary["course_returns"]["mean"], "std_return": summary["course_returns"]["std"],
            "collect_seconds": round(collect_seconds, 2), "seconds": round(time.time() - t0, 2),
            "steps_per_second": summary["total_steps"] / max(time.time() - t0, 1e-9), "workers": workers,
            "already_complete": False}


class NoisyActor:
    """Single-observation version of the ``medium`` policy (for calibration and evaluation)."""

    def __init__(self, skill: str, noise: float, seed: int = 0):
        from .experts import load_expert, fast_actor

        self.actor = fast_actor(load_expert(skill))
        self.noise, self.rng = noise, np.random.default_rng(seed)
        self.half_range = 0.5 * (self.actor.high - self.actor.low)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        action = self.actor(obs)
        if self.noise:
            action = action + self.noise * self.half_range * self.rng.standard_normal(action.shape)
        return np.clip(action, self.actor.low, self.actor.high).astype(np.float32)


def medium_noise_curve(skill: str, noises=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5), episodes: int = 3,
                       seed: int = 500) -> list[dict[str, float]]:
    """Return and normalised score, (R - R_random) / (R_expert - R_random), per action-noise level."""
    from .evaluate import RandomPolicy, evaluate_policy

    env = make_env(skill)
    r_random = evaluate_policy(RandomPolicy(env.action_space, seed), skill, episodes=episodes, seed=seed)["mean_return"]
    rows = []
    for noise in noises:
        r = evaluate_policy(NoisyActor(skill, noise, seed), skill, episodes=episodes, seed=seed)["mean_return"]
        rows.append({"noise": float(noise), "mean_return": r, "random_return": r_random})
    r_expert = rows[0]["mean_return"] if noises[0] == 0 else evaluate_policy(
        NoisyActor(skill, 0.0), skill, episodes=episodes, seed=seed)["mean_return"]
    for row in rows:
        row["normalized_score"] = (row["mean_return"] - r_random) / (r_expert - r_random)
    return rows


def load_dataset(out: Path | str, dataset_id: str):
    """``minari.load_dataset`` with ``out`` as the Minari root."""
    import minari

    with _minari_root(Path(out)):
        return minari.load_dataset(dataset_id)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m helpers.collect", description=__doc__.split("\n")[0])
    p.add_argument("--skill", required=True, help=f"one of: {', '.join(SKILLS)}")
    p.add_argument("--quality", required=True, help=f"one of: {', '.join(QUALITIES)}")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--out", required=True, help="Minari root folder the dataset is written under")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    p.add_argument("--envs-per-worker", type=int, default=16)
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run on Ray: 'auto' (the running cluster), HOST:PORT, or 'local' (start one here)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    try:
        get_skill(args.skill)
        if args.quality not in QUALITIES:
            raise ValueError(f"unknown quality {args.quality!r}; valid: {', '.join(QUALITIES)}")
        if args.steps < 1:
            raise ValueError(f"--steps must be positive, got {args.steps}")
    except (KeyError, ValueError) as exc:
        p.error(str(exc))
    res = collect(args.skill, args.quality, args.steps, args.out, seed=args.seed, workers=args.workers,
                  envs_per_worker=args.envs_per_worker, ray_address=args.ray, verbose=not args.quiet)
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
