"""Measuring scale-out (notebook 09 and ``benchmarks/scaling_out.py``): collection throughput against
workers on a real Ray cluster, the multiprocessing collector and a plain loop; DDP step time and loss
against processes under torchrun; and a cost model built from those measurements.

    with LocalRayCluster(nodes=2, cpus_per_node=1) as cluster:
        collection = collection_scaling(cluster.address, steps=20_000, root=tmp)
    ddp = ddp_scaling(ddp_data(tmp / "ddp_data"), steps=30, out=tmp / "ddp")
    model = cost_model(collection, ddp)

Every number comes from the run that calls these; nothing is looked up. Timings on a shared machine
move with its load: the callers record the load average beside them.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import REPO_ROOT
from ..core.cluster import torchrun_nodes
from ..data.collection import Job, collect


def plain_loop_steps_per_s(skill: str = "run_forward", steps: int = 5000) -> float:
    """One env, one call of the expert's NumPy actor per step: the loop everyone writes first."""
    import torch

    from ..envs.factory import make_env
    from ..experts.policy import fast_actor, load_expert

    torch.set_num_threads(1)
    actor = fast_actor(load_expert(skill))
    env = make_env(skill)
    obs, _ = env.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(actor(obs))
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return steps / (time.perf_counter() - t0)


def _physics_rate(body: str, seconds: float, out) -> None:
    from ..envs.simulator import mj_steps_per_second

    out.put(mj_steps_per_second(body, seconds))


def machine_ceiling(body: str = "cheetah", seconds: float = 3.0, processes: int = 2) -> float:
    """What this machine allows ``processes`` workers: raw physics steps/s of that many processes at
    once over one process alone. Cores shared with other tenants (a VM) give less than ``processes``,
    and no collector can scale better than its physics does."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    rates = []
    for n in (1, processes):
        queue = ctx.Queue()
        procs = [ctx.Process(target=_physics_rate, args=(body, seconds, queue)) for _ in range(n)]
        for p in procs:
            p.start()
        rates.append(sum(queue.get() for _ in procs))
        for p in procs:
            p.join()
    return rates[1] / rates[0]


def _summary(res: dict, engine: str, workers: int) -> dict[str, Any]:
    runs = res.get("worker_runs", [])
    task_s = max((r.get("seconds", 0.0) for r in runs), default=0.0)
    return {"engine": engine, "workers": workers, "steps": res["total_steps"], "collect_seconds": res["collect_seconds"],
            "merge_seconds": res["merge_seconds"], "steps_per_s": res["total_steps"] / res["collect_seconds"],
            "slowest_task_seconds": task_s, "nodes": len({r["node"] for r in runs if "node" in r})}


def _median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One configuration's row: the run with the median steps/s (its own collect and merge times), and
    every run's steps/s beside it."""
    ranked = sorted(runs, key=lambda r: r["steps_per_s"])
    return {**ranked[len(ranked) // 2], "runs_steps_per_s": [r["steps_per_s"] for r in runs]}


def collection_scaling(address: str, steps: int, root: Path, skill: str = "run_forward", quality: str = "expert",
                       worker_counts: tuple[int, ...] = (1, 2), envs_per_worker: int = 16,
                       plain_steps: int = 5000, repeats: int = 3) -> dict[str, Any]:
    """The same job (``steps`` of ``skill``) on the Ray cluster at ``address`` with each worker count,
    on the multiprocessing collector with each worker count, and a plain loop; all in this call.

    Both engines are warmed up first: a small job loads the expert in this (driver) process, and on Ray
    starts one worker process per CPU and imports the simulator there (Ray keeps those processes for
    the driver's later tasks; multiprocessing forks this process, imports included), so that the runs
    compare rollouts, not process start-up, which is reported apart (``ray_warmup_seconds``). The
    multiprocessing runs come first: a process that has joined Ray must not fork workers. Each
    configuration runs ``repeats`` times, the worker counts taking turns, and its row is the median
    run: on 2 cores Ray's own daemons (GCS, raylets, dashboard) share the CPUs with the workers, and
    one run's steps/s moves by 10-30% with them."""
    import ray

    if ray.is_initialized():
        raise RuntimeError("collection_scaling forks multiprocessing workers: call it before joining Ray")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    root = Path(root)
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    collect(skill, quality, 2000, root / "warmup_mp", seed=99, workers=1, envs_per_worker=2, verbose=False)
    for r in range(repeats):
        for w in worker_counts:
            res = collect(skill, quality, steps, root / f"mp{w}_{r}", workers=w, envs_per_worker=envs_per_worker,
                          verbose=False)
            runs.setdefault(("multiprocessing", w), []).append(_summary(res, "multiprocessing", w))
    t0 = time.perf_counter()
    collect(skill, quality, 2000 * max(worker_counts), root / "warmup", seed=99, workers=max(worker_counts),
            envs_per_worker=2, ray_address=address, verbose=False)
    warmup = time.perf_counter() - t0
    nodes = len([n for n in ray.nodes() if n["Alive"]])
    last = None
    for r in range(repeats):
        for w in worker_counts:
            last = collect(skill, quality, steps, root / f"ray{w}_{r}", workers=w, envs_per_worker=envs_per_worker,
                           ray_address=address, verbose=False)
            runs.setdefault(("ray", w), []).append(_summary(last, "ray", w))
    rows = [_median_row(v) for v in runs.values()]
    ceiling = machine_ceiling(processes=max(worker_counts))
    ray.shutdown()
    # what crosses a process boundary per task: the job, its episode ids and the stage path in, a summary out
    job = Job(skill, quality, steps, 0, envs_per_worker)
    ids = list(range(0, int(np.ceil(steps / 1000)), max(worker_counts)))
    task_bytes = len(pickle.dumps((asdict(job), ids, str(root), "r00w00_00000000"))) + len(pickle.dumps(last["worker_runs"][0]))
    plain = plain_loop_steps_per_s(skill, plain_steps)
    by = {(r["engine"], r["workers"]): r for r in rows}
    top = max(worker_counts)
    ray_top, ray_one, mp_top = by[("ray", top)], by[("ray", 1)], by[("multiprocessing", top)]
    return {"skill": skill, "quality": quality, "steps": steps, "ray_nodes": nodes, "rows": rows,
            "plain_loop_steps_per_s": plain, "ray_warmup_seconds": warmup,
            "ratio": ray_top["steps_per_s"] / ray_one["steps_per_s"], "machine_ceiling": ceiling,
            "vs_multiprocessing": ray_top["steps_per_s"] / mp_top["steps_per_s"],
            "merge_share": ray_top["merge_seconds"] / ray_top["collect_seconds"],
            "ray_overhead_share": 1 - ray_top["slowest_task_seconds"] / ray_top["collect_seconds"],
            "bytes_per_task": task_bytes, "bytes_written_per_step": _bytes_per_step(root / f"ray{top}_0"), "repeats": repeats,
            "per_core_steps_per_s": ray_one["steps_per_s"]}


def _bytes_per_step(root: Path) -> float:
    files = [f for f in root.rglob("*") if f.is_file()]
    meta = next(root.rglob("metadata.json"))
    return sum(f.stat().st_size for f in files) / json.loads(meta.read_text())["total_steps"]


# --- DDP under torchrun ---------------------------------------------------------------------------
@dataclass
class DDPBench:
    """The generalist run both process counts train: the same global batch, no dropout (its masks are
    drawn per rank), a loss row every step."""

    steps: int = 30
    batch_size: int = 64
    context_len: int = 20
    n_layer: int = 3
    n_embd: int = 128

    def args(self, root: Path, datasets: list[str], out: Path) -> list[str]:
        return ["--root", str(root), "--datasets", *datasets, "--steps", str(self.steps), "--batch-size",
                str(self.batch_size), "--global-batch", "--context-len", str(self.context_len), "--n-layer",
                str(self.n_layer), "--n-embd", str(self.n_embd), "--dropout", "0", "--warmup", "5", "--log-every", "1",
                "--ckpt-every", str(self.steps), "--threads", "1", "--no-progress", "--out", str(out)]


DDP_DATASETS = ["course/run_forward/random-v0", "course/walk/random-v0"]


def ddp_data(root: Path, cheetah_steps: int = 4000, humanoid_steps: int = 2000) -> Path:
    """Small datasets of both bodies (random actions: only the arithmetic is measured here)."""
    collect("run_forward", "random", cheetah_steps, root, workers=1, verbose=False)
    collect("walk", "random", humanoid_steps, root, workers=1, verbose=False)
    return Path(root)


def _losses(run: Path) -> np.ndarray:
    rows = (run / "progress.csv").read_text().splitlines()[1:]
    return np.array([float(r.split(",")[1]) for r in rows])


def ddp_scaling(root: Path, out: Path, bench: DDPBench | None = None, nnodes: int = 2) -> dict[str, Any]:
    """The generalist for ``bench.steps`` steps in one process, then under torchrun as ``nnodes`` nodes of
    one process each (c10d on 127.0.0.1, gloo on the CPU), at the same global batch."""
    bench = bench or DDPBench()
    out = Path(out)
    one = subprocess.run([sys.executable, "-m", "helpers.train_generalist", *bench.args(root, DDP_DATASETS, out / "one")],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=3600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    if one.returncode:
        raise RuntimeError(f"single-process training failed: {one.stderr[-2000:]}")
    runs = torchrun_nodes(["-m", "helpers.train_generalist", *bench.args(root, DDP_DATASETS, out / "ddp")],
                          nnodes=nnodes, cwd=REPO_ROOT, timeout=3600)
    if any(r.returncode for r in runs):
        raise RuntimeError("torchrun training failed:\n" + "\n---\n".join(r.stderr[-2000:] for r in runs))
    states = {n: json.loads((out / name / "state.json").read_text()) for n, name in ((1, "one"), (nnodes, "ddp"))}
    loss1, loss2 = _losses(out / "one"), _losses(out / "ddp")
    step_s = {n: s["train_seconds"] / s["step"] for n, s in states.items()}
    params = sum(int(np.prod(v)) for v in _param_shapes(out / "one"))
    return {"processes": sorted(step_s), "step_seconds": [step_s[n] for n in sorted(step_s)],
            "samples_per_s": [bench.batch_size / step_s[n] for n in sorted(step_s)],
            "speedup": step_s[1] / step_s[nnodes], "ddp_processes": nnodes,
            "ddp_max_loss_gap": float(np.abs(loss1 - loss2).max()), "losses_1": loss1.tolist(),
            f"losses_{nnodes}": loss2.tolist(), "same_weights_on_every_rank": len(set(states[nnodes]["rank_param_digests"])) == 1,
            "parameters": params, "allreduce_mb_per_step": params * 4 / 2**20, "bench": asdict(bench)}


def _param_shapes(run: Path) -> list[tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(run / "checkpoint.safetensors"), framework="pt") as f:
        return [tuple(f.get_slice(k).get_shape()) for k in f.keys() if k.startswith("model.")]


# --- the cost model ------------------------------------------------------------------------------
@dataclass
class ClusterAssumptions:
    """A stated cluster and prices; change them to your own. Nothing here is measured."""

    cpu_nodes: int = 8
    cores_per_node: int = 32
    price_per_core_hour: float = 0.04  # USD, on-demand compute-optimised vCPU, order of magnitude
    gpus: int = 8
    price_per_gpu_hour: float = 2.5  # USD, an A100/H100-class GPU on demand, order of magnitude
    gpu_samples_per_s: float = 20_000.0  # ASSUMED generalist training samples/s on one GPU (not measured here)
    ddp_efficiency: float = 0.9  # assumed share of linear scaling across GPUs
    base_train_samples: int = 30_000 * 64  # the generalist's default run (steps x batch) on today's data


def cost_model(collection: dict[str, Any], ddp: dict[str, Any], cluster: ClusterAssumptions | None = None,
               collect_steps: float = 100e6) -> dict[str, Any]:
    """Hours and cost to collect ``collect_steps`` and to train the generalist on 10x and 100x the data
    (as many passes over it as today: samples grow with the data), from the measured per-core rates."""
    c = cluster or ClusterAssumptions()
    cores = c.cpu_nodes * c.cores_per_node
    efficiency = min(1.0, collection["ratio"] / max(w for w in (r["workers"] for r in collection["rows"])))
    rate = collection["per_core_steps_per_s"] * cores * efficiency
    collect_h = collect_steps / rate / 3600
    cpu_samples_per_s = ddp["samples_per_s"][0]  # one process, one core, measured
    train = {}
    for scale in (10, 100):
        samples = c.base_train_samples * scale
        gpu_h = samples / (c.gpu_samples_per_s * c.gpus * c.ddp_efficiency) / 3600
        cpu_h = samples / (cpu_samples_per_s * cores * min(1.0, ddp["speedup"] / ddp["ddp_processes"])) / 3600
        train[f"{scale}x"] = {"samples": samples, "gpu_hours_wall": gpu_h, "gpu_cost_usd": gpu_h * c.gpus * c.price_per_gpu_hour,
                              "cpu_hours_wall": cpu_h, "cpu_cost_usd": cpu_h * cores * c.price_per_core_hour}
    return {"assumptions": asdict(c), "measured": {"collection_steps_per_s_per_core": collection["per_core_steps_per_s"],
                                                   "collection_scaling_efficiency": efficiency,
                                                   "train_samples_per_s_per_core": cpu_samples_per_s,
                                                   "ddp_scaling_efficiency": ddp["speedup"] / ddp["ddp_processes"]},
            "collect": {"steps": collect_steps, "cores": cores, "hours_wall": collect_h,
                        "cost_usd": collect_h * cores * c.price_per_core_hour},
            "train": train}
