"""Wall-clock to a HalfCheetah (run_forward) evaluation return of 3000: our expert config vs RL-Zoo's.

    python benchmarks/ppo_wallclock.py --json [--target 3000] [--seeds 0] [--max-steps 1000000]

Both configurations are trained in this run, on this machine, at the same time in two processes
with one torch thread each (so both see the same machine load; ``--sequential`` runs one after the
other). The clock counts training only (rollouts and gradient steps); the evaluation every
``--eval-every`` steps (deterministic, ``--eval-episodes`` episodes) is excluded for both alike.
The last line printed is one JSON object with ``ratio`` = ours / RL-Zoo's seconds (lower is better).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from helpers.experts.configs import EXPERT_CONFIGS, ZOO_PPO_HALFCHEETAH
from helpers.experts.trainer import ExpertTrainer  # noqa: E402
from helpers.core.provenance import machine_info  # noqa: E402


def time_to_return(config, seed: int, target: float, max_steps: int, workdir: Path, name: str) -> dict:
    torch.set_num_threads(1)
    run_dir = workdir / f"{name}_seed{seed}"
    trainer = ExpertTrainer("run_forward", seed=seed, config=config, run_dir=run_dir, tensorboard=False,
                            progress_bar=False)
    trainer.train(max_steps, target_return=target)
    row = trainer.reached_target_at
    shutil.rmtree(run_dir, ignore_errors=True)
    if row is None:
        return {"seed": seed, "reached": False, "seconds": None, "env_steps": max_steps}
    return {"seed": seed, "reached": True, "seconds": row["wall_clock_s"], "env_steps": row["env_steps"],
            "eval_return": row["eval_mean_return"]}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--target", type=float, default=3000.0)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--max-steps", type=int, default=1_000_000)
    p.add_argument("--eval-every", type=int, default=10_000)
    p.add_argument("--eval-episodes", type=int, default=3)
    p.add_argument("--sequential", action="store_true", help="one configuration after the other")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    configs = {
        "ours": dataclasses.replace(EXPERT_CONFIGS["run_forward"], eval_every=args.eval_every,
                                    eval_episodes=args.eval_episodes),
        "rl_zoo": dataclasses.replace(ZOO_PPO_HALFCHEETAH, eval_every=args.eval_every,
                                      eval_episodes=args.eval_episodes),
    }
    out = {"benchmark": "ppo_wallclock", "target_return": args.target, "baseline": "rl_zoo",
           "machine": machine_info(), "runs": {}}
    jobs = [(cfg, s, args.target, args.max_steps, None, name) for s in args.seeds for name, cfg in configs.items()]
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [j[:4] + (Path(tmp),) + j[5:] for j in jobs]
        if args.sequential:
            done = [time_to_return(*j) for j in jobs]
        else:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(len(configs)) as pool:
                done = pool.starmap(time_to_return, jobs)
    for job, res in zip(jobs, done):
        out["runs"].setdefault(job[5], []).append(res)
    out["mode"] = "sequential" if args.sequential else "concurrent"
    for name, runs in out["runs"].items():
        secs = [r["seconds"] for r in runs]
        out[f"{name}_seconds"] = None if None in secs else float(np.mean(secs))
        out[f"{name}_env_steps"] = float(np.mean([r["env_steps"] for r in runs]))
    if out["ours_seconds"] is not None and out["rl_zoo_seconds"] is not None:
        out["ratio"] = out["ours_seconds"] / out["rl_zoo_seconds"]
    else:
        out["ratio"] = None  # one of them never reached the target within --max-steps
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
