"""Train (or resume) a skill expert with stable-baselines3, then optionally publish it.

    python -m helpers.train_expert --skill run_forward --steps 1000000 --seed 0
    python -m helpers.train_expert --skill walk --stop-at 200000      # one sitting; rerun to continue
    python -m helpers.train_expert --skill run_forward --publish       # copy to pretrained/ with a card
    python -m helpers.train_expert --skill walk --publish --checkpoint best   # the best-evaluated checkpoint
    python -m helpers.train_expert --skill walk --publish --checkpoint best --compare tqc   # + TQC's curve

Killed at any moment, the same command resumes from the last checkpoint (every ``eval_every`` steps).
"""

from __future__ import annotations

import argparse
import shlex
import sys

import torch

from .experts import EXPERT_CONFIGS, ExpertTrainer, config_with_algo, publish_expert, run_dir_for
from .skills import SKILLS


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m helpers.train_expert", description=__doc__.split("\n")[0])
    p.add_argument("--skill", required=True, choices=list(SKILLS))
    p.add_argument("--steps", type=int, default=None, help="total env steps (default: the skill's config)")
    p.add_argument("--stop-at", type=int, default=None, help="end this sitting at this many env steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run-name", default=None)
    p.add_argument("--algo", default=None, help="override the skill's algorithm (sac | tqc | crossq; humanoid comparison)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: leave cores to other jobs)")
    p.add_argument("--publish", action="store_true", help="copy the run to pretrained/<skill>/ with a card")
    p.add_argument("--checkpoint", choices=("last", "best"), default="last",
                   help="what --publish copies: the last checkpoint or the best-evaluated one (kept in the run's best/)")
    p.add_argument("--compare", action="append", default=[], metavar="ALGO",
                   help="with --publish: also publish the learning curve of the run trained with --algo ALGO "
                        "(same seed), as progress_ALGO.csv; repeatable")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = config_with_algo(args.skill, args.algo) if args.algo else None
    run_dir = run_dir_for(args.skill, args.run_name or (f"{args.algo}_seed{args.seed}" if args.algo else None), args.seed)
    if not args.publish or not (run_dir / "state.json").exists():
        trainer = ExpertTrainer(args.skill, seed=args.seed, config=config, run_dir=run_dir,
                                progress_bar=not args.no_progress)
        trainer.train(args.steps or EXPERT_CONFIGS[args.skill].total_steps, stop_at=args.stop_at)
    if args.publish:
        cmd = "python -m helpers.train_expert " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
        # the whole command: on a fresh machine it trains, then publishes; here it only publishes
        comparisons = {algo: run_dir_for(args.skill, f"{algo}_seed{args.seed}", args.seed) for algo in args.compare}
        card = publish_expert(args.skill, run_dir, command=cmd, eval_episodes=args.eval_episodes,
                              checkpoint=args.checkpoint, comparisons=comparisons)
        ev = card["evaluation"]
        print(f"published pretrained/{args.skill}: return {ev['mean_return']:.1f} +- {ev['std_return']:.1f}, "
              f"{card['skill']} metrics {ev['metrics']}")


if __name__ == "__main__":
    main(sys.argv[1:])
