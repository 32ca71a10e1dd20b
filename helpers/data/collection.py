"""Collecting trajectories of a skill: fast, streaming, resumable, on one machine or on Ray.

How it is fast: each worker process steps a batch of environments and calls the policy once per
step for the whole batch (a NumPy copy of the expert's actor), and there is one worker per core,
each writing its own shards, so nothing but a list of episode ids crosses a process boundary.

How it is safe: the job is a fixed plan of episodes (episode ``i`` is reset with seed
``seed * 1_000_000 + i`` and its action noise drawn from ``default_rng([seed, i])``). Workers write
finished episodes to shards in ``<out>/.staging/``, each shard atomically. A rerun with the same
arguments reads which episodes the shards hold, runs only the missing ones, and merges the first
episodes whose lengths cover ``steps`` into the Minari dataset, which is moved into place in one
rename (:mod:`helpers.data.minari_io`). Corrupt, truncated or mismatched shards raise an error naming
the file. Two processes collecting the same dataset wait for each other (a file lock).

On Ray each worker's share is one task (one CPU), retried by Ray when its process dies
(:data:`RAY_TASK_RETRIES`); a retried task first reads the shards its dead attempt wrote (they carry
its tag) and runs only the rest of its episodes, so nothing is lost or written twice. On a real
cluster ``--out`` must be a filesystem every node mounts.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import multiprocessing as mp
import os
import re
import shutil
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from ..core import faults
from ..core.checkpoints import atomic_write_json, sha256
from ..core.errors import CourseError, InvalidArgumentError, NotAvailableError
from ..envs.skills import get_skill
from ..experts.policy import expert_dir
from .batch_envs import make_batch
from .behaviour import MEDIUM_NOISE, BehaviourPolicy, check_quality
from .minari_io import dataset_path, merge
from .shards import INFO_KEYS, SHARD_STEPS, shard_episode_ids, shard_lengths, write_shard
from .transitions import MAX_EPISODE_STEPS, TRANSITIONS, check_controller, controller_experts, run_transition_episodes

SEED_STRIDE = 1_000_000
COLLECTOR_VERSION = 2  # 2: torso_up among the per-step infos
RAY_TASK_RETRIES = 3  # a Ray task whose worker process dies is run again, up to this many times


class DatasetExistsError(CourseError, FileExistsError):
    """The output folder already holds a dataset (or shards) made with other arguments."""


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


def staging_dir(out: Path, job: Job) -> Path:
    return Path(out) / ".staging" / job.dataset_id.replace("/", "__")


def own_shards(stage: Path, worker_tag: str) -> tuple[set[int], int]:
    """Episodes already in this worker's shards (an earlier attempt of the same task) and how many shards."""
    mine = sorted(Path(stage).glob(f"shard_{worker_tag}_*.npz"))
    done = {int(i) for shard in mine for i in shard_episode_ids(shard).tolist()}
    return done, (int(mine[-1].stem.rsplit("_", 1)[1]) + 1 if mine else 0)


# A worker's envs and behaviour policy are kept for its next task: a Ray worker process runs many tasks,
# and loading the expert (checksums, SB3) and making the envs costs ~0.3 s a task, what a 10k-step task
# takes. The expert's card checksum is in the key, so a republished expert is loaded afresh; every
# episode starts from ``reset(seed=...)``, so the envs carry nothing from one task to the next.
@functools.lru_cache(maxsize=4)
def _cached_batch(skill: str, n_envs: int):
    return make_batch(skill, n_envs)


@functools.lru_cache(maxsize=4)
def _cached_policy(skill: str, quality: str, expert_card: str | None) -> BehaviourPolicy:
    return BehaviourPolicy(skill, quality, _cached_batch(skill, 1).action_space)


def _behaviour_policy(skill: str, quality: str) -> BehaviourPolicy:
    card = sha256(expert_dir(skill) / "card.json") if quality != "random" else None
    return _cached_policy(skill, quality, card)


def run_episodes(job_dict: dict[str, Any], episode_ids: list[int], stage: str, worker_tag: str) -> dict[str, Any]:
    """Worker: run the given episodes with a batch of envs; write them to shards. Returns a summary.

    A second attempt with the same ``worker_tag`` (Ray retrying a task whose process died) runs only
    the episodes the first one did not write, into shards numbered after its."""
    t_start = time.perf_counter()
    job = Job(**job_dict)
    stage_path = Path(stage)
    resumed, first_shard = own_shards(stage_path, worker_tag)
    episode_ids = [i for i in episode_ids if i not in resumed]
    worker_index = int(m.group(1)) if (m := re.search(r"w(\d+)", worker_tag)) else 0
    if not episode_ids:
        return {"worker": worker_tag, "episodes": 0, "steps": 0, "resumed_episodes": len(resumed), "seconds": 0.0}
    skill = get_skill(job.skill)
    n_envs = max(1, min(job.envs_per_worker, len(episode_ids)))
    batch, policy = _cached_batch(job.skill, n_envs), _behaviour_policy(job.skill, job.quality)
    queue = list(episode_ids)[::-1]  # pop() from the end = ascending ids
    slots: list[dict[str, Any] | None] = [None] * n_envs
    # each slot's episode so far, written in place: row t of a slot is its step t (no per-step lists)
    horizon, act_dim = batch.max_episode_steps, batch.action_space.shape[0]
    obs = np.zeros((n_envs, horizon + 1, batch.obs_dim))
    acts = np.zeros((n_envs, horizon, act_dim), dtype=np.float32)
    rews = np.zeros((n_envs, horizon))
    terms, truncs = np.zeros((n_envs, horizon), dtype=bool), np.zeros((n_envs, horizon), dtype=bool)
    infos = np.zeros((n_envs, horizon + 1, len(INFO_KEYS)))
    t = np.zeros(n_envs, dtype=np.int64)
    finished: list[dict[str, Any]] = []
    buffered_steps, shard_index, steps_done, eps_done = 0, first_shard, 0, 0

    def start(slot: int) -> None:
        if not queue:
            slots[slot] = None
            return
        ep_id = queue.pop()
        seed = job.seed * SEED_STRIDE + ep_id
        o, row, info = batch.reset(slot, seed)
        obs[slot, 0], infos[slot, 0], t[slot] = o, row, 0
        slots[slot] = {"id": ep_id, "seed": seed, "rng": np.random.default_rng([job.seed, ep_id]),
                       "target_speed": float(info.get("target_speed", np.nan) if skill.has_goal else np.nan)}

    def finish(slot: int) -> dict[str, Any]:
        ep, n = slots[slot], int(t[slot])
        return {"id": ep["id"], "seed": ep["seed"], "target_speed": ep["target_speed"],
                "observations": obs[slot, :n + 1].copy(), "actions": acts[slot, :n].copy(),
                "rewards": rews[slot, :n].copy(), "terminations": terms[slot, :n].copy(),
                "truncations": truncs[slot, :n].copy(),
                "infos": {k: infos[slot, :n + 1, j].copy() for j, k in enumerate(INFO_KEYS)}}

    def flush() -> None:
        nonlocal finished, buffered_steps, shard_index
        if finished:
            write_shard(stage_path / f"shard_{worker_tag}_{shard_index:04d}.npz", finished)
            shard_index += 1
            finished, buffered_steps = [], 0
            faults.after_shard(worker_index, shard_index, stage_path)  # off unless COURSE_FAULT_COLLECT is set

    for i in range(n_envs):
        start(i)
    while any(s is not None for s in slots):
        active = np.array([i for i, s in enumerate(slots) if s is not None])
        step = t[active]
        actions = policy(obs[active, step], [slots[i]["rng"] for i in active])
        o, r, term, trunc, rows = batch.step(active, actions)
        obs[active, step + 1], infos[active, step + 1] = o, rows
        acts[active, step], rews[active, step], terms[active, step], truncs[active, step] = actions, r, term, trunc
        t[active] += 1
        for i in active[term | trunc]:
            finished.append(finish(i))
            n = int(t[i])
            steps_done += n
            buffered_steps += n
            eps_done += 1
            if buffered_steps >= SHARD_STEPS:
                flush()
            start(i)
    flush()
    return {"worker": worker_tag, "episodes": eps_done, "steps": steps_done, "resumed_episodes": len(resumed),
            "seconds": round(time.perf_counter() - t_start, 3)}


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
    worker = run_transition_episodes if job.skill == TRANSITIONS else run_episodes
    tags = [f"r{round_index:02d}w{w:02d}_{int(time.time() * 1000) % 10**8:08d}" for w in range(len(chunks))]
    if ray_address is not None:
        import ray  # optional (pip install 'ray[default]'): only a Ray collection needs it

        # one CPU per task; a task whose process dies (killed, out of memory, node lost) runs again
        remote = ray.remote(num_cpus=1, max_retries=RAY_TASK_RETRIES, retry_exceptions=False)(_worker_process)
        refs = [remote.remote(asdict(job), c, str(Path(stage).resolve()), t) for c, t in zip(chunks, tags)]
        return ray.get(refs)
    if len(chunks) == 1:  # in this process, on one thread like every worker (two threads cost ~20% here)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with threadpool_limits(1):
                return [worker(asdict(job), chunks[0], str(stage), tags[0])]
        finally:
            torch.set_num_threads(threads)
    ctx = mp.get_context("fork" if sys.platform == "linux" else "spawn")
    with ctx.Pool(len(chunks), initializer=_one_thread) as pool:
        return pool.starmap(worker, [(asdict(job), c, str(stage), t) for c, t in zip(chunks, tags)])


def _one_thread() -> None:
    """A worker process: one core each, so the actor's small matrix products stay on one thread. The
    BLAS pool is limited here, not by the environment: a forked worker inherits the parent's pool,
    already started with a thread per core, and two workers of two threads each on two cores ran at
    a third of the speed of one."""
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    threadpool_limits(1)


def _worker_process(job_dict: dict[str, Any], episode_ids: list[int], stage: str, worker_tag: str) -> dict[str, Any]:
    """A Ray task: a process of its own, set to one thread, then the job's worker."""
    import ray

    _one_thread()
    worker = run_transition_episodes if job_dict["skill"] == TRANSITIONS else run_episodes
    return {**worker(job_dict, episode_ids, stage, worker_tag), "node": ray.get_runtime_context().get_node_id()}


def connect_ray(address: str, workers: int | None) -> int:
    """Join the Ray cluster at ``address`` ("auto", HOST:PORT) or start a throwaway one ("local");
    returns the cluster's CPUs. The driver's ``COURSE_*`` settings travel to the workers (runtime_env)."""
    import ray  # optional (pip install 'ray[default]'): only a Ray collection needs it

    if not ray.is_initialized():
        env_vars = {k: v for k, v in os.environ.items() if k.startswith("COURSE_")}
        runtime_env = {"env_vars": env_vars} if env_vars else None
        # "local" always starts a throwaway single-machine Ray (never joins one found in RAY_ADDRESS
        # or /tmp/ray); "auto" or HOST:PORT joins a running cluster
        if address == "local":
            # loopback only: a sandbox's public interface may be firewalled or proxied
            ray.init(address="local", num_cpus=workers or os.cpu_count(), _node_ip_address="127.0.0.1",
                     include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)
        else:
            _check_reachable(address)
            try:
                ray.init(address=address, log_to_driver=False, runtime_env=runtime_env)
            except ConnectionError as exc:
                raise NotAvailableError(f"could not join a Ray cluster at {address!r} ({str(exc).splitlines()[0]}): "
                                        f"{_START_HINT}") from None
            except ray.exceptions.AuthenticationError:
                raise NotAvailableError(
                    f"the Ray cluster at {address!r} uses token authentication: set RAY_AUTH_MODE=token and make its "
                    "token available here (~/.ray/auth_token or RAY_AUTH_TOKEN), as on its nodes") from None
    return int(ray.cluster_resources().get("CPU", 1))


_START_HINT = ("start one with `ray start --head --port PORT` (and `ray start --address HEAD:PORT` on the other "
               "nodes), pass the head's HOST:PORT or 'auto' on a cluster node, or use --ray local for a throwaway "
               "Ray on this machine")


def _check_reachable(address: str) -> None:
    """A clear error, in seconds, for a HOST:PORT nothing listens on (ray.init would retry for a minute)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return  # "auto", or a ray:// client address: ray.init reports those itself
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise NotAvailableError(f"no Ray cluster answers at {address!r} ({exc.strerror or exc}): {_START_HINT}") from None


def is_complete(out: Path, job: Job) -> bool:
    meta = dataset_path(out, job.dataset_id) / "data" / "metadata.json"
    if not meta.exists():
        return False
    data = json.loads(meta.read_text())
    spec = data.get("course_job")
    if spec is None or {k: spec.get(k) for k in job.key()} != job.key():
        raise DatasetExistsError(
            f"{dataset_path(out, job.dataset_id)} already holds a dataset made with different arguments "
            f"({spec}); use another --out or delete it")
    return True


def collect(skill: str, quality: str, steps: int, out: Path | str, seed: int = 0, workers: int | None = None,
            envs_per_worker: int = 16, ray_address: str | None = None, verbose: bool = True,
            keep_shards: bool = False) -> dict[str, Any]:
    """Collect (or finish collecting) a dataset; returns a summary with ``dataset_id``.

    ``skill="transitions"`` collects cheetah episodes whose requested skill changes mid-episode
    (:mod:`helpers.data.transitions`); its ``quality`` names the switching controller (experts | recovery)."""
    if skill == TRANSITIONS:
        check_controller(quality)
    else:
        skill = get_skill(skill).name
        check_quality(quality)
    if steps < 1:
        raise InvalidArgumentError(f"steps must be positive, got {steps}")
    out = Path(out).resolve()  # Minari (get_size) doubles a relative root: "datasets/x/datasets/x/..."
    job = Job(skill, quality, int(steps), int(seed), envs_per_worker)
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
    quality, steps, seed = job.quality, job.steps, job.seed
    stage = staging_dir(out, job)
    stage.mkdir(parents=True, exist_ok=True)
    for tmp in stage.glob(".*.tmp"):
        tmp.unlink()  # half-written shards of a killed run
    job_file = stage / "job.json"
    if job_file.exists() and json.loads(job_file.read_text()) != job.key():
        raise DatasetExistsError(f"{stage} holds shards of a different job ({job_file.read_text().strip()}); "
                              f"this one is {job.key()}: delete {stage} or use another --out")
    atomic_write_json(job_file, job.key())
    if ray_address is not None:
        cluster_cpus = connect_ray(ray_address, workers)
        workers = workers or cluster_cpus  # default: one task per CPU of the cluster
    workers = workers or (os.cpu_count() or 1)
    if job.skill == TRANSITIONS:
        max_len = MAX_EPISODE_STEPS
        sources = controller_experts(quality)[1]  # loads the experts once, before workers fork
        policy_desc = "switching controller: " + ", ".join(f"{k} from {v}" for k, v in sources.items())
    else:
        max_len = _cached_batch(job.skill, 1).max_episode_steps
        # loads the expert once, here: forked workers inherit it, and the next job of this process reuses it
        policy_desc = _behaviour_policy(job.skill, quality).describe(job.skill)
    worker_runs: list[dict[str, Any]] = []
    for round_index in range(100):
        lengths = shard_lengths(stage)
        n = episodes_needed(lengths, steps)
        if n is not None:
            break
        ids = plan_round(lengths, steps, max_len)
        if verbose:
            print(f"[collect {job.dataset_id}] round {round_index}: {len(ids)} episodes on {workers} workers "
                  f"({len(lengths)} already done)", file=sys.stderr, flush=True)
        worker_runs += run_round(job, ids, stage, workers, round_index, ray_address)
    else:  # pragma: no cover - a plan that never converges is a bug
        raise RuntimeError("collection did not converge in 100 rounds")
    collect_seconds = time.time() - t0
    extra = {"policy": policy_desc, "course_seed": seed,
             "course_medium_noise": MEDIUM_NOISE[job.skill] if quality == "medium" else None}
    if job.skill != TRANSITIONS and quality != "random":
        card_path = expert_dir(job.skill) / "card.json"
        card = json.loads(card_path.read_text())
        extra["course_expert_card"] = {"path": f"pretrained/{job.skill}/card.json", "sha256": sha256(card_path),
                                       "algorithm": card["algorithm"], "env_steps": card["env_steps"],
                                       "mean_return": card["evaluation"]["mean_return"]}
    t_merge = time.time()
    summary = merge(job, stage, out, n, extra)
    if not keep_shards:
        shutil.rmtree(stage)
    merge_seconds = time.time() - t_merge
    return {"dataset_id": job.dataset_id, "path": str(dataset_path(out, job.dataset_id)),
            "total_steps": summary["total_steps"], "total_episodes": summary["total_episodes"],
            "mean_return": summary["course_returns"]["mean"], "std_return": summary["course_returns"]["std"],
            "collect_seconds": round(collect_seconds, 2), "merge_seconds": round(merge_seconds, 3),
            "seconds": round(time.time() - t0, 2),
            "steps_per_second": summary["total_steps"] / max(time.time() - t0, 1e-9), "workers": workers,
            "worker_runs": worker_runs, "already_complete": False}
