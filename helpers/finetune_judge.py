"""Fine-tune the LM judge (SmolLM2-135M-Instruct + LoRA) to read rollout summaries as the rule verifier does.

    python -m helpers.finetune_judge --steps 300 --out runs/judge/main --publish pretrained/judge
    python -m helpers.finetune_judge --model tiny-llama --steps 4 --n-train 40 --n-dev 8 --out /tmp/judge   # smoke
    python -m helpers.finetune_judge --diagnose 200    # the committed judge on 200 real dev rollouts, no training

Every setting of :class:`helpers.language.judge_tuning.JudgeTuneConfig` is a flag. Killed at any
moment, the same command resumes. The last line printed is one JSON object with the run's folder,
steps and the dev agreement.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from . import REPO_ROOT
from .core.checkpoints import atomic_write_json
from .core.errors import cli_errors
from .core.training import config_command, parse_config
from .language.judge_tuning import JudgeTuneConfig, agreement_rate, train
from .language.judge_data import synthetic_examples


def _extra_flags(parser) -> None:
    parser.add_argument("--out", default=None, help="run folder (default: runs/judge/main)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--stop-after", type=int, default=None, help="end this sitting after this many steps")
    parser.add_argument("--publish", default=None, metavar="DIR", help="after training, publish the adapter to DIR with its card")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--diagnose", type=int, default=None, metavar="N",
                        help="no training: the committed judge on N real rollouts of the dev split (train-split plans, "
                             "seeds from 300000), its agreement with the verifier by corruption and by rule kind")


REAL_TRAIN_SEED, REAL_DEV_SEED = 100_000, 300_000  # notebook 08 tests on seeds 5000 onwards, other plans


def real_examples(n: int, seed: int, cache: Path | None = None, progress: bool = True) -> list:
    """``n`` real rollouts of the committed generalist on plans of the translator's train split (the
    test uses the paraphrase split), half successes and half failures by the verifier, as
    (instruction, summary, verdict); cached in ``cache`` (JSON) so that a resumed run reuses them."""
    from .language.instructions import build_dataset  # noqa: PLC0415 - heavy: only with --n-real
    from .language.judge import RuleVerifier  # noqa: PLC0415
    from .models.agent_eval import labelled_rollouts, runnable_examples  # noqa: PLC0415
    from .models.generalist_policy import load_committed_generalist  # noqa: PLC0415

    cached = json.loads(cache.read_text()) if cache is not None and cache.exists() else None
    if cached is not None and cached["n"] == n and cached["seed"] == seed:
        pairs = cached["examples"]
    else:
        plans = runnable_examples(build_dataset()["train"], max_steps=2)
        rollouts = labelled_rollouts(load_committed_generalist(), plans, n, seed=seed, progress=progress)
        pairs = [[r.instruction, r.summary] for r in rollouts]
        if cache is not None:
            atomic_write_json(cache, {"n": n, "seed": seed, "examples": pairs})
    verifier = RuleVerifier()
    return [(instruction, summary, verifier.judge(instruction, summary)) for instruction, summary in pairs]


def diagnose(n: int, seed: int, progress: bool) -> dict:
    """The committed judge's agreement with the verifier on ``n`` real rollouts of the dev split: where it
    misreads, before a retrain is planned (the notebook's test rollouts are never used for this)."""
    from .language.instructions import build_dataset  # noqa: PLC0415 - heavy: only with --diagnose
    from .language.judge import load_lm_judge  # noqa: PLC0415
    from .models.agent_eval import agreement, labelled_rollouts, runnable_examples  # noqa: PLC0415
    from .models.generalist_policy import load_committed_generalist  # noqa: PLC0415

    plans = runnable_examples(build_dataset()["train"], max_steps=2)
    rollouts = labelled_rollouts(load_committed_generalist(), plans, n, seed=REAL_DEV_SEED + seed, progress=progress)
    result = agreement(load_lm_judge(adapter="committed"), rollouts, progress=progress)
    return {"split": f"real dev, seeds from {REAL_DEV_SEED + seed}", **{k: v for k, v in result.items() if k != "predicted"}}


def run(argv: list[str]) -> dict:
    started = time.time()
    cfg, args = parse_config(JudgeTuneConfig, argv, prog="python -m helpers.finetune_judge",
                             description=__doc__.split("\n")[0], extra=_extra_flags)
    torch.set_num_threads(args.threads)
    if args.diagnose:
        result = diagnose(args.diagnose, cfg.seed, progress=not args.no_progress)
        print(json.dumps(result))
        return result
    out = Path(args.out) if args.out else REPO_ROOT / "runs" / "judge" / "main"
    out.mkdir(parents=True, exist_ok=True)
    real = real_examples(cfg.n_real, REAL_TRAIN_SEED + cfg.seed, out / "real_train.json",
                         progress=not args.no_progress) if cfg.n_real else None
    judge, state = train(cfg, out, progress=not args.no_progress, stop_after=args.stop_after, real_examples=real)
    result = {"out": str(out), "step": state["step"], "train_seconds": round(state["train_seconds"], 1)}
    if state["step"] >= cfg.steps and args.publish:
        from .language.judge_tuning import publish  # noqa: PLC0415

        command = config_command("python -m helpers.finetune_judge", cfg) + f" --publish {args.publish}"
        real_dev = real_examples(100, REAL_DEV_SEED + cfg.seed, out / "real_dev.json",
                                 progress=not args.no_progress) if cfg.n_real else None
        card = publish(cfg, out, Path(args.publish), command, started, real_dev=real_dev, threads=args.threads)
        # the card's dev agreement, measured on the published files: the same weights, judged once
        dev = card["evaluation"]["dev"]
        result.update(dev={k: v for k, v in dev.items() if k != "n"}, published=args.publish, evaluation=dev)
    elif state["step"] >= cfg.steps:
        result["dev"] = agreement_rate(judge, synthetic_examples(cfg.n_dev, seed=cfg.seed))
    print(json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> dict:
    return cli_errors(run, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
