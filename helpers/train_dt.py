"""Train a Decision Transformer offline on Minari datasets: one process, or many with torchrun (DDP).

    python -m helpers.train_dt --skill run_forward --root datasets/cpu --steps 12000 --out runs/dt/run_forward
    torchrun --nproc_per_node 2 -m helpers.train_dt --steps 200 --out runs/dt/ddp       # DDP, gloo on CPU
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv-endpoint HOST:29500 -m helpers.train_dt ...   # a cluster
    python -m helpers.train_dt ... --publish pretrained/dt      # + evaluated card, safetensors, manifest

Every setting of :class:`helpers.models.dt_training.TrainConfig` is a flag (``--batch-size`` or
``--batch_size``). Killed at any moment, the same command resumes from the last checkpoint. The last
line printed (rank 0) is one JSON object with the run's folder, steps and time.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import torch

from . import REPO_ROOT
from .core.errors import cli_errors
from .core.training import parse_config
from .models.dt_training import TrainConfig, publish, train


def _extra_flags(parser) -> None:
    parser.add_argument("--out", default=None, help="run folder (default: runs/dt/<skill>)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per process")
    parser.add_argument("--stop-after", type=int, default=None, help="end this sitting after this many steps")
    parser.add_argument("--publish", default=None, metavar="DIR", help="after training, copy to DIR with an evaluated card")
    parser.add_argument("--card-episodes", type=int, default=10)
    parser.add_argument("--no-progress", action="store_true")


def reproducing_command(argv: list[str]) -> str:
    """The command that rebuilds a run: the arguments given, without a sitting's ``--stop-after``."""
    kept, i = [], 0
    while i < len(argv):
        if argv[i] == "--stop-after":
            i += 2
            continue
        kept.append(argv[i])
        i += 1
    return "python -m helpers.train_dt " + " ".join(shlex.quote(a) for a in kept)


def run(argv: list[str]) -> dict:
    cfg, args = parse_config(TrainConfig, argv, prog="python -m helpers.train_dt",
                             description=__doc__.split("\n")[0], extra=_extra_flags)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else REPO_ROOT / "runs" / "dt" / cfg.skill
    state = train(cfg, out, progress=not args.no_progress, stop_after=args.stop_after)
    result = {"out": str(out), "step": state["step"], "train_seconds": state["train_seconds"],
              "world_size": state["world_size"], "rank_param_digests": state["rank_param_digests"]}
    rank = int(os.environ.get("RANK", 0))
    if args.publish and rank == 0 and state["step"] >= cfg.steps:
        torch.set_num_threads(1)  # acting one step at a time: one thread is fastest
        card = publish(out, args.publish, reproducing_command(argv), episodes=args.card_episodes)
        result["published"] = str(args.publish)
        result["evaluation"] = {k: card["evaluation"][k] for k in ("mean_return", "std_return", "fraction_of_expert")}
    if rank == 0:
        print(json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> dict:
    return cli_errors(run, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
