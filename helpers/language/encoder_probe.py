"""How much does a frozen sentence encoder know about our skills? A nearest-neighbour probe.

The translator reads instructions through a frozen encoder (all-MiniLM-L6-v2). On the paraphrase
split it is much worse than on the test split; is that the small GPT-2 on top, or the encoder
itself? This probe takes the decoder out: each one-step instruction gets the skill of its nearest
training instructions by the encoder's sentence vector (mean of the last layer, unit length, as
sentence-transformers pools it). If even that cannot tell "zoom forward" from a jump, no decoder
reading the same vectors will reliably.

    python -m helpers.encoder_probe                       # MiniLM, the translator's encoder (the CLI)
    python -m helpers.encoder_probe --encoder DIR --json  # any local sentence-transformers folder
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.errors import NotAvailableError
from .instructions import DatasetConfig, build_dataset
from .translator import encoder_model_path

ONE_STEP_KINDS = ("single", "noun", "refusal")  # whole instructions with a one-step plan (or a refusal)


@dataclass
class ProbeConfig:
    encoder: str | None = None  # a local model folder; None: the translator's MiniLM
    n_reference: int = 8000  # training instructions to look neighbours up in
    n_eval: int | None = None  # per split; None: the whole split
    k: int = 5  # neighbours that vote
    seed: int = 0
    threads: int = 1
    data: DatasetConfig = DatasetConfig(n_train=40_000)  # the committed translator's splits


def plan_skill(plan: str) -> str:
    return plan.split()[0]


def one_step(examples) -> list:
    return [e for e in examples if e.kind in ONE_STEP_KINDS and ";" not in e.plan]


class MeanPooledEncoder:
    """Unit-length mean of the last layer over the word pieces: a sentence-transformers sentence vector."""

    def __init__(self, path: str | Path | None = None):
        from transformers import AutoModel, AutoTokenizer  # heavy: only when an encoder is loaded

        self.path = Path(path) if path else encoder_model_path()
        self.name = self.path.name if path else "all-MiniLM-L6-v2"
        if not (self.path / "config.json").exists():
            raise NotAvailableError(f"--encoder {self.path}: not a model folder (no config.json); give a local "
                                    "sentence-transformers model directory, or leave it out for MiniLM")
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = AutoModel.from_pretrained(self.path, dtype=torch.float32).eval()

    @torch.no_grad()
    def __call__(self, texts: list[str], batch_size: int = 128) -> torch.Tensor:
        out = []
        for i in range(0, len(texts), batch_size):
            batch = self.tokenizer(texts[i:i + batch_size], padding=True, truncation=True, max_length=64,
                                   return_tensors="pt")
            last = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            out.append(torch.nn.functional.normalize((last * mask).sum(1) / mask.sum(1), dim=-1))
        return torch.cat(out)


def probe(cfg: ProbeConfig = ProbeConfig(), data: dict | None = None) -> dict:
    """Nearest-neighbour skill accuracy per split (test: training wording; paraphrase: unseen wording).
    Torch threads are the caller's to set (the CLI's ``--threads``)."""
    data = data or build_dataset(cfg.data)
    encoder = MeanPooledEncoder(cfg.encoder)
    reference = one_step(data["train"])
    random.Random(cfg.seed).shuffle(reference)
    reference = reference[:cfg.n_reference]
    started = time.time()
    ref_vectors = encoder([e.normalised for e in reference])
    ref_skills = [plan_skill(e.plan) for e in reference]
    result = {"encoder": encoder.name, "k": cfg.k, "n_reference": len(reference), "splits": {}}
    for split in ("test", "paraphrase"):
        examples = one_step(data[split])[:cfg.n_eval]
        nearest = (encoder([e.normalised for e in examples]) @ ref_vectors.T).topk(cfg.k, dim=1).indices.tolist()
        votes = [Counter(ref_skills[j] for j in row).most_common(1)[0][0] for row in nearest]
        correct = [v == plan_skill(e.plan) for v, e in zip(votes, examples)]
        result["splits"][split] = {"n": len(examples), "skill_accuracy": round(sum(correct) / len(correct), 4),
                                   "misses": [(e.normalised, plan_skill(e.plan), v)
                                              for e, v, ok in zip(examples, votes, correct) if not ok][:10]}
    result["wall_clock_s"] = round(time.time() - started, 1)
    return result
