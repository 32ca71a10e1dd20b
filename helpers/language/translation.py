"""Instructions to plans with a saved translator: loading it (checked), translating a batch, scoring
it on a dataset split, its throughput, and choosing its decoding knobs on the paraphrase dev split.

The pipeline: :func:`helpers.language.text.normalise` (number words, units, durations) ->
:func:`helpers.language.text.split_steps` (clauses in time order) -> the translator model writes plan
text for each clause, decoding constrained to the plan grammar -> the joined text is parsed and
validated against the skill table by :func:`helpers.language.plans.plan_result`. Model text is only
ever parsed, never executed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import torch

from .. import REPO_ROOT
from .plans import UNKNOWN, PlanError, parse_plan, plan_result
from .text import normalise
from .translator import PlanTranslator, fallback_directory

DEFAULT_TRANSLATOR = REPO_ROOT / "pretrained" / "translator"
MAX_INSTRUCTION_CHARS = 2000


def load_translator(path: str | Path = DEFAULT_TRANSLATOR, device: str = "cpu") -> PlanTranslator:
    return PlanTranslator.load(Path(path), device)


def translate_batch(model, instructions: list[str], batch_size: int = 256) -> list[dict]:
    """The JSON answer for each instruction (same order)."""
    results: list[dict | None] = [None] * len(instructions)
    todo = []
    for i, text in enumerate(instructions):
        if not isinstance(text, str) or not text.strip():
            results[i] = {"plan": [], "error": "empty instruction: say what the agent should do, e.g. 'run forward'"}
        else:
            todo.append((i, normalise(text[:MAX_INSTRUCTION_CHARS])))
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        for (i, _), text in zip(chunk, model.generate([t for _, t in chunk])):
            results[i] = plan_result(text)
    return results


def split_report(model, examples, batch_size: int = 256) -> dict:
    """Exact-plan accuracy, refusal rate and per-kind accuracy of ``model`` on dataset examples."""
    texts = []
    for start in range(0, len(examples), batch_size):
        texts += model.generate([e.normalised for e in examples[start:start + batch_size]])
    rows, by_kind = [], defaultdict(list)
    refusals, false_refusals = [], []
    for example, predicted in zip(examples, texts):
        correct = predicted == example.plan
        by_kind[example.kind].append(correct)
        error = "error" in plan_result(predicted)
        if UNKNOWN in example.plan.split():
            refusals.append(error)
        else:
            try:
                parse_plan(example.plan)
                false_refusals.append(error)  # a valid request answered with an error
            except PlanError:
                pass  # the reference itself is invalid (speed out of range, ...): an error is right
        rows.append({"instruction": example.instruction, "normalised": example.normalised, "kind": example.kind,
                     "expected": example.plan, "predicted": predicted, "correct": correct})
    n = len(rows)
    return {
        "n": n,
        "accuracy": sum(r["correct"] for r in rows) / n if n else float("nan"),
        "refusal_rate": sum(refusals) / len(refusals) if refusals else float("nan"),
        "n_out_of_scope": len(refusals),
        "false_refusal_rate": sum(false_refusals) / len(false_refusals) if false_refusals else float("nan"),
        "accuracy_by_kind": {k: round(sum(v) / len(v), 4) for k, v in sorted(by_kind.items())},
        "rows": rows,
    }


def measure_throughput(model: PlanTranslator, instructions: list[str], threads: int, batch_size: int = 256) -> dict:
    """Instructions per second through the whole pipeline (normalise, encode, decode, validate), batched,
    on ``threads`` CPU threads (set for the measurement, then put back)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        translate_batch(model, instructions[:batch_size], batch_size)  # warm-up
        t0 = time.perf_counter()
        translate_batch(model, instructions, batch_size)
        seconds = time.perf_counter() - t0
    finally:
        torch.set_num_threads(previous)
    return {"instructions": len(instructions), "seconds": round(seconds, 2),
            "instructions_per_s": round(len(instructions) / seconds, 1), "batch_size": batch_size,
            "cpu_threads": threads, "device": str(model.device), "dtype": str(next(model.lm.parameters()).dtype)}


def dev_score(model, dev_examples) -> dict:
    """Accuracy, refusal and false-refusal rates on the paraphrase *dev* split, and the score that
    decoding knobs are chosen by: exact-plan accuracy minus the false-refusal rate, so that a false
    refusal counts twice (it is an error, and the one that leaves the user nothing to act on: a wrong
    plan at least shows what was understood)."""
    report = split_report(model, dev_examples)
    return {"accuracy": report["accuracy"], "refusal_rate": report["refusal_rate"],
            "false_refusal_rate": report["false_refusal_rate"],
            "score": round(report["accuracy"] - report["false_refusal_rate"], 6)}


def tune_refusal_bias(model: PlanTranslator, dev_examples, grid: list[float]) -> dict:
    """The refusal bias with the best :func:`dev_score` on the paraphrase *dev* split (ties: the
    smallest bias in size). The test splits are never looked at here."""
    rows = []
    for bias in grid:
        model.spec.refusal_bias = bias
        rows.append({"bias": bias, **dev_score(model, dev_examples)})
    best = max(rows, key=lambda r: (r["score"], -abs(r["bias"])))
    return {"split": "paraphrase_dev", "n": len(dev_examples), "grid": rows, "chosen": best["bias"],
            "criterion": "accuracy - false_refusal_rate"}


def tune_fallback(model: PlanTranslator, fallback: PlanTranslator, dev_examples, grid: list[float]) -> dict:
    """Whether ``fallback`` should answer the clauses ``model`` refuses, at which refusal bias of its
    own, and whether only where ``model`` agrees on the skills (``TranslatorSpec.fallback_agreement``):
    no fallback and every (bias, agreement) scored by :func:`dev_score` on the paraphrase *dev* split
    (ties: no fallback, then agreement, then the largest bias: the choices that override a refusal
    least). Leaves ``model`` with the choice made."""
    model.set_fallback(None)
    rows = [{"bias": None, "agreement": None, **dev_score(model, dev_examples)}]
    for agreement in (True, False):
        for bias in grid:
            model.set_fallback(fallback, bias, agreement)
            rows.append({"bias": bias, "agreement": agreement, **dev_score(model, dev_examples)})
    best = max(rows, key=lambda r: (r["score"], r["bias"] is None, bool(r["agreement"]), r["bias"] or 0.0))
    used = best["bias"] is not None
    model.set_fallback(fallback if used else None, best["bias"] or 0.0, bool(best["agreement"]))
    return {"split": "paraphrase_dev", "n": len(dev_examples), "grid": rows, "chosen": best["bias"],
            "agreement": bool(best["agreement"]), "used": used, "criterion": "accuracy - false_refusal_rate"}


def choose_decoding(model: PlanTranslator, dev_examples, refusal_grid: list[float], fallback: str | None = None,
                    fallback_grid: list[float] = ()) -> dict:
    """The decoding knobs of ``model``, chosen on the paraphrase *dev* split and set in its spec: its
    refusal bias alone first (:func:`tune_refusal_bias`), then, given a ``fallback`` (a translator
    folder under pretrained/), whether it answers the refused clauses (:func:`tune_fallback`).
    Returns the card's ``decoding`` entry."""
    model.set_fallback(None)
    tuning = tune_refusal_bias(model, dev_examples, refusal_grid)
    model.spec.refusal_bias = tuning["chosen"]
    decoding = {"refusal_bias": tuning, "copy_numbers": model.copy_numbers, "constrained": True}
    model.spec.fallback = None
    if fallback:
        second = PlanTranslator.load(fallback_directory(fallback), model.device)
        fallback_tuning = tune_fallback(model, second, dev_examples, fallback_grid)  # sets the fallback's knobs
        model.spec.fallback = fallback if fallback_tuning["used"] else None
        decoding["fallback"] = {"translator": fallback, **fallback_tuning}
    return decoding
