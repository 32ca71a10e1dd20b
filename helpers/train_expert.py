"""Train (or resume) a skill expert with stable-baselines3, then optionally publish it.

    python -m helpers.train_expert --skill run_forward --steps 1000000 --seed 0
    python -m helpers.train_expert --skill walk --stop-at 200000      # one sitting; rerun to continue
    python -m helpers.train_expert --skill run_forward --publish       # copy to pretrained/ with a card
    python -m helpers.train_expert --skill walk --publish --checkpoint best   # the best-evaluated checkpoint
    python -m helpers.train_expert --skill walk --publish --checkpoint best --compare tqc   # + TQC's curve
    python -m helpers.train_expert --skill stand_up --algo ppo --reverse-curriculum --record-attempt   # keep a run's curve
    python -m helpers.train_expert --skill walk --init-from pretrained/walk --speed-bonus 2 --replay-from runs/walk/sac_seed0
        # fine-tune the published walker on a reward that pays more for speed, starting from the run's own
        # replay buffer relabelled with that reward (evaluation and selection use the default reward)

Killed at any moment, the same command resumes from the last checkpoint (every ``eval_every`` steps).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys

import torch

from . import REPO_ROOT
from .core.errors import cli_errors
from .envs.skills import SKILLS
from .experts.configs import EXPERT_CONFIGS, config_with_algo, finetune_config
from .experts.publish import publish_expert, record_attempt
from .experts.trainer import ExpertTrainer, run_dir_for


def main(argv: list[str] | None = None) -> None:
    cli_errors(run, argv)


def run(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m helpers.train_expert", description=__doc__.split("\n")[0])
    p.add_argument("--skill", required=True, choices=list(SKILLS))
    p.add_argument("--steps", type=int, default=None, help="total env steps (default: the skill's config)")
    p.add_argument("--stop-at", type=int, default=None, help="end this sitting at this many env steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run-name", default=None)
    p.add_argument("--algo", default=None, help="override the skill's algorithm (sac | tqc | crossq | ppo; humanoid comparison)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: leave cores to other jobs)")
    p.add_argument("--publish", action="store_true", help="copy the run to pretrained/<skill>/ with a card")
    p.add_argument("--publish-dir", default=None, metavar="DIR",
                   help="with --publish: publish to DIR instead (e.g. pretrained/recovery/run_forward)")
    p.add_argument("--record-attempt", action="store_true",
                   help="no training: keep the run's learning curve and how it was trained in results/attempts/<skill>/ "
                        "(a run not published, for notebook 02); the other flags name the run as when it was trained")
    p.add_argument("--checkpoint", choices=("last", "best"), default="last",
                   help="what --publish copies: the last checkpoint or the best-evaluated one (kept in the run's best/)")
    p.add_argument("--compare", action="append", default=[], metavar="ALGO",
                   help="with --publish: also publish the learning curve of the run trained with --algo ALGO "
                        "(same seed), as progress_ALGO.csv; repeatable")
    p.add_argument("--init-from", default=None, metavar="DIR",
                   help="fine-tune: start from the published expert in DIR (e.g. pretrained/walk) instead of scratch")
    p.add_argument("--train-env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                   help="with --init-from: an env argument for training only, e.g. forward_reward_weight=4; repeatable")
    p.add_argument("--warm-start-steps", type=int, default=10_000,
                   help="with --init-from: steps of the loaded policy's own actions that fill the fresh replay buffer")
    p.add_argument("--eval-every", type=int, default=None, help="with --init-from: env steps between evaluations")
    p.add_argument("--speed-bonus", type=float, default=0.0,
                   help="with --init-from (humanoid): training reward + this x the torso's forward velocity")
    p.add_argument("--replay-from", default=None, metavar="RUN_DIR",
                   help="with --init-from: start from this run's replay buffer, rewards relabelled with --speed-bonus")
    p.add_argument("--learning-rate", type=float, default=None, help="with --init-from: instead of the expert's own")
    p.add_argument("--reverse-curriculum", action="store_true",
                   help="stand_up: start training episodes from falls, nearer standing first (training only)")
    p.add_argument("--curriculum-horizon", type=int, default=None, metavar="STEPS",
                   help="with --reverse-curriculum: episodes from falls last at most STEPS steps")
    p.add_argument("--curriculum-fall-margin", type=float, default=0.0, metavar="M",
                   help="with --reverse-curriculum: episodes from falls end once the torso is M metres below its start")
    p.add_argument("--curriculum-frontier", type=float, default=0.0, metavar="SHARE",
                   help="with --reverse-curriculum: this share of episodes from falls starts at the deepest allowed "
                        "step, and only they raise the level")
    p.add_argument("--reward-scale", type=float, default=1.0, help="training reward x this (evaluation unchanged)")
    p.add_argument("--start-from", action="append", default=[], metavar="SKILL",
                   help="recovery: half the training episodes start in states SKILL's expert visits; repeatable")
    p.add_argument("--upright-progress", action="store_true",
                   help="cheetah running skills: forward progress pays only while the torso is upright (training only)")
    p.add_argument("--upright-bonus", type=float, default=0.0, metavar="B",
                   help="with --upright-progress: + B x the torso's up axis's vertical component every step")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if (args.train_env_kwarg or args.speed_bonus or args.replay_from) and not args.init_from:
        p.error("--train-env-kwarg, --speed-bonus and --replay-from are for fine-tuning: give --init-from DIR too")
    if args.init_from and args.algo:
        p.error("--init-from takes the algorithm of the expert it starts from: leave out --algo")
    config, default_name = None, None
    if args.algo:
        config, default_name = config_with_algo(args.skill, args.algo), f"{args.algo}_seed{args.seed}"
    elif args.init_from:
        env_kwargs = dict(_parse_kwarg(p, kv) for kv in args.train_env_kwarg)
        config = finetune_config(args.skill, args.init_from, env_kwargs, args.warm_start_steps, args.eval_every,
                                 learning_rate=args.learning_rate, speed_bonus=args.speed_bonus,
                                 replay_from=args.replay_from)
        default_name = "_".join(["finetune", *(f"{k}{v:g}" for k, v in env_kwargs.items()),
                                 *([f"bonus{args.speed_bonus:g}"] if args.speed_bonus else []),
                                 *(["replay"] if args.replay_from else []),
                                 *([f"lr{args.learning_rate:g}"] if args.learning_rate else []), f"seed{args.seed}"])
    if (args.curriculum_horizon or args.curriculum_fall_margin or args.curriculum_frontier) and not args.reverse_curriculum:
        p.error("--curriculum-horizon, --curriculum-fall-margin and --curriculum-frontier shape the reverse curriculum: "
                "give --reverse-curriculum too")
    if not 0.0 <= args.curriculum_frontier <= 1.0:
        p.error(f"--curriculum-frontier is a share of episodes in [0, 1], got {args.curriculum_frontier}")
    if args.upright_bonus and not args.upright_progress:
        p.error("--upright-bonus shapes --upright-progress: give --upright-progress too")
    if args.upright_progress and args.skill not in ("run_forward", "run_backward", "target_speed"):
        p.error(f"--upright-progress shapes the cheetah's running skills, not {args.skill}")
    if args.reverse_curriculum or args.reward_scale != 1.0 or args.start_from or args.upright_progress:
        if args.init_from:
            p.error("--reverse-curriculum, --reward-scale, --start-from and --upright-progress train from scratch: "
                    "leave out --init-from")
        for other in args.start_from:
            if other not in SKILLS or SKILLS[other].body != SKILLS[args.skill].body:
                p.error(f"--start-from {other}: give a skill of the same body as {args.skill}")
        config = dataclasses.replace(config or EXPERT_CONFIGS[args.skill], reverse_curriculum=args.reverse_curriculum,
                                     curriculum_horizon=args.curriculum_horizon,
                                     curriculum_fall_margin=args.curriculum_fall_margin,
                                     curriculum_frontier=args.curriculum_frontier,
                                     train_reward_scale=args.reward_scale, start_states_from=list(args.start_from),
                                     train_upright_progress=args.upright_progress,
                                     train_upright_bonus=args.upright_bonus)
        default_name = "_".join([config.algo, *(["curriculum"] if args.reverse_curriculum else []),
                                 *([f"h{args.curriculum_horizon}"] if args.curriculum_horizon else []),
                                 *([f"fall{args.curriculum_fall_margin:g}"] if args.curriculum_fall_margin else []),
                                 *([f"front{args.curriculum_frontier:g}"] if args.curriculum_frontier else []),
                                 *([f"scale{args.reward_scale:g}"] if args.reward_scale != 1.0 else []),
                                 *([f"from_{'_'.join(args.start_from)}"] if args.start_from else []),
                                 *([f"upright{args.upright_bonus:g}" if args.upright_bonus else "upright"]
                                   if args.upright_progress else []),
                                 f"seed{args.seed}"])
    run_dir = run_dir_for(args.skill, args.run_name or default_name, args.seed)
    if args.record_attempt:
        # the command that trains this run to where it is: the flags that named it, and its steps so far
        flags, given = [], iter(argv or sys.argv[1:])
        for a in given:
            if a in ("--steps", "--stop-at"):
                next(given, None)  # and its value
            elif a != "--record-attempt" and not a.startswith(("--steps=", "--stop-at=")):
                flags.append(a)
        steps = json.loads((run_dir / "state.json").read_text())["env_steps"] if (run_dir / "state.json").exists() else 0
        cmd = "python -m helpers.train_expert " + " ".join(shlex.quote(a) for a in flags + ["--steps", str(steps)])
        summary = record_attempt(args.skill, run_dir, cmd)
        print(f"recorded {run_dir.name}: {summary['env_steps']} env steps, best {summary['best']}")
        return
    if not args.publish or not (run_dir / "state.json").exists():
        trainer = ExpertTrainer(args.skill, seed=args.seed, config=config, run_dir=run_dir,
                                progress_bar=not args.no_progress)
        trainer.train(args.steps or (config or EXPERT_CONFIGS[args.skill]).total_steps, stop_at=args.stop_at)
    if args.publish:
        cmd = "python -m helpers.train_expert " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
        # the whole command: on a fresh machine it trains, then publishes; here it only publishes
        comparisons = {algo: run_dir_for(args.skill, f"{algo}_seed{args.seed}", args.seed) for algo in args.compare}
        card = publish_expert(args.skill, run_dir, command=cmd, eval_episodes=args.eval_episodes,
                              checkpoint=args.checkpoint, comparisons=comparisons,
                              out=REPO_ROOT / args.publish_dir if args.publish_dir else None)
        ev = card["evaluation"]
        print(f"published {args.publish_dir or 'pretrained/' + args.skill}: return {ev['mean_return']:.1f} +- {ev['std_return']:.1f}, "
              f"{card['skill']} metrics {ev['metrics']}")


def _parse_kwarg(p: argparse.ArgumentParser, kv: str) -> tuple[str, float]:
    key, sep, value = kv.partition("=")
    try:
        if not sep or not key:
            raise ValueError
        return key, float(value)
    except ValueError:
        p.error(f"--train-env-kwarg {kv!r}: expected KEY=NUMBER, e.g. forward_reward_weight=4")


if __name__ == "__main__":
    main(sys.argv[1:])
