"""Instructions to plans with a saved translator: loading it (checked), translating a batch, and
scoring it on a dataset split.

The pipeline: :func:`helpers.language.text.normalise` (number words, units, durations) ->
:func:`helpers.language.text.split_steps` (clauses in time order) -> the translator model writes plan
text for each clause, decoding constrained to the plan grammar -> the joined text is parsed and
validated against the skill table by :func:`helpers.language.plans.plan_result`. Model text is only
ever parsed, never executed.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from .. import REPO_ROOT
from .plans import UNKNOWN, PlanError, parse_plan, plan_result
from .text import normalise
from .translator import PlanTranslator

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
