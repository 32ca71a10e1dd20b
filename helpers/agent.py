"""The language-driven agent: an instruction in, a plan acted out by the generalist, checked and judged.

    python -m helpers.agent "run forward for 3 seconds, then do a front flip" --seed 0 --retries 2 --json
    python -m helpers.agent "jump for 4 seconds" --video agent.mp4      # the instruction and step on the frames

Translate (notebook 07's translator) -> plan -> the generalist on the plan's body (notebook 06) ->
per-step metrics -> the rule-based check and the LM judge -> another attempt with the judge's
adjustment when it failed. The last line is one JSON object with ``plan``, ``segments``, ``checked``
(the rules' verdict: ``success`` overall and per step), ``verdict`` (the LM judge's: ``success``,
``failure_mode``, ``adjustment``) and ``attempts``. A refused or invalid instruction prints the reason
and exits with code 2 before anything moves.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from .core.errors import cli_errors
from .models.agent import Agent


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m helpers.agent", description=__doc__.split("\n")[0])
    p.add_argument("instruction", help="what the agent should do (quote it)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--retries", type=int, default=2, help="further attempts after a failed verdict")
    p.add_argument("--judge", choices=("lm", "rules"), default="lm", help="who drives the retries")
    p.add_argument("--generalist", default=None, help="a generalist folder (default: pretrained/generalist)")
    p.add_argument("--translator", default=None, help="a translator folder (default: pretrained/translator)")
    p.add_argument("--video", default=None, help="save the last attempt as this mp4")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    args = p.parse_args(argv)
    if args.retries < 0:
        p.error(f"--retries must be >= 0, got {args.retries}")
    torch.set_num_threads(args.threads)
    result = cli_errors(lambda: Agent.load(args.judge, args.generalist, args.translator).run(
        args.instruction, seed=args.seed, retries=args.retries, video=args.video))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"plan {result['plan']}: {'success' if result['checked']['success'] else 'failure'} "
              f"after {len(result['attempts'])} attempt(s) (judge: {result['verdict']})")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
