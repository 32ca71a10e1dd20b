"""Collection throughput and memory: the collector vs a plain single-environment loop, same expert.

    python benchmarks/collection_throughput.py --json [--skill run_forward] [--steps 1000000]

Measured in this run, on this machine:
* ``plain_steps_per_s``: one process, one env, ``env.step`` and one policy call per step (the same
  NumPy actor the collector uses; ``plain_sb3_steps_per_s`` is the same loop with SB3's predict);
* ``collector_steps_per_s``: ``python -m helpers.collect`` end to end (workers, shards, Minari merge)
  for ``--steps`` expert steps, and ``collector_rollout_steps_per_s`` without the merge;
* ``physics_limit_steps_per_s``: raw ``mj_step`` per second / frame_skip x cores, and the
  collector's share of it;
* peak RSS (whole process tree, sampled every 50 ms) of collections of ``--small-steps`` and ``--steps``.
The last line printed is one JSON object; ``ratio`` = collector / plain loop steps per second.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import psutil  # noqa: E402


def plain_loop(skill: str, steps: int, use_sb3: bool = False) -> float:
    import torch

    from helpers.experts.policy import fast_actor, load_expert
    from helpers.envs.factory import make_env

    torch.set_num_threads(1)
    expert = load_expert(skill)
    policy = expert if use_sb3 else fast_actor(expert)
    env = make_env(skill)
    obs, _ = env.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(policy(obs))
        if terminated or truncated:
            obs, _ = env.reset()
    return steps / (time.perf_counter() - t0)


def run_collector(skill: str, steps: int, out: Path, workers: int) -> dict:
    """Run the CLI in a subprocess, sampling the RSS of its whole process tree."""
    cmd = [sys.executable, "-m", "helpers.collect", "--skill", skill, "--quality", "expert", "--steps", str(steps),
           "--out", str(out), "--workers", str(workers), "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [root] + root.children(recursive=True)
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    stdout, stderr = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"collector failed: {stderr[-2000:]}")
    res = json.loads(stdout.strip().splitlines()[-1])
    return {"steps": res["total_steps"], "wall_s": wall, "steps_per_s": res["total_steps"] / wall,
            "rollout_steps_per_s": res["total_steps"] / res["collect_seconds"],
            "peak_rss_mb": peak / 2**20, "disk_mb": sum(f.stat().st_size for f in Path(res["path"]).rglob("*") if f.is_file()) / 2**20}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--skill", default="run_forward")
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--small-steps", type=int, default=100_000)
    p.add_argument("--plain-steps", type=int, default=30_000)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    from helpers.core.provenance import machine_info
    from helpers.envs.simulator import frame_skip, mj_steps_per_second

    body = "cheetah" if args.skill not in ("walk", "stand_up") else ("humanoid" if args.skill == "walk" else "humanoid_standup")
    cores = os.cpu_count()
    mj = mj_steps_per_second(body, 3.0)
    limit = mj / frame_skip(body) * cores
    plain = plain_loop(args.skill, args.plain_steps)
    plain_sb3 = plain_loop(args.skill, max(args.plain_steps // 5, 2000), use_sb3=True)
    with tempfile.TemporaryDirectory() as tmp:
        small = run_collector(args.skill, args.small_steps, Path(tmp) / "small", args.workers)
        big = run_collector(args.skill, args.steps, Path(tmp) / "big", args.workers)
    out = {
        "benchmark": "collection_throughput", "skill": args.skill, "baseline": "plain single-env loop, same expert",
        "machine": machine_info(), "load_avg_1m_at_end": os.getloadavg()[0], "cores": cores, "workers": args.workers,
        "plain_steps_per_s": plain, "plain_sb3_steps_per_s": plain_sb3,
        "collector_steps_per_s": big["steps_per_s"], "collector_rollout_steps_per_s": big["rollout_steps_per_s"],
        "collector_wall_s": big["wall_s"], "collector_steps": big["steps"],
        "mj_step_per_s": mj, "physics_limit_steps_per_s": limit,
        "share_of_physics_limit": big["steps_per_s"] / limit,
        "rss_mb": {str(small["steps"]): small["peak_rss_mb"], str(big["steps"]): big["peak_rss_mb"]},
        "disk_mb": big["disk_mb"], "bytes_per_step": big["disk_mb"] * 2**20 / big["steps"],
        "ratio": big["steps_per_s"] / plain,
        "ratio_vs_sb3_predict_loop": big["steps_per_s"] / plain_sb3,
    }
    if not args.json:
        for k, v in out.items():
            if k != "machine":
                print(f"{k}: {v}")
    print(json.dumps(out, default=float))
    return out


if __name__ == "__main__":
    main()
