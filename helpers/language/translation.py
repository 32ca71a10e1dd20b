"""Instructions to plans with a saved translator: loading it (checked), translating a batch, scoring
it on a dataset split, its throughput, and choosing its decoding knobs on the dev splits.

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


def dev_score(model, dev: dict[str, list]) -> dict:
    """Accuracy, refusal and false-refusal rates on each *dev* split (``{name: examples}``), and the
    score decoding knobs are chosen by: the mean over the splits of exact-plan accuracy minus the
    false-refusal rate, so that a false refusal counts twice (it is an error, and the one that leaves
    the user nothing to act on: a wrong plan at least shows what was understood). Both kinds of
    wording count: a knob that rescues new wording by overriding refusals of the training wording
    ("flip the pancake") has to pay for it."""
    row, scores = {}, []
    for name, examples in dev.items():
        report = split_report(model, examples)
        row[name] = {k: report[k] for k in ("accuracy", "refusal_rate", "false_refusal_rate")}
        scores.append(report["accuracy"] - report["false_refusal_rate"])
    return {"score": round(sum(scores) / len(scores), 6), **row}


def _tuning(dev: dict[str, list], rows: list[dict], **chosen) -> dict:
    return {"split": "+".join(dev), "n": {name: len(examples) for name, examples in dev.items()}, "grid": rows, **chosen,
            "criterion": "mean over the dev splits of accuracy - false_refusal_rate"}


def tune_refusal_bias(model: PlanTranslator, dev: dict[str, list], grid: list[float]) -> dict:
    """The refusal bias with the best :func:`dev_score` on the dev splits (ties: the smallest bias in
    size). The test splits are never looked at here."""
    rows = []
    for bias in grid:
        model.spec.refusal_bias = bias
        rows.append({"bias": bias, **dev_score(model, dev)})
    best = max(rows, key=lambda r: (r["score"], -abs(r["bias"])))
    return _tuning(dev, rows, chosen=best["bias"])


def tune_fallback(model: PlanTranslator, fallback: PlanTranslator, dev: dict[str, list], grid: list[float],
                  margins: list[float | None] = (None,)) -> dict:
    """Whether ``fallback`` should answer the clauses ``model`` refuses: no fallback, and every
    (refusal bias of its own, agreement (``TranslatorSpec.fallback_agreement``), refusal margin below
    which it is asked (``TranslatorSpec.fallback_margin``, None: always)) scored by :func:`dev_score`
    on the dev splits (ties: no fallback, then agreement, then the smallest margin, then the largest
    bias: the choices that override a refusal least). Leaves ``model`` with the choice made."""
    model.set_fallback(None)
    rows = [{"bias": None, "agreement": None, "margin": None, **dev_score(model, dev)}]
    for agreement in (True, False):
        for margin in margins:
            for bias in grid:
                model.set_fallback(fallback, bias, agreement, margin)
                rows.append({"bias": bias, "agreement": agreement, "margin": margin, **dev_score(model, dev)})

    def preference(r: dict) -> tuple:
        margin = float("inf") if r["margin"] is None else r["margin"]
        return r["score"], r["bias"] is None, bool(r["agreement"]), -margin, r["bias"] or 0.0

    best = max(rows, key=preference)
    used = best["bias"] is not None
    model.set_fallback(fallback if used else None, best["bias"] or 0.0, bool(best["agreement"]), best["margin"])
    return _tuning(dev, rows, chosen=best["bias"], agreement=bool(best["agreement"]), margin=best["margin"], used=used)


def choose_decoding(model: PlanTranslator, dev: dict[str, list], refusal_grid: list[float], fallback: str | None = None,
                    fallback_grid: list[float] = (), margin_grid: list[float | None] = (None,)) -> dict:
    """The decoding knobs of ``model``, chosen on the dev splits ``dev`` (``{name: examples}``, e.g.
    :func:`helpers.language.instructions.tuning_splits`) and set in its spec: its refusal bias alone
    first (:func:`tune_refusal_bias`), then, given a ``fallback`` (a translator folder under
    pretrained/), whether and when it answers the refused clauses (:func:`tune_fallback`). Every
    clause is decoded once per setting (:meth:`PlanTranslator.memoised`). Returns the card's
    ``decoding`` entry."""
    model.set_fallback(None)
    with model.memoised():
        tuning = tune_refusal_bias(model, dev, refusal_grid)
        model.spec.refusal_bias = tuning["chosen"]
        decoding = {"refusal_bias": tuning, "copy_numbers": model.copy_numbers, "constrained": True}
        model.spec.fallback = None
        if fallback:
            second = PlanTranslator.load(fallback_directory(fallback), model.device)
            with second.memoised():
                fallback_tuning = tune_fallback(model, second, dev, fallback_grid, margin_grid)  # sets the knobs
            model.spec.fallback = fallback if fallback_tuning["used"] else None
            decoding["fallback"] = {"translator": fallback, **fallback_tuning}
    return decoding
