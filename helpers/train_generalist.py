"""Train the goal-conditioned generalist offline: one Transformer for every skill of both bodies.

    python -m helpers.train_generalist --root datasets/cpu --steps 30000 --out runs/generalist/main
    torchrun --nproc_per_node 2 -m helpers.train_generalist --steps 200 --out runs/generalist/ddp   # DDP
    python -m helpers.train_generalist ... --publish pretrained/generalist      # + evaluated card

Every setting of :class:`helpers.models.generalist_training.GeneralistTrainConfig` is a flag.
Killed at any moment, the same command resumes from the last checkpoint. The last line printed
(rank 0) is one JSON object with the run's folder, steps and time.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from . import REPO_ROOT
from .core.errors import cli_errors
from .core.training import parse_config
from .models.generalist_training import GeneralistTrainConfig, train
from .train_dt import reproducing_command


def _extra_flags(parser) -> None:
    parser.add_argument("--out", default=None, help="run folder (default: runs/generalist/main)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per process")
    parser.add_argument("--stop-after", type=int, default=None, help="end this sitting after this many steps")
    parser.add_argument("--publish", default=None, metavar="DIR", help="after training, publish to DIR with an evaluated card")
    parser.add_argument("--card-episodes", type=int, default=20)
    parser.add_argument("--no-progress", action="store_true")


def run(argv: list[str]) -> dict:
    cfg, args = parse_config(GeneralistTrainConfig, argv, prog="python -m helpers.train_generalist",
                             description=__doc__.split("\n")[0], extra=_extra_flags)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else REPO_ROOT / "runs" / "generalist" / "main"
    state = train(cfg, out, progress=not args.no_progress, stop_after=args.stop_after)
    result = {"out": str(out), "step": state["step"], "train_seconds": state["train_seconds"],
              "world_size": state["world_size"], "rank_param_digests": state["rank_param_digests"]}
    if args.publish and int(os.environ.get("RANK", 0)) == 0 and state["step"] >= cfg.steps:
        from .models.generalist_eval import publish  # noqa: PLC0415 - evaluation loads every expert: only to publish

        torch.set_num_threads(1)  # acting one step at a time: one thread is fastest
        command = reproducing_command(argv).replace("helpers.train_dt", "helpers.train_generalist")
        card = publish(out, args.publish, command, episodes=args.card_episodes)
        result["published"] = str(args.publish)
        result["evaluation"] = {k: card["evaluation"][k] for k in ("iqm", "min_skill_score")}
    if int(os.environ.get("RANK", 0)) == 0:
        print(json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> dict:
    return cli_errors(run, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
