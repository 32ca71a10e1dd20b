"""Fine-tune a causal LM to translate instructions into task plans (notebook 07).

    python -m helpers.finetune_gpt2 --out runs/translator/default --export pretrained/translator   # offline default
    python -m helpers.finetune_gpt2 --model gpt2-medium --encoder none --lora --out runs/translator/medium-lora
    python -m helpers.finetune_gpt2 --model gpt2-medium --encoder none --lr 5e-5 --batch-size 8 --grad-accum 4

Every setting of :class:`helpers.language.finetuning.FinetuneConfig` is a flag. Rerun the same command
to resume; with ``--export DIR`` the finished model is evaluated on every split and published to DIR
with its card. A pretrained model that cannot be loaded here (the Hub offline) stops with one line.
"""

from __future__ import annotations

import sys

import torch

from .core.errors import cli_errors
from .core.training import parse_config
from .language.finetuning import PROG, FinetuneConfig, train


def run(argv: list[str]) -> None:
    cfg, _ = parse_config(FinetuneConfig, argv, prog=PROG, description=__doc__.split("\n")[0])
    torch.set_num_threads(cfg.threads)
    train(cfg)


def main(argv: list[str] | None = None) -> None:
    cli_errors(run, list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
