"""How much does the translator's frozen sentence encoder know about our skills? A nearest-neighbour probe
(:mod:`helpers.language.encoder_probe`).

    python -m helpers.encoder_probe                       # MiniLM, the translator's encoder
    python -m helpers.encoder_probe --encoder DIR --json  # any local sentence-transformers folder
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from .language.encoder_probe import ProbeConfig, probe


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpers.encoder_probe", description=__doc__.split("\n")[0])
    parser.add_argument("--encoder", default=None, help="local sentence-transformers model folder (default: MiniLM)")
    parser.add_argument("--n-reference", type=int, default=ProbeConfig.n_reference)
    parser.add_argument("--n-eval", type=int, default=None, help="examples per split (default: all one-step ones)")
    parser.add_argument("--k", type=int, default=ProbeConfig.k)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    args = parser.parse_args(argv)
    if args.k < 1 or args.n_reference < args.k:
        parser.error(f"--k must be >= 1 and <= --n-reference (got k={args.k}, n_reference={args.n_reference})")
    torch.set_num_threads(args.threads)
    try:
        result = probe(ProbeConfig(encoder=args.encoder, n_reference=args.n_reference, n_eval=args.n_eval, k=args.k,
                                   threads=args.threads))
    except FileNotFoundError as exc:
        parser.error(str(exc))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for split, r in result["splits"].items():
            print(f"{result['encoder']}: {split} nearest-neighbour skill accuracy {r['skill_accuracy']:.3f} (n={r['n']})")


if __name__ == "__main__":
    main(sys.argv[1:])
